//go:build bench

package aws_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/test/awsim"
)

// The budget for building the whole catalog's instance types once EC2 has been described.
const (
	listBudget       = 200 * time.Millisecond
	listBudgetMB     = 50.0
	bytesPerMegabyte = 1 << 20
)

// BenchmarkInstanceTypes_ListWholeCatalogAfterFirstFetch times List with the EC2 answers and the
// prices cached (the fake clock never moves), which is what every scheduling pass pays. It reports
// the time and the bytes allocated per List, and the heap the result holds on to.
func BenchmarkInstanceTypes_ListWholeCatalogAfterFirstFetch(b *testing.B) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC))
	srv, err := awsim.Start("127.0.0.1:0", awsim.Options{Clock: clk, Seed: 42})
	if err != nil {
		b.Fatalf("starting awsim: %v", err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	cfg := srv.AWSConfig()
	ec2c := ec2.NewFromConfig(cfg)
	prices, err := aws.NewPricingProvider(ec2c, pricing.NewFromConfig(cfg), clk, aws.PricingOptions{Region: srv.World.Region()})
	if err != nil {
		b.Fatal(err)
	}
	types, err := aws.NewInstanceTypeProvider(ec2c, prices, clk, 0.075, aws.PodNetworking{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	nodeTemplate := familyTemplate(v1alpha1.AMIFamilyAL2023)
	// The first fetch (EC2, Pricing API, spot history) is outside the timed region.
	first, err := types.List(ctx, nodeTemplate, nil)
	if err != nil {
		b.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var result []*scheduling.InstanceType
	lists := 0
	b.ResetTimer()
	for b.Loop() {
		if result, err = types.List(ctx, nodeTemplate, nil); err != nil {
			b.Fatal(err)
		}
		lists++
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	perList := b.Elapsed() / time.Duration(lists)
	allocMB := float64(after.TotalAlloc-before.TotalAlloc) / float64(lists) / bytesPerMegabyte

	// The heap one result keeps alive: measured with only it reachable.
	first = nil
	result = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	result, err = types.List(ctx, nodeTemplate, nil)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	retainedMB := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / bytesPerMegabyte

	b.ReportMetric(float64(perList.Microseconds())/1000, "ms/list")
	b.ReportMetric(allocMB, "alloc-MB/list")
	b.ReportMetric(retainedMB, "retained-MB")
	b.ReportMetric(float64(len(result)), "types")
	runtime.KeepAlive(result)
	runtime.KeepAlive(first)
	if perList > listBudget || allocMB > listBudgetMB || retainedMB > listBudgetMB {
		b.Errorf("List of %d types: %v, %.1f MB allocated, %.1f MB retained; budget %v and %.0f MB",
			len(result), perList, allocMB, retainedMB, listBudget, listBudgetMB)
	}
}
