package scheduling

import (
	"fmt"
	"math/rand/v2"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Workloads shared by the determinism test and the benchmarks (bench_test.go), matching the
// "diverse" workload of BENCHMARKS.md so that figures compare.

var (
	diverseCPU    = []string{"100m", "250m", "500m", "1", "1500m"}
	diverseMemory = []string{"100Mi", "256Mi", "512Mi", "1Gi", "2Gi", "4Gi"}
	diverseValues = []string{"a", "b", "c", "d", "e", "f", "g"}
	diverseZones  = []string{"test-zone-1", "test-zone-2", "test-zone-3"}
)

// syntheticTypes returns n types fake-it-i with i+1 cpu, 2(i+1) GiB, 10(i+1) pods, priced
// 0.1 per cpu plus 0.1 per GB of memory; spot in zones 1-2 and on-demand in zones 1-3.
func syntheticTypes(n int) []*InstanceType {
	out := make([]*InstanceType, n)
	for i := range n {
		cpu, mem := int64(i+1), int64(2*(i+1))<<30
		name := fmt.Sprintf("fake-it-%d", i)
		price := 0.1*float64(cpu) + 0.1*float64(mem)/1e9
		it := &InstanceType{
			Name:         name,
			Requirements: NewRequirements(In(LabelInstanceType, name), In(LabelArch, "amd64"), In(LabelOS, "linux")),
			Capacity: v1.ResourceList{
				v1.ResourceCPU:    *resource.NewQuantity(cpu, resource.DecimalSI),
				v1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
				v1.ResourcePods:   *resource.NewQuantity(10*cpu, resource.DecimalSI),
			},
		}
		for zi, z := range diverseZones {
			if zi < 2 {
				it.Offerings = append(it.Offerings, Offering{Zone: z, CapacityType: CapacityTypeSpot, Price: price, Available: true})
			}
			it.Offerings = append(it.Offerings, Offering{Zone: z, CapacityType: CapacityTypeOnDemand, Price: price, Available: true})
		}
		out[i] = it
	}
	return out
}

// diversePods builds n pods: a fifth each generic, zone spread, hostname spread, zone affinity and
// hostname anti-affinity; the remainder generic.
func diversePods(n int, rng *rand.Rand) []*v1.Pod {
	pick := func(vs []string) string { return vs[rng.IntN(len(vs))] }
	fifth := n / 5
	pods := make([]*v1.Pod, 0, n)
	next := func(kind string, opts ...podOption) {
		name := fmt.Sprintf("%s-%d", kind, len(pods))
		opts = append([]podOption{withLabels("my-label", pick(diverseValues))}, opts...)
		pods = append(pods, makePod(name, pick(diverseCPU), pick(diverseMemory), opts...))
	}
	for range fifth {
		next("zone-spread", withSpread(LabelZone, 1, v1.DoNotSchedule, map[string]string{"my-label": pick(diverseValues)}))
	}
	for range fifth {
		next("host-spread", withSpread(LabelHostname, 1, v1.DoNotSchedule, map[string]string{"my-label": pick(diverseValues)}))
	}
	for range fifth {
		v := pick(diverseValues)
		next("zone-affinity", withLabels("my-affinity", v), withPodAffinity(LabelZone, map[string]string{"my-affinity": v}))
	}
	for range fifth {
		next("anti", withLabels("app", "nginx"), withAntiAffinity(LabelHostname, map[string]string{"app": "nginx"}))
	}
	for len(pods) < n {
		next("generic")
	}
	return pods
}

func diverseSnapshot(n, types int, seed uint64) Snapshot {
	rng := rand.New(rand.NewPCG(seed, seed))
	return Snapshot{
		Pods:         diversePods(n, rng),
		Provisioners: []Provisioner{{Name: "default", InstanceTypes: syntheticTypes(types)}},
	}
}
