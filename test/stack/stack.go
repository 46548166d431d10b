// Package stack starts the whole system on one machine: etcd, kube-apiserver, kube-scheduler,
// kube-controller-manager (Deployments and ReplicaSets only), kwok running the pods of simulated
// nodes, awsim with its simulated kubelet, and the Kerf controller as its own process configured
// as the Helm chart configures it. `make sandbox` and the end-to-end suite both use it, so what a
// person tries and what CI tests are the same system.
//
// It imports the product's packages only to read their types and prices; it must not be imported
// by them.
package stack

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

// Options configure a stack.
type Options struct {
	// ClusterName tags awsim's subnets and security groups and names the cluster to Kerf.
	ClusterName string
	// VisibilityDelay is the longest a new instance stays unknown to EC2's describe, terminate and
	// tag calls (awsim --visibility-delay): EC2's eventual consistency. 0: visible at once.
	VisibilityDelay time.Duration
	// AWSIMAddr is awsim's listen address; a free localhost port when empty.
	AWSIMAddr string
	// BootDelay is how long awsim's instances stay pending before their Node registers.
	BootDelay time.Duration
	// Dir holds the kubeconfig and every process's log; it is created if missing.
	Dir string
	// ControllerEnv is added after the chart's environment, overriding it (e.g. BATCH_IDLE_DURATION).
	ControllerEnv []string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
	// ControllerLog receives the controller's JSON logs as well as its log file; nil: file only.
	ControllerLog io.Writer
}

// Stack is the running system.
type Stack struct {
	Env *kubeenv.Env
	// Kubeconfig is an admin kubeconfig for kubectl and tests.
	Kubeconfig string
	// AWSEndpoint is awsim's URL: the AWS endpoints and, under /_awsim/, its admin API.
	AWSEndpoint string
	// Namespace holds the controller's leader-election Lease and the chart's ServiceAccount.
	Namespace string

	opts          Options
	binaries      Binaries
	awsim         *kubeenv.Process
	kwok          *kubeenv.Process
	controller    *kubeenv.Process
	controllerEnv []string
	logs          []*os.File
	restarts      int
	pricing       pricesOnce
}

// Namespace the chart is "installed" in.
const chartNamespace = "kerf"

// Start builds what is missing and starts every part in order, each healthy before the next. On
// error it stops what it started.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.ClusterName == "" {
		opts.ClusterName = "kerf-sandbox"
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if opts.AWSIMAddr == "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		opts.AWSIMAddr = fmt.Sprintf("127.0.0.1:%d", port)
	} else if err := portFree(opts.AWSIMAddr); err != nil {
		return nil, err
	}
	binaries, err := FindBinaries(ctx, opts.Progress)
	if err != nil {
		return nil, err
	}
	s := &Stack{opts: opts, binaries: binaries, Namespace: chartNamespace}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Stop())
		}
	}()

	step(opts.Progress, "starting etcd, kube-apiserver, kube-scheduler and kube-controller-manager")
	s.Env, err = kubeenv.StartWith(kubeenv.Options{
		Assets:     binaries.ControlPlane,
		Components: []kubeenv.Component{kubeenv.Scheduler, kubeenv.ControllerManager},
		Dir:        filepath.Join(dir, "control-plane"),
	})
	if err != nil {
		return nil, err
	}
	s.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := s.Env.WriteKubeconfig(s.Kubeconfig); err != nil {
		return nil, err
	}
	if err := s.installChartRBAC(ctx); err != nil {
		return nil, err
	}

	step(opts.Progress, "starting kwok")
	kwokConfig := filepath.Join(dir, "kwok.yaml")
	if err := os.WriteFile(kwokConfig, kwokStages, 0o644); err != nil {
		return nil, err
	}
	if s.kwok, err = s.startProcess("kwok", binaries.Kwok, kwokArgs(s.Kubeconfig, kwokConfig), nil, nil); err != nil {
		return nil, err
	}

	step(opts.Progress, "starting awsim with its simulated kubelet on "+opts.AWSIMAddr)
	s.AWSEndpoint = "http://" + opts.AWSIMAddr
	if s.awsim, err = s.startProcess("awsim", binaries.AWSIM, []string{"--addr=" + opts.AWSIMAddr, "--cluster-name=" + opts.ClusterName,
		"--kubeconfig=" + s.Kubeconfig, "--boot-delay=" + opts.BootDelay.String(), "--events-queue=" + InterruptionQueue,
		"--visibility-delay=" + opts.VisibilityDelay.String()}, nil, nil); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, s.awsim, 30*time.Second, func() error {
		resp, err := http.Get(s.AWSEndpoint + "/_awsim/state")
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}); err != nil {
		return nil, fmt.Errorf("waiting for awsim, %w", err)
	}

	controllerKubeconfig := filepath.Join(dir, "controller.kubeconfig")
	if err := s.Env.WriteUserKubeconfig(controllerKubeconfig, serviceAccountUser, serviceAccountGroups...); err != nil {
		return nil, err
	}
	// The chart is given the cluster's name only, as a user would: Kerf asks awsim's EKS for the
	// endpoint and CA of the API server this stack runs, which the simulated nodes join.
	controllerEnv, err := chartEnvironment(ctx, binaries.Helm, opts.ClusterName)
	if err != nil {
		return nil, err
	}
	s.controllerEnv = append(controllerEnv, s.awsEnvironment()...)
	s.controllerEnv = append(s.controllerEnv, "KUBECONFIG="+controllerKubeconfig, "LEADER_ELECTION_NAMESPACE="+chartNamespace)
	s.controllerEnv = append(s.controllerEnv, opts.ControllerEnv...)
	step(opts.Progress, "starting the Kerf controller")
	if err := s.StartController(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// awsEnvironment points the SDK's default chain at awsim, as AWS_ENDPOINT_URL allows, with
// credentials awsim accepts and no instance metadata lookups.
func (s *Stack) awsEnvironment() []string {
	return []string{"AWS_ENDPOINT_URL=" + s.AWSEndpoint, "AWS_REGION=" + awsRegion, "AWS_ACCESS_KEY_ID=AKIDAWSIM",
		"AWS_SECRET_ACCESS_KEY=awsim-secret", "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
}

// InterruptionQueue is the SQS queue awsim sends its EventBridge events to (spot interruption
// warnings, rebalance recommendations, health and state-change events) and the controller reads,
// as the chart's settings.interruptionQueue sets it.
const InterruptionQueue = "kerf-interruption"

// awsRegion is awsim's default region.
const awsRegion = "us-east-1"

// StartController starts the Kerf controller process and waits until it reports ready. Each start
// gets fresh probe ports and appends to the same log.
func (s *Stack) StartController(ctx context.Context) error {
	if s.controller != nil && s.controller.Err() == nil {
		return fmt.Errorf("the controller is already running")
	}
	metrics, err := freePort()
	if err != nil {
		return err
	}
	health, err := freePort()
	if err != nil {
		return err
	}
	env := append(append([]string(nil), s.controllerEnv...), fmt.Sprintf("METRICS_PORT=%d", metrics), fmt.Sprintf("HEALTH_PROBE_PORT=%d", health))
	s.restarts++
	if s.controller, err = s.startProcess("kerf-controller", s.binaries.Controller, nil, env, s.opts.ControllerLog); err != nil {
		return err
	}
	return waitFor(ctx, s.controller, 60*time.Second, func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", health))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %s", resp.Status)
		}
		return nil
	})
}

