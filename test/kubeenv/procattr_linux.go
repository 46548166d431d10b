package kubeenv

import "syscall"

// processAttributes puts a child in its own process group and has the kernel kill it when the
// program that started it dies, so an interrupted sandbox or test leaks no process.
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
