// Command sandbox runs the whole system on this machine with no cluster at hand (test/stack:
// etcd, kube-apiserver, kube-scheduler, kube-controller-manager, kwok, awsim and the Kerf
// controller), applies examples/, scales the inflate Deployment and shows Kerf's progress until
// Ctrl-C stops everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/test/stack"
)

func main() {
	replicas := flag.Int("replicas", envInt("REPLICAS", 10), "replicas of the inflate Deployment once everything runs (env REPLICAS)")
	bootDelay := flag.Duration("boot-delay", 5*time.Second, "how long a simulated instance boots before its Node registers")
	awsimAddr := flag.String("awsim-addr", "127.0.0.1:4566", "listen address of the AWS simulator")
	dir := flag.String("dir", filepath.Join(".cache", "sandbox"), "directory for the kubeconfig and every process's log")
	logs := flag.Bool("controller-logs", false, "print the controller's JSON logs here too (always in <dir>/kerf-controller.log)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := stack.Options{ClusterName: "kerf-sandbox", AWSIMAddr: *awsimAddr, BootDelay: *bootDelay, Dir: *dir, Progress: os.Stderr,
		// Drift is off by default, as in Karpenter v0.31; the sandbox shows it
		// (curl -X POST localhost:4566/_awsim/amis/roll releases a new image).
		ControllerEnv: []string{"DRIFT_ENABLED=true"}}
	if *logs {
		opts.ControllerLog = os.Stderr
	}
	if err := run(ctx, opts, int32(*replicas)); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts stack.Options, replicas int32) (err error) {
	started := time.Now()
	s, err := stack.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		say("stopping everything")
		err = errors.Join(err, s.Stop())
	}()
	root, err := stack.RepoRoot()
	if err != nil {
		return err
	}
	if err := applyExamples(ctx, s, filepath.Join(root, "examples")); err != nil {
		return err
	}
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
	if err := s.Env.Client.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "inflate"}}, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("scaling deployment inflate, %w", err)
	}
	say(fmt.Sprintf("everything runs (started in %s); scaled deployment inflate to %d replicas", time.Since(started).Round(100*time.Millisecond), replicas))
	fmt.Printf("\n  export KUBECONFIG=%s\n  kubectl get pods,machines,nodes -o wide\n  kubectl scale deployment inflate --replicas=30\n  logs: %s\nCtrl-C stops everything.\n\n",
		s.Kubeconfig, filepath.Dir(s.LogPath("kerf-controller")))
	return watch(ctx, s, os.Stdout)
}

// watch prints a progress line whenever the picture changes (and every 30 s regardless), and a
// line for each Machine as it launches, until ctx ends or a process of the stack exits.
func watch(ctx context.Context, s *stack.Stack, out io.Writer) error {
	seen := map[string]bool{}
	var last string
	var lastAt time.Time
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		for _, p := range s.Processes() {
			if p == s.Controller() && p.ExitedCleanly() {
				// It stops to apply changed settings (the karpenter-global-settings ConfigMap);
				// a kubelet would start it again, and so does the sandbox.
				fmt.Fprintf(out, "%s  controller stopped to apply changed settings; starting it again\n", clock())
				if err := s.StartController(ctx); err != nil {
					return err
				}
				continue
			}
			if err := p.Err(); err != nil {
				return fmt.Errorf("%w (see its log under %s)", err, filepath.Dir(s.LogPath(p.Name)))
			}
		}
		st, err := s.Status(ctx)
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(out, "%s  status unavailable: %v\n", clock(), err)
		}
		for _, m := range st.Machines {
			if m.Launched && !seen[m.Name] {
				seen[m.Name] = true
				fmt.Fprintf(out, "%s  machine %s launched: %s %s %s $%.4f/h\n", clock(), m.Name, m.InstanceType, m.Zone, m.CapacityType, m.USDPerHour)
			}
		}
		line := summary(st)
		if err == nil && (line != last || time.Since(lastAt) > 30*time.Second) {
			fmt.Fprintf(out, "%s  %s\n", clock(), line)
			last, lastAt = line, time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func summary(st stack.Status) string {
	launching := 0
	for _, m := range st.Machines {
		if !m.Initialized {
			launching++
		}
	}
	return fmt.Sprintf("pods pending %d running %d | machines %d (%d launching) | nodes ready %d/%d | instances %d | $%.4f/h",
		st.PendingPods, st.RunningPods, len(st.Machines), launching, st.NodesReady, st.Nodes, len(st.Instances), st.USDPerHour)
}

// applyExamples creates every manifest in dir, skipping those that already exist.
func applyExamples(ctx context.Context, s *stack.Stack, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		objects, err := stack.Apply(ctx, s.Env, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("applying %s, %w", file, err)
		}
		names := make([]string, 0, len(objects))
		for _, o := range objects {
			names = append(names, o.GetKind()+" "+o.GetName())
		}
		say(fmt.Sprintf("applied %s: %s", filepath.Base(file), strings.Join(names, ", ")))
	}
	return nil
}

func clock() string { return time.Now().Format("15:04:05") }

func say(msg string) { fmt.Fprintf(os.Stderr, "sandbox: %s\n", msg) }

func envInt(key string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(key), &v); err != nil {
		return def
	}
	return v
}
