package scheduling

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Test builders. Each returns a fresh value so tables never share state.

type podOption func(*v1.Pod)

func makePod(name, cpu, memory string, opts ...podOption) *v1.Pod {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "main", Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(memory)},
		}}}},
	}
	for _, o := range opts {
		o(pod)
	}
	return pod
}

func withLabels(kv ...string) podOption {
	return func(p *v1.Pod) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withNodeSelector(kv ...string) podOption {
	return func(p *v1.Pod) {
		if p.Spec.NodeSelector == nil {
			p.Spec.NodeSelector = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Spec.NodeSelector[kv[i]] = kv[i+1]
		}
	}
}

func withTolerations(ts ...v1.Toleration) podOption {
	return func(p *v1.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, ts...) }
}

func withRequest(name v1.ResourceName, q string) podOption {
	return func(p *v1.Pod) { p.Spec.Containers[0].Resources.Requests[name] = resource.MustParse(q) }
}

func withHostPort(port int32) podOption {
	return func(p *v1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, v1.ContainerPort{ContainerPort: port, HostPort: port})
	}
}

func withSpread(key string, maxSkew int32, when v1.UnsatisfiableConstraintAction, selector map[string]string) podOption {
	return func(p *v1.Pod) {
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, v1.TopologySpreadConstraint{
			TopologyKey: key, MaxSkew: maxSkew, WhenUnsatisfiable: when,
			LabelSelector: &metav1.LabelSelector{MatchLabels: selector},
		})
	}
}

func ensureAffinity(p *v1.Pod) *v1.Affinity {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &v1.Affinity{}
	}
	return p.Spec.Affinity
}

func withPodAffinity(key string, selector map[string]string) podOption {
	return func(p *v1.Pod) {
		a := ensureAffinity(p)
		if a.PodAffinity == nil {
			a.PodAffinity = &v1.PodAffinity{}
		}
		a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
			v1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: selector}})
	}
}

func withAntiAffinity(key string, selector map[string]string) podOption {
	return func(p *v1.Pod) {
		a := ensureAffinity(p)
		if a.PodAntiAffinity == nil {
			a.PodAntiAffinity = &v1.PodAntiAffinity{}
		}
		a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
			v1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: selector}})
	}
}

func withPreferredAntiAffinity(weight int32, key string, selector map[string]string) podOption {
	return func(p *v1.Pod) {
		a := ensureAffinity(p)
		if a.PodAntiAffinity == nil {
			a.PodAntiAffinity = &v1.PodAntiAffinity{}
		}
		a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
			v1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: v1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: selector}}})
	}
}

func withNodeAffinity(terms ...[]v1.NodeSelectorRequirement) podOption {
	return func(p *v1.Pod) {
		a := ensureAffinity(p)
		a.NodeAffinity = &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{}}
		for _, t := range terms {
			a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = append(
				a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms, v1.NodeSelectorTerm{MatchExpressions: t})
		}
	}
}

func withPreferredNodeAffinity(weight int32, reqs ...v1.NodeSelectorRequirement) podOption {
	return func(p *v1.Pod) {
		a := ensureAffinity(p)
		if a.NodeAffinity == nil {
			a.NodeAffinity = &v1.NodeAffinity{}
		}
		a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
			v1.PreferredSchedulingTerm{Weight: weight, Preference: v1.NodeSelectorTerm{MatchExpressions: reqs}})
	}
}

var testZones = []string{"zone-a", "zone-b", "zone-c"}

// makeInstanceType builds a type with cpu cores, memory GiB, priced per core, offered on demand in
// every test zone (and spot when spot is set, at 70%).
func makeInstanceType(name string, cpu, memGiB int64, price float64, spot bool) *InstanceType {
	it := &InstanceType{
		Name:         name,
		Requirements: NewRequirements(In(LabelInstanceType, name), In(LabelArch, "amd64"), In(LabelOS, "linux")),
		Capacity: v1.ResourceList{
			v1.ResourceCPU:    *resource.NewQuantity(cpu, resource.DecimalSI),
			v1.ResourceMemory: *resource.NewQuantity(memGiB<<30, resource.BinarySI),
			v1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
		},
	}
	for _, z := range testZones {
		it.Offerings = append(it.Offerings, Offering{Zone: z, CapacityType: CapacityTypeOnDemand, Price: price, Available: true})
		if spot {
			it.Offerings = append(it.Offerings, Offering{Zone: z, CapacityType: CapacityTypeSpot, Price: price * 0.7, Available: true})
		}
	}
	return it
}

// standardTypes are small, medium and large on-demand types priced by size.
func standardTypes() []*InstanceType {
	return []*InstanceType{
		makeInstanceType("small", 2, 4, 0.1, false),
		makeInstanceType("medium", 4, 8, 0.2, false),
		makeInstanceType("large", 8, 16, 0.4, false),
	}
}

func makeProvisioner(name string, types []*InstanceType) Provisioner {
	return Provisioner{Name: name, InstanceTypes: types}
}

func makeNode(name, zone, cpu, memory string, pods ...*v1.Pod) Node {
	return Node{
		Name:   name,
		Labels: map[string]string{LabelZone: zone, LabelHostname: name},
		Allocatable: v1.ResourceList{
			v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(memory),
			v1.ResourcePods: resource.MustParse("110"),
		},
		Pods: pods,
	}
}

func mustRequirement(t *testing.T, key string, op v1.NodeSelectorOperator, values ...string) Requirement {
	t.Helper()
	r, err := NewRequirement(key, op, values...)
	if err != nil {
		t.Fatalf("NewRequirement(%s %s %v): %v", key, op, values, err)
	}
	return r
}

func nsr(key string, op v1.NodeSelectorOperator, values ...string) v1.NodeSelectorRequirement {
	return v1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

// podNames lists pod names of a new node.
func podNames(keys []PodKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Name
	}
	return out
}

// nodeOfPod maps each pod to "new-<i>" or the existing node's name.
func nodeOfPod(plan Plan) map[string]string {
	out := map[string]string{}
	for i, n := range plan.NewNodes {
		for _, p := range n.Pods {
			out[p.Name] = fmt.Sprintf("new-%d", i)
		}
	}
	for _, pl := range plan.Placements {
		out[pl.Pod.Name] = pl.Node
	}
	return out
}

func zoneOf(n NewNode) string {
	r, ok := n.Requirements.Get(LabelZone)
	if !ok {
		return ""
	}
	vs, _ := r.Values()
	if len(vs) != 1 {
		return fmt.Sprint(vs)
	}
	return vs[0]
}
