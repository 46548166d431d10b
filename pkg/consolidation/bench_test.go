//go:build bench

package consolidation

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// BenchmarkConsolidate runs a whole pass (empty, multi-node, single-node) over clusters of n nodes
// of mixed sizes, every node either full (nothing to do: the pass must still look at each) or
// half used (much to save). It reports the commands found and the share of the cluster's $/hour
// they save; the fluid optimum for the half-used cluster is about one half.
func BenchmarkConsolidate(b *testing.B) {
	sizes := []*scheduling.InstanceType{instanceType(1), instanceType(2), instanceType(4), instanceType(8), instanceType(16), instanceType(32)}
	for _, n := range []int{1000, 2000} {
		for _, fill := range []struct {
			name  string
			share int64 // percent of each node's cpu its pods request
		}{{"full", 100}, {"half", 50}} {
			b.Run(fmt.Sprintf("nodes=%d/%s", n, fill.name), func(b *testing.B) {
				c := newCluster(sizes...)
				total := 0.0
				for i := range n {
					it := sizes[2+i%4] // 4 to 32 cpu
					alloc := it.Allocatable()
					cpu := alloc.Cpu().MilliValue() * fill.share / 100
					var ps []*v1.Pod
					for j := int64(0); j < cpu/500; j++ {
						ps = append(ps, pod(fmt.Sprintf("n%d-%d", i, j), "500m"))
					}
					c.node(fmt.Sprintf("node-%05d", i), it, ps)
					total += it.Offerings[0].Price
				}
				var result Result
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					result = Evaluate(c.in, epoch)
				}
				b.StopTimer()
				saved := 0.0
				for _, cmd := range result.Commands {
					saved += cmd.Savings
				}
				b.ReportMetric(float64(len(result.Commands)), "commands")
				b.ReportMetric(saved, "usd/h-saved")
				b.ReportMetric(saved/total, "share-saved")
			})
		}
	}
}
