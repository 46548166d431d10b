package cloudprovider_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/fake"
)

func TestMetrics_CountCallsAndErrorsByKind(t *testing.T) {
	registry := prometheus.NewRegistry()
	metrics, err := cloudprovider.NewMetrics(registry)
	if err != nil {
		t.Fatal(err)
	}
	cp := metrics.Decorate(fake.New()) // no instance types: every Create is short of capacity
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

	want := `
# HELP kerf_cloudprovider_errors_total Failed cloud provider calls by provider, method and error kind.
# TYPE kerf_cloudprovider_errors_total counter
kerf_cloudprovider_errors_total{error="insufficient_capacity",method="Create",provider="fake"} 2
kerf_cloudprovider_errors_total{error="machine_not_found",method="Delete",provider="fake"} 1
`
	if err := testutil.GatherAndCompare(registry, strings.NewReader(want), "kerf_cloudprovider_errors_total"); err != nil {
		t.Error(err)
	}
	// One duration series per method called, errors or not.
	if n := testutil.CollectAndCount(registry, "kerf_cloudprovider_duration_seconds"); n != 3 {
		t.Errorf("%d duration series, want 3 (Create, Delete, List)", n)
	}
	if _, err := cloudprovider.NewMetrics(registry); err == nil {
		t.Error("registering the metrics twice succeeded, want an error")
	}
}
