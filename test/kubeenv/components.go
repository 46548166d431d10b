package kubeenv

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Component is a control-plane binary that runs beside the API server, from KUBEBUILDER_ASSETS.
type Component string

const (
	// Scheduler binds pods to nodes.
	Scheduler Component = "kube-scheduler"
	// ControllerManager runs only the controllers the local stack needs: Deployments, ReplicaSets,
	// the garbage collector and the disruption controller, which keeps PodDisruptionBudgets'
	// status current for the Eviction API (nodes are kwok's, so no node lifecycle controller).
	ControllerManager Component = "kube-controller-manager"
)

// Options choose what StartWith runs besides etcd and kube-apiserver.
type Options struct {
	// Components to start, in order, once the API server is up.
	Components []Component
	// Assets is the directory of the control-plane binaries; KUBEBUILDER_ASSETS when empty.
	Assets string
	// Dir holds the components' kubeconfig, configuration and logs; a temporary directory when
	// empty.
	Dir string
}

// schedulerConfig raises the scheduler's client limits above their defaults (50 qps), which
// would otherwise make binding hundreds of pods the slowest step of a scale-up.
const schedulerConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 500
  burst: 1000
leaderElection:
  leaderElect: false
`

// startComponents runs each component against the Env's API server and waits for it to be
// healthy.
func (e *Env) startComponents(assets string, opts Options) error {
	if len(opts.Components) == 0 {
		return nil
	}
	dir := opts.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "kubeenv-")
		if err != nil {
			return err
		}
		dir, e.tempDir = tmp, tmp
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "components.kubeconfig")
	if err := e.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	for _, c := range opts.Components {
		args, err := componentArgs(c, dir, kubeconfig)
		if err != nil {
			return err
		}
		logPath := filepath.Join(dir, string(c)+".log")
		log, err := os.Create(logPath)
		if err != nil {
			return err
		}
		p, err := StartProcess(string(c), filepath.Join(assets, string(c)), args, nil, log)
		if err != nil {
			log.Close()
			return err
		}
		e.components = append(e.components, p)
		e.logs = append(e.logs, log)
		if err := waitHealthy(p, args, logPath); err != nil {
			return err
		}
	}
	return nil
}

func componentArgs(c Component, dir, kubeconfig string) ([]string, error) {
	switch c {
	case Scheduler:
		config := filepath.Join(dir, "kube-scheduler.yaml")
		if err := os.WriteFile(config, []byte(fmt.Sprintf(schedulerConfig, kubeconfig)), 0o644); err != nil {
			return nil, err
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		return []string{"--config=" + config, "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port)}, nil
	case ControllerManager:
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		return []string{"--kubeconfig=" + kubeconfig, "--leader-elect=false", "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port),
			"--controllers=deployment-controller,replicaset-controller,garbage-collector-controller,disruption-controller",
			"--kube-api-qps=500", "--kube-api-burst=1000", "--concurrent-replicaset-syncs=10"}, nil
	}
	return nil, fmt.Errorf("unknown component %q", c)
}

// waitHealthy polls the component's /healthz (always allowed without authentication) until it
// answers, or fails with the end of its log when it exits or takes too long.
func waitHealthy(p *Process, args []string, logPath string) error {
	var port string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--secure-port="); ok {
			port = v
		}
	}
	client := &http.Client{Timeout: time.Second, Transport: insecureTransport()}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get("https://127.0.0.1:" + port + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := p.Err(); err != nil {
			return fmt.Errorf("%w\n%s", err, tail(logPath))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after a minute\n%s", p.Name, tail(logPath))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// insecureTransport skips verifying the component's self-signed serving certificate: the
// health check only needs to know it answers.
func insecureTransport() *http.Transport {
	return &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // local health probe
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stopComponents stops the components in reverse order.
func (e *Env) stopComponents() error {
	var errs []error
	for i := len(e.components) - 1; i >= 0; i-- {
		errs = append(errs, e.components[i].Stop(10*time.Second))
	}
	e.components = nil
	for _, l := range e.logs {
		errs = append(errs, l.Close())
	}
	e.logs = nil
	if e.tempDir != "" {
		errs = append(errs, os.RemoveAll(e.tempDir))
	}
	return errors.Join(errs...)
}

// Components returns the running components, in start order.
func (e *Env) Components() []*Process { return e.components }
