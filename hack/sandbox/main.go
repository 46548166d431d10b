// Command sandbox runs Kerf on this machine with no cluster at hand: a real etcd and
// kube-apiserver (the binaries hack/control-plane.sh builds), Kerf's CRDs and the examples/
// manifests, and the controller itself, until Ctrl-C stops everything it started.
//
// It is the first step of the local stack; kube-scheduler, kwok and awsim join it as the
// provisioning path is wired to the AWS provider.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir := filepath.Join(".cache", "sandbox")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	controller := filepath.Join(dir, "kerf-controller")
	say("building the controller")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", controller, "./cmd/controller").CombinedOutput(); err != nil {
		return fmt.Errorf("building controller, %w\n%s", err, out)
	}

	say("starting etcd and kube-apiserver")
	env, err := kubeenv.Start()
	if err != nil {
		return err
	}
	defer func() {
		say("stopping the control plane")
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	kubeconfig, err := filepath.Abs(filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return err
	}
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	if err := applyExamples(ctx, env.Client, "examples"); err != nil {
		return err
	}

	say("starting the Kerf controller (JSON logs follow)")
	cmd := exec.Command(controller, "--kubeconfig="+kubeconfig, "--leader-election-namespace=default")
	cmd.Env = append(os.Environ(), "CLUSTER_NAME=kerf-sandbox")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting controller, %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Printf("\nKerf is running against a local API server.\n  export KUBECONFIG=%s\n  kubectl get provisioners,awsnodetemplates,machines\nCtrl-C stops everything.\n\n", kubeconfig)

	select {
	case err := <-exited:
		return fmt.Errorf("controller exited, %w", err)
	case <-ctx.Done():
	}
	say("stopping the controller")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	return nil
}

// applyExamples creates every manifest in dir, skipping those that already exist.
func applyExamples(ctx context.Context, kube client.Client, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		decoder := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := decoder.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				f.Close()
				return fmt.Errorf("reading %s, %w", file, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := kube.Create(ctx, u); client.IgnoreAlreadyExists(err) != nil {
				f.Close()
				return fmt.Errorf("applying %s %s from %s, %w", u.GetKind(), u.GetName(), file, err)
			}
			say(fmt.Sprintf("applied %s %s", u.GetKind(), u.GetName()))
		}
		f.Close()
	}
	return nil
}

func say(msg string) { fmt.Fprintf(os.Stderr, "sandbox: %s\n", msg) }
