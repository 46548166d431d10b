package cloudprovider_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/fake"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/test/metricstest"
)

// Calls and failures read as Karpenter v0.31's dashboards read them: by the calling controller,
// method and provider, failures by v0.31's error names.
func TestMetrics_CountCallsAndErrorsByKind(t *testing.T) {
	registry := prometheus.NewRegistry()
	clk := clocktesting.NewFakeClock(time.Now())
	metrics, err := cloudprovider.NewMetrics(registry, clk)
	if err != nil {
		t.Fatal(err)
	}
	// no instance types: every Create is short of capacity; List takes 2 s
	cp := metrics.Decorate(slowList{CloudProvider: fake.New(), clk: clk, took: 2 * time.Second}, "machine.lifecycle")
	ctx := context.Background()
	for range 2 {
		if _, err := cp.Create(ctx, &v1alpha5.Machine{}); !cloudprovider.IsInsufficientCapacityError(err) {
			t.Fatalf("Create: %v, want insufficient capacity through the decorator", err)
		}
	}
	if err := cp.Delete(ctx, &v1alpha5.Machine{}); !cloudprovider.IsMachineNotFoundError(err) {
		t.Fatalf("Delete: %v, want machine not found", err)
	}
	if _, err := cp.List(ctx); err != nil {
		t.Fatal(err)
	}
	throttled := fake.New()
	throttled.CreateErrors = []error{errors.New("RequestLimitExceeded")}
	if _, err := metrics.Decorate(throttled, "provisioner").Create(ctx, &v1alpha5.Machine{}); err == nil {
		t.Fatal("Create succeeded, want the injected error")
	}

	want := `
# HELP karpenter_cloudprovider_errors_total Failed cloud provider calls by calling controller, method, provider and error kind.
# TYPE karpenter_cloudprovider_errors_total counter
karpenter_cloudprovider_errors_total{controller="machine.lifecycle",error="InsufficientCapacityError",method="Create",provider="fake"} 2
karpenter_cloudprovider_errors_total{controller="machine.lifecycle",error="MachineNotFoundError",method="Delete",provider="fake"} 1
karpenter_cloudprovider_errors_total{controller="provisioner",error="",method="Create",provider="fake"} 1
`
	if err := testutil.GatherAndCompare(registry, strings.NewReader(want), "karpenter_cloudprovider_errors_total"); err != nil {
		t.Error(err)
	}
	// One duration series per method called, errors or not.
	if n := testutil.CollectAndCount(registry, "karpenter_cloudprovider_duration_seconds"); n != 4 {
		t.Errorf("%d duration series, want 4 (Create, Delete, List by one controller, Create by another)", n)
	}
	if got := durationSum(t, registry, "List"); got != 2 {
		t.Errorf("List took %gs by the metric, want the 2s the call took", got)
	}
	if _, err := cloudprovider.NewMetrics(registry, clk); err == nil {
		t.Error("registering the metrics twice succeeded, want an error")
	}
}

// slowList is a cloud whose List takes a while on the test's clock.
type slowList struct {
	cloudprovider.CloudProvider
	clk  *clocktesting.FakeClock
	took time.Duration
}

func (s slowList) List(ctx context.Context) ([]*v1alpha5.Machine, error) {
	s.clk.Step(s.took)
	return s.CloudProvider.List(ctx)
}

// durationSum is the total seconds karpenter_cloudprovider_duration_seconds holds for method.
func durationSum(t *testing.T, registry *prometheus.Registry, method string) float64 {
	t.Helper()
	n, sum := metricstest.Histogram(t, registry, "karpenter_cloudprovider_duration_seconds", map[string]string{"method": method})
	if n == 0 {
		t.Fatalf("no duration recorded for %s", method)
	}
	return sum
}

// The instance types a Provisioner is offered show on a dashboard as v0.31 showed them: vCPUs,
// memory and the price Kerf plans with per zone and capacity type.
func TestMetrics_InstanceTypesAsListed(t *testing.T) {
	registry := prometheus.NewRegistry()
	metrics, err := cloudprovider.NewMetrics(registry, clocktesting.NewFakeClock(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	m5 := &scheduling.InstanceType{Name: "m5.large", Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi")},
		Offerings: scheduling.Offerings{{Zone: "us-east-1a", CapacityType: v1alpha5.CapacityTypeSpot, Price: 0.04, Available: true},
			{Zone: "us-east-1a", CapacityType: v1alpha5.CapacityTypeOnDemand, Price: 0.096, Available: true}}}
	if _, err := metrics.Decorate(fake.New(m5), "state").GetInstanceTypes(context.Background(), &v1alpha5.Provisioner{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"karpenter_cloudprovider_instance_type_cpu_cores", map[string]string{"instance_type": "m5.large"}, 2},
		{"karpenter_cloudprovider_instance_type_memory_bytes", map[string]string{"instance_type": "m5.large"}, 8 << 30},
		{"karpenter_cloudprovider_instance_type_price_estimate", map[string]string{"instance_type": "m5.large", "capacity_type": "spot", "zone": "us-east-1a"}, 0.04},
		{"karpenter_cloudprovider_instance_type_price_estimate", map[string]string{"instance_type": "m5.large", "capacity_type": "on-demand", "zone": "us-east-1a"}, 0.096},
	} {
		if got, ok := metricstest.Value(t, registry, tc.metric, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.metric, tc.labels, got, ok, tc.want)
		}
	}
}
