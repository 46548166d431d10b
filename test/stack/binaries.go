package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Binaries are the paths of every program the stack runs.
type Binaries struct {
	// ControlPlane is the directory of etcd, kube-apiserver, kube-scheduler and
	// kube-controller-manager (KUBEBUILDER_ASSETS).
	ControlPlane string
	Kwok, Helm   string
	// Controller and AWSIM are built from this checkout.
	Controller, AWSIM string
}

// ErrMissingBinary means a program could not be found or built.
var ErrMissingBinary = errors.New("missing binary")

// FindBinaries runs the repository's install scripts (they return at once when everything is
// cached) and builds the controller and awsim from this checkout into the user cache; Go's build
// cache makes an unchanged rebuild take a second or two.
func FindBinaries(ctx context.Context, progress io.Writer) (Binaries, error) {
	root, err := RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	var b Binaries
	if b.ControlPlane, err = script(ctx, root, "hack/control-plane.sh", progress); err != nil {
		return b, err
	}
	tools, err := script(ctx, root, "hack/tools.sh", progress)
	if err != nil {
		return b, err
	}
	b.Kwok, b.Helm = filepath.Join(tools, "kwok"), filepath.Join(tools, "helm")
	bin := filepath.Join(cacheDir(), "stack")
	b.Controller, b.AWSIM = filepath.Join(bin, "kerf-controller"), filepath.Join(bin, "awsim")
	for _, build := range []struct{ out, pkg string }{{b.Controller, "./cmd/controller"}, {b.AWSIM, "./test/awsim/cmd/awsim"}} {
		start := time.Now()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", build.out, build.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("building %s: %w, %v\n%s", build.pkg, ErrMissingBinary, err, out)
		}
		step(progress, fmt.Sprintf("built %s in %s", build.pkg, time.Since(start).Round(100*time.Millisecond)))
	}
	for _, path := range []string{filepath.Join(b.ControlPlane, "etcd"), filepath.Join(b.ControlPlane, "kube-apiserver"),
		filepath.Join(b.ControlPlane, "kube-scheduler"), filepath.Join(b.ControlPlane, "kube-controller-manager"), b.Kwok, b.Helm} {
		if _, err := os.Stat(path); err != nil {
			return b, fmt.Errorf("%s: %w (hack/control-plane.sh and hack/tools.sh install it)", path, ErrMissingBinary)
		}
	}
	return b, nil
}

// script runs one of the repository's install scripts, which print a directory on stdout and
// their progress on stderr.
func script(ctx context.Context, root, name string, progress io.Writer) (string, error) {
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, name))
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, &stdout, progress
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("running %s: %w, %v", name, ErrMissingBinary, err)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// RepoRoot is the directory of the go.mod above the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory: run from the Kerf checkout")
		}
		dir = parent
	}
}

// cacheDir is where the install scripts cache too.
func cacheDir() string {
	if dir := os.Getenv("XDG_CACHE_HOME"); dir != "" {
		return filepath.Join(dir, "kerf")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "kerf")
}
