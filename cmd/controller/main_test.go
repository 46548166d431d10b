package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/operator"
	"github.com/kerf-autoscaler/kerf/test/awsim"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

var (
	env    *kubeenv.Env
	binary string
	// cloud stands in for AWS so the controller's launches, garbage collection and credential
	// lookups never reach a real account or the instance metadata service.
	cloud *awsim.Running
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kerf-controller")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "controller")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building controller: %v\n%s", err, out)
		return 1
	}
	if env, err = kubeenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if cloud, err = awsim.Start("127.0.0.1:0", awsim.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = cloud.Close() }()
	return m.Run()
}

func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(body), err
}

// controller is a controller process under test, talking to awsim.
type controller struct {
	cmd *exec.Cmd
	// exited is closed once the process has ended; waitErr and logs are complete then.
	exited  chan struct{}
	waitErr error
	logs    bytes.Buffer
}

// startController runs the binary with args and awsim's credentials plus env; it is killed, and
// its logs shown if the test failed, when the test ends.
func startController(t *testing.T, env []string, args ...string) *controller {
	t.Helper()
	c := &controller{cmd: exec.Command(binary, args...), exited: make(chan struct{})}
	c.cmd.Env = append(append(os.Environ(), "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL="+cloud.URL, "AWS_ACCESS_KEY_ID=AKIDAWSIM",
		"AWS_SECRET_ACCESS_KEY=awsim-secret", "AWS_EC2_METADATA_DISABLED=true"), env...)
	c.cmd.Stdout, c.cmd.Stderr = &c.logs, &c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// logs is written by exec's copying goroutines until Wait returns: read it only after exited.
	go func() { c.waitErr = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.exited
		if t.Failed() {
			t.Logf("controller logs:\n%s", c.logs.String())
		}
	})
	return c
}

func TestController_TakesTheLeaseServesProbesAndReleasesTheLeaseOnSIGTERM(t *testing.T) {
	ctx := context.Background()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	metricsPort, healthPort := kubeenv.FreePort(t), kubeenv.FreePort(t)
	c := startController(t, []string{"CLUSTER_NAME=test", fmt.Sprintf("METRICS_PORT=%d", metricsPort), fmt.Sprintf("HEALTH_PROBE_PORT=%d", healthPort)},
		"--kubeconfig="+kubeconfig, "--leader-election-namespace=default")
	cmd, exited := c.cmd, c.exited

	lease := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: "default", Name: operator.LeaderElectionID}
	kubeenv.Eventually(t, 30*time.Second, "taking the lease", func() error {
		if err := env.Client.Get(ctx, key, lease); err != nil {
			return err
		}
		if holder := lease.Spec.HolderIdentity; holder == nil || *holder == "" {
			return fmt.Errorf("lease has no holder")
		}
		return nil
	})
	for _, path := range []string{"/healthz", "/readyz"} {
		kubeenv.Eventually(t, 10*time.Second, "serving "+path, func() error {
			_, err := get(fmt.Sprintf("http://127.0.0.1:%d%s", healthPort, path))
			return err
		})
	}
	kubeenv.Eventually(t, 10*time.Second, "serving metrics", func() error {
		body, err := get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
		if err == nil && !strings.Contains(body, `karpenter_build_info{version="dev"} 1`) {
			err = fmt.Errorf("no karpenter_build_info in /metrics")
		}
		return err
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if c.waitErr != nil {
			t.Fatalf("controller exited with %v after SIGTERM, want 0", c.waitErr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("controller still running 5s after SIGTERM")
	}
	if err := env.Client.Get(ctx, key, lease); err != nil {
		t.Fatal(err)
	}
	if holder := lease.Spec.HolderIdentity; holder != nil && *holder != "" {
		t.Errorf("lease still held by %q after shutdown, want released", *holder)
	}
	// Log pipelines parse every line: client-go's klog output must come through the JSON logger too.
	for _, line := range strings.Split(strings.TrimSpace(c.logs.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
}

func TestController_WithoutAnAWSRegionExitsNamingTheFlag(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	for _, region := range []string{"", "us-east1"} {
		t.Run(region, func(t *testing.T) {
			cmd := exec.Command(binary, "--cluster-name=c", "--kubeconfig="+kubeconfig, "--aws-region="+region)
			// No shared config and an unreachable instance metadata service: nowhere to find a region.
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1"}
			out, err := cmd.CombinedOutput()
			if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() == 0 {
				t.Fatalf("exit %v, want a failure; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), "--aws-region") {
				t.Errorf("output does not name --aws-region:\n%s", out)
			}
		})
	}
}

func TestController_BadFlagExitsTwoNamingTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{args: nil, want: "--cluster-name: required"},
		{args: []string{"--cluster-name=c", "--batch-idle-duration=fast"}, want: "batch-idle-duration"},
		{args: []string{"--cluster-name=c"}, env: []string{"LOG_LEVEL=chatty"}, want: `--log-level: "chatty"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			cmd := exec.Command(binary, tc.args...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tc.env...)
			out, err := cmd.CombinedOutput()
			exit, ok := err.(*exec.ExitError)
			if !ok || exit.ExitCode() != 2 {
				t.Fatalf("exit %v, want status 2; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output does not name the flag %q:\n%s", tc.want, out)
			}
		})
	}
}

// A Karpenter v0.31 install keeps its settings in the karpenter-global-settings ConfigMap: the
// controller starts from it alone, and when someone edits it, stops cleanly so the kubelet starts
// it again with the new settings.
func TestController_RunsOnKarpentersSettingsConfigMapAndRestartsWhenItChanges(t *testing.T) {
	ctx := context.Background()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "karpenter"}}
	settings := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: operator.GlobalSettingsConfigMap},
		Data: map[string]string{"aws.clusterName": "v031", "aws.isolatedVPC": "true", "batchMaxDuration": "15s"}}
	for _, obj := range []client.Object{ns, settings} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	metricsPort, healthPort := kubeenv.FreePort(t), kubeenv.FreePort(t)
	// No CLUSTER_NAME: the ConfigMap names the cluster.
	c := startController(t, []string{fmt.Sprintf("METRICS_PORT=%d", metricsPort), fmt.Sprintf("HEALTH_PROBE_PORT=%d", healthPort)},
		"--kubeconfig="+kubeconfig, "--leader-election-namespace="+ns.Name)
	exited := c.exited
	lease := &coordinationv1.Lease{}
	kubeenv.Eventually(t, 30*time.Second, "taking the lease", func() error {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: operator.LeaderElectionID}, lease)
	})

	settings.Data["batchMaxDuration"] = "20s"
	if err := env.Client.Update(ctx, settings); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if c.waitErr != nil {
			t.Fatalf("controller exited with %v after its settings changed, want 0", c.waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("controller still running 30s after its settings changed")
	}
	if !strings.Contains(c.logs.String(), `"clusterName":"v031"`) || !strings.Contains(c.logs.String(), "stopped to apply changed settings") {
		t.Errorf("logs do not show a start for cluster v031 and a stop for the changed settings:\n%s", c.logs.String())
	}
}
