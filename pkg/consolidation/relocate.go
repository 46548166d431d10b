package consolidation

import (
	"slices"

	v1 "k8s.io/api/core/v1"

	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// leavingTaint keeps simulated pods off a node that stays for now but is leaving; no pod
// tolerates it, yet the pods already there still count for spread and affinity.
var leavingTaint = v1.Taint{Key: "kerf.sh/simulation-leaving", Effect: v1.TaintEffectNoSchedule}

// Relocation says what removing some nodes takes: where their pods would go (onto the nodes that
// stay, or onto new nodes to launch first), or why the nodes may not go now.
type Relocation struct {
	// Plan places the evicted pods; its NewNodes are the replacements to launch before the nodes
	// are drained, its Unschedulable the pods that would fit nowhere.
	Plan scheduling.Plan
	// Blocked, when its Code is set, is why one of the nodes may not be drained now: a pod that
	// may not be evicted, or a PodDisruptionBudget that allows no more disruptions.
	Blocked NodeReason
	// Pods is how many pods the drain would evict.
	Pods int
}

// Relocate simulates removing the named nodes of in.Cluster for a method that removes nodes
// whatever they cost (expiry, drift): their pods are placed on the other nodes and, where those
// lack room, on new nodes from the Provisioners. Nodes in avoid stay but take no pod: they are
// due to leave too, and a pod moved there would only move again. Nodes not in the cluster are
// ignored.
func Relocate(in Input, names, avoid []string) Relocation {
	if len(avoid) > 0 {
		in.Cluster.Nodes = slices.Clone(in.Cluster.Nodes)
		for i := range in.Cluster.Nodes {
			if n := &in.Cluster.Nodes[i]; slices.Contains(avoid, n.Name) && !slices.Contains(names, n.Name) {
				n.Taints = append(slices.Clip(n.Taints), leavingTaint)
			}
		}
	}
	e := newEvaluator(in)
	infos := map[string]NodeInfo{}
	for _, n := range in.Nodes {
		infos[n.Name] = n
	}
	var group []*candidate
	for _, name := range names {
		i, ok := e.index[name]
		if !ok {
			continue
		}
		c := &candidate{info: infos[name], node: &in.Cluster.Nodes[i], index: i}
		if code, msg := c.collectPods(in.Budgets); code != "" {
			return Relocation{Blocked: NodeReason{Node: name, Code: code, Message: msg}}
		}
		group = append(group, c)
	}
	slices.SortFunc(group, func(a, b *candidate) int { return a.index - b.index })
	out := Relocation{}
	for _, c := range group {
		out.Pods += len(c.pods)
	}
	if out.Pods == 0 {
		return out
	}
	out.Plan = e.simulate(group, true)
	return out
}
