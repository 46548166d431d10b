package consolidation

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/kerf-autoscaler/kerf/pkg/podutil"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// deletionCostAnnotation ranks a ReplicaSet's pods for removal; consolidation weighs it too.
const deletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// candidate is a node consolidation may remove.
type candidate struct {
	info  NodeInfo
	node  *scheduling.Node
	pods  []*v1.Pod // the pods a drain would evict
	cost  float64   // disruption cost
	index int       // position in the cluster's node list
}

// candidates splits the cluster's nodes into candidates, sorted by disruption cost, and reasons
// for the rest, sorted by node name.
func candidates(in Input, now time.Time) ([]*candidate, []NodeReason) {
	enabled := map[string]bool{}
	blocked := map[string]string{}
	for _, p := range in.Provisioners {
		enabled[p.Name] = p.Enabled
		blocked[p.Name] = p.Blocked
	}
	infos := map[string]NodeInfo{}
	for _, n := range in.Nodes {
		infos[n.Name] = n
	}
	var out []*candidate
	var skipped []NodeReason
	for i := range in.Cluster.Nodes {
		node := &in.Cluster.Nodes[i]
		info, managed := infos[node.Name]
		c := &candidate{info: info, node: node, index: i}
		if code, msg := c.screen(managed, enabled[info.Provisioner], blocked[info.Provisioner], in.Options, now); code != "" {
			skipped = append(skipped, NodeReason{Node: node.Name, Code: code, Message: msg})
			continue
		}
		if code, msg := c.collectPods(in.Budgets); code != "" {
			skipped = append(skipped, NodeReason{Node: node.Name, Code: code, Message: msg})
			continue
		}
		c.cost = disruptionCost(c.pods, info, now)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *candidate) int {
		return cmp.Or(cmp.Compare(a.cost, b.cost), cmp.Compare(a.info.Name, b.info.Name))
	})
	return out, skipped
}

// screen applies the node-level rules.
func (c *candidate) screen(managed, enabled bool, blocked string, opts Options, now time.Time) (ReasonCode, string) {
	switch {
	case !managed:
		return ReasonNotManaged, "not launched by a Provisioner"
	case c.node.InFlight:
		return ReasonInFlight, "still launching"
	case !enabled:
		return ReasonConsolidationDisabled, "provisioner " + c.info.Provisioner + " does not enable consolidation"
	case c.info.Deleting:
		return ReasonDeleting, "already being deleted"
	case blocked != "":
		return ReasonDisruptionBlocked, blocked
	case !c.info.Initialized:
		return ReasonNotInitialized, "not initialized yet"
	case c.info.DoNotConsolidate:
		return ReasonDoNotConsolidate, "annotated karpenter.sh/do-not-consolidate"
	case c.info.Nominated:
		return ReasonNominated, "a pending pod is nominated to it"
	case opts.MinAge > 0 && now.Sub(c.info.Created) < opts.MinAge:
		return ReasonTooYoung, fmt.Sprintf("younger than %s", opts.MinAge)
	}
	return "", ""
}

// collectPods keeps the pods a drain would evict and refuses a node one of them pins: a pod that
// may not be evicted, or one whose PodDisruptionBudget allows no disruption now. Several pods under
// one budget do not pin the node, as in v0.31: the drain evicts them in turn, as the budget lets it.
func (c *candidate) collectPods(budgets []Budget) (ReasonCode, string) {
	for _, pod := range c.node.Pods {
		if !evicted(pod) {
			continue
		}
		if podutil.DoNotEvict(pod) {
			return ReasonDoNotEvictPod, "pod " + pod.Namespace + "/" + pod.Name + " may not be evicted"
		}
		for i := range budgets {
			if budgets[i].Allowed <= 0 && budgets[i].covers(pod) {
				return ReasonPDBViolation, "pod " + pod.Namespace + "/" + pod.Name + "'s PodDisruptionBudget allows no disruption now"
			}
		}
		c.pods = append(c.pods, pod)
	}
	return "", ""
}

// evicted reports whether draining the node would evict pod: not a DaemonSet or mirror pod,
// not finished, not already going.
func evicted(pod *v1.Pod) bool {
	return !podutil.IsTerminal(pod) && pod.DeletionTimestamp == nil && !podutil.IsMirror(pod) && !podutil.IsOwnedByDaemonSet(pod)
}

// disruptionCost weighs evicting pods from a node: one per pod, more for pods with a higher
// deletion cost or priority, less the closer the node is to expiring anyway.
func disruptionCost(pods []*v1.Pod, info NodeInfo, now time.Time) float64 {
	cost := 0.0
	for _, pod := range pods {
		cost++
		if v, err := strconv.ParseFloat(pod.Annotations[deletionCostAnnotation], 64); err == nil {
			cost += clamp(v/math.Exp2(27), -1, 1)
		}
		if pod.Spec.Priority != nil {
			cost += clamp(float64(*pod.Spec.Priority)/math.Exp2(25), -1, 1)
		}
	}
	if !info.ExpiresAt.IsZero() && info.ExpiresAt.After(info.Created) {
		lifetime := info.ExpiresAt.Sub(info.Created).Seconds()
		cost *= clamp(info.ExpiresAt.Sub(now).Seconds()/lifetime, 0, 1)
	}
	return cost
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
