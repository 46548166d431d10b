package kubeenv

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// Process is a binary kubeenv or the local stack runs beside the API server. It runs in its own
// process group, so a terminal's Ctrl-C reaches only the program that started it, which then
// stops its processes in order; on Linux it is also killed if that program dies without doing so.
type Process struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// ErrProcessExited means a process ended before it was asked to stop.
var ErrProcessExited = errors.New("process exited")

// StartProcess starts path with args; env is appended to this process's environment; stdout and
// stderr go to out (discarded when nil).
func StartProcess(name, path string, args, env []string, out io.Writer) (*Process, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(cmd.Environ(), env...)
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = processAttributes()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s, %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Err says why the process ended, once Exited is closed.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s %w: %v", p.Name, ErrProcessExited, p.err)
	default:
		return nil
	}
}

// ExitedCleanly reports whether the process has ended with status 0.
func (p *Process) ExitedCleanly() bool {
	select {
	case <-p.done:
		return p.err == nil
	default:
		return false
	}
}

// Stop asks the process group to end with SIGTERM and kills it after grace.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	return p.Kill()
}

// Kill ends the process group at once, as a crash would, and waits for it.
func (p *Process) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s, %w", p.Name, err)
	}
	<-p.done
	return nil
}
