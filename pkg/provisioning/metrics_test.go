package provisioning

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/test/metricstest"
)

// metricValue is the gauge or counter value of the first series matching labels; -1 when there is
// none.
func metricValue(t *testing.T, registry prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	if v, ok := metricstest.Value(t, registry, name, labels); ok {
		return v
	}
	return -1
}

func TestProvision_UnschedulablePodsGaugeFollowsTheLastBatch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "gauge", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")})
	for _, tc := range []struct {
		name string
		pods map[string]string // name to cpu; pods not listed are deleted before the batch
		want float64
	}{
		{"two pods over the limit", map[string]string{"big-1": "6", "big-2": "6"}, 2},
		{"one left", map[string]string{"big-1": "6"}, 1},
		{"none pending", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{"big-1", "big-2"} {
				pod := &corev1.Pod{}
				err := env.Client.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: name}, pod)
				switch _, keep := tc.pods[name]; {
				case err != nil && keep:
					f.pendingPod(name, tc.pods[name])
				case err == nil && !keep:
					if err := env.Client.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := f.provision.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			if got := metricValue(t, f.registry, "karpenter_provisioner_unschedulable_pods", nil); got != tc.want {
				t.Errorf("karpenter_provisioner_unschedulable_pods = %v, want %v", got, tc.want)
			}
		})
	}
}

// A pod whose claim does not exist, or can never bind without a class, would not schedule on any
// new node: it gets a Warning saying which claim, and no Machine is launched for it.
func TestProvision_PodsWithUnusableClaimsAreExplainedNotProvisioned(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "claims", nil)
	none := ""
	unbound := &corev1.PersistentVolumeClaim{}
	unbound.Name, unbound.Namespace = "no-class", f.namespace
	unbound.Spec = corev1.PersistentVolumeClaimSpec{
		StorageClassName: &none,
		AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}
	if err := env.Client.Create(ctx, unbound); err != nil {
		t.Fatal(err)
	}
	withClaim := func(claim string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
		}
	}
	f.pendingPod("missing", "1", withClaim("absent"))
	f.pendingPod("unbound", "1", withClaim("no-class"))
	if _, err := f.provision.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.machines()); n != 0 {
		t.Errorf("created %d machines for pods whose claims cannot bind, want 0", n)
	}
	for _, tc := range []struct {
		pod  string
		want []string
	}{
		{"missing", []string{"Warning FailedScheduling", "VolumeNotFound", "PersistentVolumeClaim claims/absent not found"}},
		{"unbound", []string{"Warning FailedScheduling", "VolumeNotBound", "PersistentVolumeClaim claims/no-class has no StorageClass"}},
	} {
		events := f.recorder.about(tc.pod)
		if len(events) != 1 || !containsAll(events[0], tc.want...) {
			t.Errorf("events for pod %s: %q, want one saying %q", tc.pod, events, tc.want)
		}
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// A Provisioner's limits and usage are labelled by resource type as Karpenter v0.31 labelled them,
// in snake case, and a resource that leaves the limits loses its series.
func TestMetrics_ProvisionerResourceTypesInSnakeCase(t *testing.T) {
	registry := prometheus.NewRegistry()
	m, err := NewMetrics(registry)
	if err != nil {
		t.Fatal(err)
	}
	used := corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("50Gi"), "nvidia.com/gpu": resource.MustParse("1")}
	limits := corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("200Gi"), "nvidia.com/gpu": resource.MustParse("4")}
	m.setProvisioner("default", 1, 1, used, limits)
	for _, tc := range []struct {
		metric, resourceType string
		want                 float64
	}{
		{"karpenter_provisioner_usage", "ephemeral_storage", 50 << 30},
		{"karpenter_provisioner_limit", "ephemeral_storage", 200 << 30},
		{"karpenter_provisioner_usage_pct", "ephemeral_storage", 25},
		{"karpenter_provisioner_usage_pct", "nvidia.com/gpu", 25},
	} {
		labels := map[string]string{"provisioner": "default", "resource_type": tc.resourceType}
		if got := metricValue(t, registry, tc.metric, labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.metric, labels, got, tc.want)
		}
	}
	m.setProvisioner("default", 1, 1, used, corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("4")})
	if got := metricValue(t, registry, "karpenter_provisioner_limit", map[string]string{"resource_type": "ephemeral_storage"}); got != -1 {
		t.Errorf("the ephemeral_storage limit left the spec but reads %v", got)
	}
}
