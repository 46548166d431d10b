//go:build bench

package scheduling

import (
	"fmt"
	"math/rand/v2"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// Run with: go test -tags bench -run '^$' -bench . -benchmem ./pkg/scheduling/...
// The timed region holds only Solve; the snapshot is built once per size.

func BenchmarkSolveDiverse(b *testing.B) {
	for _, n := range []int{1000, 5000, 20000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			benchmarkSolve(b, diverseSnapshot(n, 400, 42), n)
		})
	}
}

func BenchmarkSolvePreferences(b *testing.B) {
	const n = 4000
	b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
		rng := rand.New(rand.NewPCG(42, 42))
		pick := func(vs []string) string { return vs[rng.IntN(len(vs))] }
		sel := map[string]string{"app": "nginx"}
		pods := make([]*v1.Pod, n)
		for i := range pods {
			pods[i] = makePod(fmt.Sprintf("pref-%d", i), pick(diverseCPU), pick(diverseMemory), withLabels("app", "nginx"),
				withPreferredNodeAffinity(1, nsr(LabelZone, v1.NodeSelectorOpIn, diverseZones[0])),
				withPreferredAntiAffinity(10, LabelZone, sel), withPreferredAntiAffinity(1, LabelHostname, sel))
		}
		snap := Snapshot{Pods: pods, Provisioners: []Provisioner{{Name: "default", InstanceTypes: syntheticTypes(400)}}}
		benchmarkSolve(b, snap, n)
	})
}

func benchmarkSolve(b *testing.B, snap Snapshot, pods int) {
	b.ReportAllocs()
	var plan Plan
	b.ResetTimer()
	for b.Loop() {
		plan = Solve(snap)
	}
	b.StopTimer()
	if len(plan.Unschedulable) > 0 {
		b.Fatalf("%d pods unschedulable, first %+v", len(plan.Unschedulable), plan.Unschedulable[0])
	}
	b.ReportMetric(float64(pods)*float64(b.N)/b.Elapsed().Seconds(), "pods/sec")
	b.ReportMetric(float64(len(plan.NewNodes)), "nodes")
	b.ReportMetric(plan.HourlyPrice(), "usd/hour")
}

// BenchmarkSolveCatalog runs the realistic mix of catalog_test.go over the real EC2 catalog
// (1,345 types, two Provisioners, a DaemonSet).
func BenchmarkSolveCatalog(b *testing.B) {
	const n = 5000
	b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
		benchmarkSolve(b, catalogSnapshot(b, n, 42), n)
	})
}