// KillController ends the controller with SIGKILL, as a crash or an OOM kill would.
func (s *Stack) KillController() error { return s.controller.Kill() }

// Controller is the running controller process.
func (s *Stack) Controller() *kubeenv.Process { return s.controller }

// Processes are the stack's own processes besides the control plane, for a caller watching
// for one that exits.
func (s *Stack) Processes() []*kubeenv.Process {
	var out []*kubeenv.Process
	for _, p := range []*kubeenv.Process{s.kwok, s.awsim, s.controller} {
		if p != nil {
			out = append(out, p)
		}
	}
	return append(out, s.Env.Components()...)
}

// LogPath is the log file of one of the stack's processes (kerf-controller, awsim, kwok).
func (s *Stack) LogPath(name string) string { return filepath.Join(s.opts.Dir, name+".log") }

// Stop stops everything in reverse order of start: the controller first, so it launches nothing
// while the rest goes away.
func (s *Stack) Stop() error {
	var errs []error
	for _, p := range []*kubeenv.Process{s.controller, s.awsim, s.kwok} {
		if p != nil {
			errs = append(errs, p.Stop(10*time.Second))
		}
	}
	if s.Env != nil {
		errs = append(errs, s.Env.Stop())
		s.Env = nil
	}
	for _, l := range s.logs {
		errs = append(errs, l.Close())
	}
	s.logs = nil
	return errors.Join(errs...)
}

// startProcess starts a binary with its output appended to <Dir>/<name>.log (and to also, if set).
func (s *Stack) startProcess(name, path string, args, env []string, also io.Writer) (*kubeenv.Process, error) {
	log, err := os.OpenFile(s.LogPath(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s.logs = append(s.logs, log)
	var out io.Writer = log
	if also != nil {
		out = io.MultiWriter(log, also)
	}
	return kubeenv.StartProcess(name, path, args, env, out)
}

// waitFor polls check until it passes, the process exits, or timeout passes.
func waitFor(ctx context.Context, p *kubeenv.Process, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if exited := p.Err(); exited != nil {
			return exited
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s, %w", p.Name, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ErrPortTaken means a fixed port the stack needs is in use.
var ErrPortTaken = errors.New("port is taken")

func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w (another sandbox still running? `ss -ltnp 'sport = :%s'` shows who), %v", addr, ErrPortTaken, portOf(addr), err)
	}
	return l.Close()
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port, %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func step(w io.Writer, msg string) { fmt.Fprintf(w, "stack: %s\n", msg) }

// kwokStages is kwok's configuration: how it moves the simulated nodes' pods along.
//
//go:embed kwok-stages.yaml
var kwokStages []byte

// kwokArgs has kwok manage only the Nodes awsim's kubelet registers (they carry its annotation)
// and give their pods addresses from a range large enough for thousands of pods.
func kwokArgs(kubeconfig, config string) []string {
	return []string{"--kubeconfig=" + kubeconfig, "--config=" + config, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", "--cidr=10.0.0.0/16"}
}
