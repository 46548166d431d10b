package provisioning

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

// newStatusController returns a status controller reading straight from the API server, and the
// registry its metrics land in.
func newStatusController(t *testing.T, kube client.Client) (*StatusController, *prometheus.Registry) {
	t.Helper()
	registry := prometheus.NewRegistry()
	metrics, err := NewMetrics(registry)
	if err != nil {
		t.Fatal(err)
	}
	return NewStatusController(kube, metrics), registry
}

// node creates a Node, labelled as the fixture's Provisioner's when owned, with capacity.
func (f *fixture) node(name string, owned bool, capacity corev1.ResourceList) *corev1.Node {
	f.t.Helper()
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{ProviderID: "fake:///z/" + name}}
	if owned {
		node.Labels = map[string]string{v1alpha5.ProvisionerNameLabelKey: f.provisioner.Name}
	}
	if err := env.Client.Create(ctx, node); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = env.Client.Delete(ctx, node) })
	if capacity != nil {
		node.Status.Capacity = capacity
		if err := env.Client.Status().Update(ctx, node); err != nil {
			f.t.Fatal(err)
		}
	}
	return node
}

// boundPod creates a pod already bound to node.
func (f *fixture) boundPod(name, node string) *corev1.Pod {
	f.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "pause"}}},
	}
	if err := env.Client.Create(context.Background(), pod); err != nil {
		f.t.Fatal(err)
	}
	return pod
}

// finish marks a pod Succeeded.
func (f *fixture) finish(pod *corev1.Pod) {
	f.t.Helper()
	pod.Status.Phase = corev1.PodSucceeded
	if err := env.Client.Status().Update(context.Background(), pod); err != nil {
		f.t.Fatal(err)
	}
}

func TestStatus_ResourcesSumNodesAndLaunchingMachinesOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "status", nil)
	owned := map[string]string{v1alpha5.ProvisionerNameLabelKey: f.provisioner.Name}
	cpu := func(v string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(v)}
	}

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "status-node", Labels: owned}, Spec: corev1.NodeSpec{ProviderID: "fake:///z/i-1"}}
	registered := &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "status-registered", Labels: owned}}
	launching := &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "status-launching", Labels: owned},
		Spec: v1alpha5.MachineSpec{Resources: v1alpha5.ResourceRequirements{Requests: cpu("2")}}}
	for _, obj := range []client.Object{node, registered, launching} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, node) })
	node.Status.Capacity = cpu("4")
	registered.Status = v1alpha5.MachineStatus{ProviderID: "fake:///z/i-1", Capacity: cpu("4")}
	for _, obj := range []client.Object{node, registered} {
		if err := env.Client.Status().Update(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	controller, _ := newStatusController(t, env.Client)
	if _, err := controller.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(f.provisioner)}); err != nil {
		t.Fatal(err)
	}
	got := &v1alpha5.Provisioner{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(f.provisioner), got); err != nil {
		t.Fatal(err)
	}
	// The node's 4 and the launching Machine's requested 2; the registered Machine is its node.
	if used := got.Status.Resources[corev1.ResourceCPU]; used.Cmp(resource.MustParse("6")) != 0 {
		t.Errorf("status.resources.cpu = %s, want 6", used.String())
	}
}

