package scheduling

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The real EC2 catalog (testdata/README.md says where it comes from) and a realistic workload over
// it, shared by TestSolve_Catalog* and BenchmarkSolveCatalog.

const labelInstanceCategory = "karpenter.k8s.aws/instance-category"

var catalogZones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

type catalogEntry struct {
	Name               string            `json:"name"`
	VCPU               int64             `json:"vcpu"`
	MemoryMiB          int64             `json:"memoryMiB"`
	ENILimitedPods     int64             `json:"eniLimitedPods"`
	OnDemandUSDPerHour float64           `json:"onDemandUSDPerHour"`
	Labels             map[string]string `json:"labels"`
}

// catalogTypes loads testdata/instance-types.json as InstanceTypes with Karpenter's kube-reserved
// overhead, on-demand offerings at the catalog price and spot offerings at a stable 30-70% of it
// per type and zone, in every zone; one spot offering in fifty is unavailable.
func catalogTypes(tb testing.TB) []*InstanceType {
	tb.Helper()
	data, err := os.ReadFile("testdata/instance-types.json")
	if err != nil {
		tb.Fatalf("reading the catalog: %v", err)
	}
	var entries []catalogEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		tb.Fatalf("decoding the catalog: %v", err)
	}
	out := make([]*InstanceType, 0, len(entries))
	for _, e := range entries {
		reqs := RequirementsFromLabels(e.Labels)
		capacity := v1.ResourceList{
			v1.ResourceCPU:    *resource.NewQuantity(e.VCPU, resource.DecimalSI),
			v1.ResourceMemory: *resource.NewQuantity(e.MemoryMiB<<20, resource.BinarySI),
			v1.ResourcePods:   *resource.NewQuantity(e.ENILimitedPods, resource.DecimalSI),
		}
		if gpus, err := strconv.ParseInt(e.Labels["karpenter.k8s.aws/instance-gpu-count"], 10, 64); err == nil {
			capacity["nvidia.com/gpu"] = *resource.NewQuantity(gpus, resource.DecimalSI)
		}
		it := &InstanceType{Name: e.Name, Requirements: reqs, Capacity: capacity, Overhead: kubeReserved(e.VCPU, e.ENILimitedPods)}
		for _, z := range catalogZones {
			h := fnv.New32a()
			h.Write([]byte(e.Name + "/" + z))
			sum := h.Sum32()
			it.Offerings = append(it.Offerings,
				Offering{Zone: z, CapacityType: CapacityTypeOnDemand, Price: e.OnDemandUSDPerHour, Available: true},
				Offering{Zone: z, CapacityType: CapacityTypeSpot, Price: e.OnDemandUSDPerHour * (0.3 + 0.4*float64(sum%1000)/1000), Available: sum%50 != 0})
		}
		out = append(out, it)
	}
	return out
}

// kubeReserved is the overhead Karpenter's AWS provider assumes: cpu 6% of the first core, 1% of the
// second, 0.5% of the next two and 0.25% of the rest; memory 11 MiB per pod plus 255 MiB; and a
// 100 MiB eviction threshold.
func kubeReserved(vcpu, pods int64) Overhead {
	milli := int64(0)
	for core := int64(1); core <= vcpu; core++ {
		switch {
		case core == 1:
			milli += 60
		case core == 2:
			milli += 10
		case core <= 4:
			milli += 5
		default:
			milli += 2 // 2.5, rounded down
		}
	}
	return Overhead{
		KubeReserved: v1.ResourceList{
			v1.ResourceCPU:    *resource.NewMilliQuantity(milli, resource.DecimalSI),
			v1.ResourceMemory: *resource.NewQuantity((11*pods+255)<<20, resource.BinarySI),
		},
		EvictionThreshold: v1.ResourceList{v1.ResourceMemory: resource.MustParse("100Mi")},
	}
}

