//go:build !linux

package kubeenv

import "syscall"

// processAttributes puts a child in its own process group; only Linux can also tie its life to
// the program that started it.
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