// Each status pass sets the Provisioner's node, pod and limit gauges; a limit taken out of the
// spec, and then the Provisioner itself, take their series with them. -1 is a missing series.
func TestStatus_MetricsFollowNodesPodsAndLimits(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "statusmetrics", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")})
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	node := f.node("statusmetrics-node", true, capacity)
	other := f.node("statusmetrics-other", false, capacity)
	launching := &v1alpha5.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "statusmetrics-launching", Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: f.provisioner.Name}},
		Spec:       v1alpha5.MachineSpec{Resources: v1alpha5.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}},
	}
	if err := env.Client.Create(ctx, launching); err != nil {
		t.Fatal(err)
	}
	f.boundPod("a", node.Name)
	b := f.boundPod("b", node.Name)
	f.finish(f.boundPod("done", node.Name))
	f.boundPod("elsewhere", other.Name)
	f.pendingPod("pending", "1")

	setLimits := func(limits corev1.ResourceList) func() {
		return func() {
			p := &v1alpha5.Provisioner{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(f.provisioner), p); err != nil {
				t.Fatal(err)
			}
			p.Spec.Limits = nil
			if limits != nil {
				p.Spec.Limits = &v1alpha5.Limits{Resources: limits}
			}
			if err := env.Client.Update(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	controller, registry := newStatusController(t, env.Client)
	for _, tc := range []struct {
		name   string
		change func()
		// nodes, pods, cpu and memory usage percentages, cpu usage and limit
		want [6]float64
	}{
		// 6 cpu (the node's 4, the launching Machine's 2) of 8; 8Gi of 32Gi.
		{"limits on cpu and memory", func() {}, [6]float64{1, 2, 75, 25, 6, 8}},
		{"a pod finishes, memory loses its limit", func() {
			f.finish(b)
			setLimits(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")})()
		}, [6]float64{1, 1, 150, -1, 6, 4}},
		{"a zero limit is over when anything is used", setLimits(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0")}), [6]float64{1, 1, math.Inf(1), -1, 6, 0}},
		{"no limits", setLimits(nil), [6]float64{1, 1, -1, -1, 6, -1}},
		{"provisioner deleted", func() {
			if err := env.Client.Delete(ctx, f.provisioner); err != nil {
				t.Fatal(err)
			}
		}, [6]float64{-1, -1, -1, -1, -1, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.change()
			if _, err := controller.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(f.provisioner)}); err != nil {
				t.Fatal(err)
			}
			name := map[string]string{"provisioner": f.provisioner.Name}
			cpu := map[string]string{"provisioner": f.provisioner.Name, "resource_type": "cpu"}
			got := [6]float64{
				metricValue(t, registry, "karpenter_provisioner_nodes", name),
				metricValue(t, registry, "karpenter_provisioner_pods", name),
				metricValue(t, registry, "karpenter_provisioner_usage_pct", cpu),
				metricValue(t, registry, "karpenter_provisioner_usage_pct", map[string]string{"provisioner": f.provisioner.Name, "resource_type": "memory"}),
				metricValue(t, registry, "karpenter_provisioner_usage", cpu),
				metricValue(t, registry, "karpenter_provisioner_limit", cpu),
			}
			if got != tc.want {
				t.Errorf("nodes, pods, cpu and memory usage %%, cpu usage and limit = %v, want %v", got, tc.want)
			}
		})
	}
}

// Through the manager's cache: the pod index is there, and a pod binding to or finishing on one
// of the Provisioner's Nodes moves the pod gauge with no Node or Machine event.
func TestStatus_PodGaugeFollowsPodEventsThroughTheCache(t *testing.T) {
	f := newFixture(t, "statuscache", nil)
	ctx, cancel := context.WithCancel(context.Background())
	m := manage(t, f)
	controller, registry := newStatusController(t, m.mgr.GetClient())
	if err := controller.Register(ctx, m.mgr); err != nil {
		t.Fatal(err)
	}
	m.start(ctx, cancel)
	name := map[string]string{"provisioner": f.provisioner.Name}
	expect := func(what string, nodes, pods float64) {
		t.Helper()
		kubeenv.Eventually(t, 10*time.Second, what, func() error {
			gotNodes, gotPods := metricValue(t, registry, "karpenter_provisioner_nodes", name), metricValue(t, registry, "karpenter_provisioner_pods", name)
			if gotNodes != nodes || gotPods != pods {
				return fmt.Errorf("nodes %v, pods %v; want %v, %v", gotNodes, gotPods, nodes, pods)
			}
			return nil
		})
	}
	node := f.node("statuscache-node", true, nil)
	expect("the node counted", 1, 0)
	pod := f.boundPod("web", node.Name)
	expect("the bound pod counted", 1, 1)
	f.finish(pod)
	expect("the finished pod left out", 1, 0)
}
