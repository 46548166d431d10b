package clustermetrics_test

import (
	"context"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/clustermetrics"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
	"github.com/kerf-autoscaler/kerf/test/metricstest"
)

var env *kubeenv.Env

func TestMain(m *testing.M) { os.Exit(kubeenv.Run(m, &env)) }

// A node's allocatable, overhead and the requests and limits of its pods and DaemonSet pods, and
// every pod's state, read as Karpenter v0.31's dashboards read them; a deleted node and its pods
// leave no series behind, and a replica that does not lead publishes nothing.
func TestCollector_NodesAndPodsAsV031PublishedThem(t *testing.T) {
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ip-10-0-1-1.ec2.internal", Labels: map[string]string{
		v1alpha5.ProvisionerNameLabelKey: "default", corev1.LabelTopologyZone: "us-east-1a", corev1.LabelInstanceTypeStable: "m5.large",
		v1alpha5.CapacityTypeLabelKey: "spot", corev1.LabelArchStable: "amd64", v1alpha5.LabelInstanceFamily: "m5"}}}
	if err := env.Client.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	node.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("20Gi")}
	node.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1930m"), corev1.ResourceMemory: resource.MustParse("7Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("18Gi")}
	if err := env.Client.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}
	pod := func(name string, cpu, limit string, daemon bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{NodeName: node.Name,
			Containers: []corev1.Container{{Name: "c", Image: "pause", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(limit)}}}}}}
		if daemon {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "aws-node", UID: "ds-uid", Controller: ptr.To(true)}}
		}
		if name == "" {
			// Not bound yet, asking for the Provisioner by name.
			p.Name, p.Spec.NodeName, p.Spec.NodeSelector = "pending", "", map[string]string{v1alpha5.ProvisionerNameLabelKey: "gpu"}
		}
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pods := []*corev1.Pod{pod("web-1", "250m", "500m", false), pod("web-2", "500m", "1", false), pod("aws-node-x", "25m", "100m", true),
		pod("", "1", "1", false)}

	registry := prometheus.NewRegistry()
	leading := true
	if err := registry.Register(clustermetrics.New(env.Client, func() bool { return leading })); err != nil {
		t.Fatal(err)
	}
	// The node has no kubernetes.io/os label: v0.31 published N/A for a missing well-known label.
	cpu := map[string]string{"node_name": node.Name, "resource_type": "cpu", "provisioner": "default", "provisioner_name": "default",
		"zone": "us-east-1a", "instance_type": "m5.large", "capacity_type": "spot", "arch": "amd64", "instance_family": "m5", "os": "N/A"}
	storage := map[string]string{"node_name": node.Name, "resource_type": "ephemeral_storage"}
	for _, tc := range []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"karpenter_nodes_allocatable", cpu, 1.93},
		{"karpenter_nodes_system_overhead", cpu, 0.07},
		{"karpenter_nodes_total_pod_requests", cpu, 0.75},
		{"karpenter_nodes_total_pod_limits", cpu, 1.5},
		{"karpenter_nodes_total_daemon_requests", cpu, 0.025},
		{"karpenter_nodes_total_daemon_limits", cpu, 0.1},
		{"karpenter_nodes_allocatable", storage, 18 << 30},
		{"karpenter_pods_state", map[string]string{"name": "aws-node-x", "namespace": "default", "owner": "/apis/apps/v1/namespaces/default/daemonsets/aws-node",
			"node": node.Name, "provisioner": "default", "zone": "us-east-1a", "instance_type": "m5.large", "capacity_type": "spot", "arch": "amd64"}, 1},
		{"karpenter_pods_state", map[string]string{"name": "web-1", "owner": "", "node": node.Name}, 1},
		{"karpenter_pods_state", map[string]string{"name": "pending", "node": "", "provisioner": "gpu", "zone": "N/A", "arch": "N/A",
			"capacity_type": "N/A", "instance_type": "N/A"}, 1},
	} {
		if got, ok := metricstest.Value(t, registry, tc.metric, tc.labels); !ok || !near(got, tc.want) {
			t.Errorf("%s%v = %v (present %v), want %v", tc.metric, tc.labels, got, ok, tc.want)
		}
	}

	leading = false
	if n := len(metricstest.Series(t, registry, "karpenter_nodes_allocatable", nil)); n != 0 {
		t.Errorf("a standby replica publishes %d node series, want none", n)
	}
	leading = true
	for _, p := range pods {
		if err := env.Client.Delete(ctx, p, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Client.Delete(ctx, node); err != nil {
		t.Fatal(err)
	}
	for _, metric := range []string{"karpenter_nodes_allocatable", "karpenter_nodes_total_pod_requests", "karpenter_pods_state"} {
		if n := len(metricstest.Series(t, registry, metric, map[string]string{"node_name": node.Name})) +
			len(metricstest.Series(t, registry, metric, map[string]string{"node": node.Name})); n != 0 {
			t.Errorf("%s keeps %d series of the deleted node", metric, n)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
