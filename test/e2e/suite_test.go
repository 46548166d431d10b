//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/test/stack"
)

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's root logger; the stack's own logs go to files.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

// start runs a fresh stack for one test and stops it when the test ends, printing the end of the
// controller's log when the test failed. With KERF_E2E_KEEP=<dir> every process's log stays in
// <dir>/<test name> after the run.
func start(t *testing.T, bootDelay time.Duration, manifests ...string) *stack.Stack {
	t.Helper()
	ctx := context.Background()
	began := time.Now()
	dir := t.TempDir()
	if keep := os.Getenv("KERF_E2E_KEEP"); keep != "" {
		dir = filepath.Join(keep, t.Name())
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	// EC2 is eventually consistent: a new instance stays unknown to its API for up to 3 s.
	s, err := stack.Start(ctx, stack.Options{ClusterName: "kerf-e2e", BootDelay: bootDelay, Dir: dir, VisibilityDelay: 3 * time.Second,
		// Short batch windows keep each scenario quick; the chart's defaults suit real clusters.
		ControllerEnv: []string{"BATCH_IDLE_DURATION=500ms", "BATCH_MAX_DURATION=3s", "DRIFT_ENABLED=true"}})
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(s.LogPath("kerf-controller")); err == nil {
				lines := strings.Split(string(b), "\n")
				t.Logf("last lines of the controller's log:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the stack: %v", err)
		}
	})
	apply(t, s, awsNodeTemplate)
	for _, m := range manifests {
		apply(t, s, m)
	}
	t.Logf("stack ready in %s", time.Since(began).Round(100*time.Millisecond))
	return s
}

// awsNodeTemplate selects awsim's subnets and security groups for the e2e cluster.
const awsNodeTemplate = `
apiVersion: karpenter.k8s.aws/v1alpha1
kind: AWSNodeTemplate
metadata:
  name: default
spec:
  subnetSelector:
    karpenter.sh/discovery: kerf-e2e
  securityGroupSelector:
    karpenter.sh/discovery: kerf-e2e
`

func apply(t *testing.T, s *stack.Stack, manifest string) {
	t.Helper()
	if _, err := stack.Apply(context.Background(), s.Env, strings.NewReader(manifest)); err != nil {
		t.Fatal(err)
	}
}

// seedProvisioner reads examples/provisioner.yaml, the Provisioner a new user starts from.
func seedProvisioner(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "provisioner.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// workload describes a Deployment of pause pods.
type workload struct {
	name         string
	replicas     int32
	cpu, memory  string
	gpus         int64
	nodeSelector map[string]string
	tolerations  []corev1.Toleration
	spread       bool // DoNotSchedule spread across the three zones
	onePerNode   bool // required anti-affinity with itself on the hostname: at most one pod per node
}

// tolerateSeedTaint tolerates the seed Provisioner's karpenter=true:NoSchedule taint.
var tolerateSeedTaint = []corev1.Toleration{{Key: "karpenter", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule}}

func deploy(t *testing.T, s *stack.Stack, w workload) {
	t.Helper()
	labels := map[string]string{"app": w.name}
	requests := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(w.cpu), corev1.ResourceMemory: resource.MustParse(w.memory)}
	limits := corev1.ResourceList{}
	if w.gpus > 0 {
		requests["nvidia.com/gpu"] = *resource.NewQuantity(w.gpus, resource.DecimalSI)
		limits["nvidia.com/gpu"] = *resource.NewQuantity(w.gpus, resource.DecimalSI)
	}
	spec := corev1.PodSpec{
		TerminationGracePeriodSeconds: ptr.To[int64](0),
		NodeSelector:                  w.nodeSelector,
		Tolerations:                   w.tolerations,
		Containers: []corev1.Container{{Name: "pause", Image: "registry.k8s.io/pause:3.10",
			Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}},
	}
	if w.spread {
		// minDomains: the kube-scheduler counts only zones that have a node already, so without it
		// the first node to register takes every pod while the others boot.
		spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone,
			MinDomains: ptr.To[int32](3), WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: labels}}}
	}
	if w.onePerNode {
		spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: labels}}}}}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(w.replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}},
	}
	if err := s.Env.Client.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

// pods lists the pods of a workload.
func pods(t *testing.T, s *stack.Stack, app string) []corev1.Pod {
	t.Helper()
	list := &corev1.PodList{}
	if err := s.Env.Client.List(context.Background(), list, client.InNamespace("default"), client.MatchingLabels{"app": app}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// waitRunning waits until want pods of app run, and returns them.
func waitRunning(t *testing.T, s *stack.Stack, app string, want int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var running []corev1.Pod
	eventually(t, s, timeout, fmt.Sprintf("%d pods of %s running", want, app), func() error {
		running = running[:0]
		all := pods(t, s, app)
		for _, p := range all {
			if p.Status.Phase == corev1.PodRunning {
				running = append(running, p)
			}
		}
		if len(running) < want {
			return fmt.Errorf("%d of %d pods running", len(running), len(all))
		}
		return nil
	})
	return running
}

// eventually polls check once a second until it passes, failing the test after timeout; a
// process of the stack that exits fails it at once.
func eventually(t *testing.T, s *stack.Stack, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		for _, p := range s.Processes() {
			if exited := p.Err(); exited != nil {
				t.Fatalf("%s: %v", what, exited)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after %s: %v", what, timeout, err)
		}
		time.Sleep(time.Second)
	}
}

// node returns the Node a pod runs on.
func node(t *testing.T, s *stack.Stack, pod corev1.Pod) *corev1.Node {
	t.Helper()
	n := &corev1.Node{}
	if err := s.Env.Client.Get(context.Background(), client.ObjectKey{Name: pod.Spec.NodeName}, n); err != nil {
		t.Fatal(err)
	}
	return n
}

// machines lists the Machines.
func machines(t *testing.T, s *stack.Stack) []v1alpha5.Machine {
	t.Helper()
	list := &v1alpha5.MachineList{}
	if err := s.Env.Client.List(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// status reads the stack's status or fails the test.
func status(t *testing.T, s *stack.Stack) stack.Status {
	t.Helper()
	st, err := s.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// controllerLog returns the controller's JSON log lines whose message is msg.
func controllerLog(t *testing.T, s *stack.Stack, msg string) []map[string]any {
	t.Helper()
	f, err := os.Open(s.LogPath("kerf-controller"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		line := map[string]any{}
		if json.Unmarshal(scanner.Bytes(), &line) == nil && line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out
}

// podEvents returns the messages of the Events about a pod.
func podEvents(t *testing.T, s *stack.Stack, pod corev1.Pod) []string {
	t.Helper()
	list := &corev1.EventList{}
	if err := s.Env.Client.List(context.Background(), list, client.InNamespace(pod.Namespace)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == pod.Name {
			out = append(out, e.Message)
		}
	}
	return out
}