// catalogSnapshot is n pods of a realistic mix over the catalog: a general Provisioner (categories
// c, m, r, generation above 2, amd64 or arm64, spot or on-demand) and a tainted GPU Provisioner, and
// a logging DaemonSet on every node.
func catalogSnapshot(tb testing.TB, n int, seed uint64) Snapshot {
	types := catalogTypes(tb)
	gt2, err := NewRequirement("karpenter.k8s.aws/instance-generation", v1.NodeSelectorOpGt, "2")
	if err != nil {
		tb.Fatal(err)
	}
	general := Provisioner{Name: "general", InstanceTypes: types, Requirements: NewRequirements(
		In(labelInstanceCategory, "c", "m", "r"), gt2,
		In(LabelCapacityType, CapacityTypeSpot, CapacityTypeOnDemand), In(LabelArch, "amd64", "arm64"),
	), Defaults: NewRequirements(In(LabelOS, "linux"))}
	gpu := Provisioner{Name: "gpu", Weight: 10, InstanceTypes: types,
		Requirements: NewRequirements(In(labelInstanceCategory, "g"), In(LabelCapacityType, CapacityTypeOnDemand)),
		Defaults:     NewRequirements(In(LabelArch, "amd64"), In(LabelOS, "linux")),
		Taints:       []v1.Taint{{Key: "nvidia.com/gpu", Effect: v1.TaintEffectNoSchedule}}}
	logging := makePod("logging", "100m", "128Mi", withTolerations(v1.Toleration{Operator: v1.TolerationOpExists}))
	logging.Namespace = "kube-system"
	return Snapshot{
		Pods:          catalogPods(n, rand.New(rand.NewPCG(seed, seed))),
		Provisioners:  []Provisioner{general, gpu},
		DaemonSetPods: []*v1.Pod{logging},
	}
}

// catalogPods: 45% generic, 20% zone spread and 10% hostname spread (ten apps each), 10%
// memory-heavy on category r, 5% spot-only, 5% arm64, 4% hostname anti-affinity (twenty apps), 1% GPU.
func catalogPods(n int, rng *rand.Rand) []*v1.Pod {
	pick := func(vs []string) string { return vs[rng.IntN(len(vs))] }
	app := func(prefix string, k int) string { return fmt.Sprintf("%s-%d", prefix, rng.IntN(k)) }
	pods := make([]*v1.Pod, 0, n)
	for i := range n {
		name := fmt.Sprintf("pod-%d", i)
		cpu, mem := pick(diverseCPU), pick(diverseMemory)
		var opts []podOption
		switch share := i % 100; {
		case share < 45:
		case share < 65:
			a := app("zonal", 10)
			opts = append(opts, withLabels("app", a), withSpread(LabelZone, 1, v1.DoNotSchedule, map[string]string{"app": a}))
		case share < 75:
			a := app("spread", 10)
			opts = append(opts, withLabels("app", a), withSpread(LabelHostname, 1, v1.DoNotSchedule, map[string]string{"app": a}))
		case share < 85:
			mem = pick([]string{"8Gi", "16Gi", "32Gi"})
			opts = append(opts, withNodeSelector(labelInstanceCategory, "r"))
		case share < 90:
			opts = append(opts, withNodeSelector(LabelCapacityType, CapacityTypeSpot))
		case share < 95:
			opts = append(opts, withNodeSelector(LabelArch, "arm64"))
		case share < 99:
			a := app("singleton", 20)
			opts = append(opts, withLabels("app", a), withAntiAffinity(LabelHostname, map[string]string{"app": a}))
		default:
			opts = append(opts, withRequest("nvidia.com/gpu", "1"),
				withTolerations(v1.Toleration{Key: "nvidia.com/gpu", Operator: v1.TolerationOpExists}))
		}
		pods = append(pods, makePod(name, cpu, mem, opts...))
	}
	return pods
}

func TestSolve_CatalogPlacesARealisticMixOnAllowedTypes(t *testing.T) {
	snap := catalogSnapshot(t, 600, 42)
	plan := Solve(snap)
	if len(plan.Unschedulable) != 0 {
		t.Fatalf("%d pods unschedulable, first %+v", len(plan.Unschedulable), plan.Unschedulable[0])
	}
	category := map[string]string{}
	for _, it := range snap.Provisioners[0].InstanceTypes {
		r, _ := it.Requirements.Get(labelInstanceCategory)
		vs, _ := r.Values()
		category[it.Name] = strings.Join(vs, "")
	}
	gpuPods := 0
	for i, n := range plan.NewNodes {
		if len(n.InstanceTypes) == 0 || len(n.InstanceTypes) > DefaultMaxInstanceTypes {
			t.Fatalf("node %d lists %d instance types, want 1..%d", i, len(n.InstanceTypes), DefaultMaxInstanceTypes)
		}
		for j, opt := range n.InstanceTypes {
			if j > 0 && opt.Price < n.InstanceTypes[j-1].Price {
				t.Errorf("node %d: %s listed after a dearer type", i, opt.Name)
			}
			want := "cmr"
			if n.Provisioner == "gpu" {
				want = "g"
			}
			if !strings.Contains(want, category[opt.Name]) {
				t.Errorf("node %d of %s lists %s (category %s), outside %q", i, n.Provisioner, opt.Name, category[opt.Name], want)
			}
		}
		if n.Provisioner == "gpu" {
			gpuPods += len(n.Pods)
		}
	}
	if gpuPods != 6 {
		t.Errorf("gpu nodes hold %d pods, want the 6 GPU pods", gpuPods)
	}
}
