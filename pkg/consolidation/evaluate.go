package consolidation

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/kerf-autoscaler/kerf/pkg/podutil"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

const (
	// maxMultiNodeCandidates bounds the prefix the multi-node search considers, as Karpenter does.
	maxMultiNodeCandidates = 100
	// minSpotReplacementTypes is how many cheaper instance types a spot replacement must have, so
	// it is not the single cheapest, most interrupted pool.
	minSpotReplacementTypes = 15
)

// Evaluate finds the commands worth running on the cluster at now: empty nodes first (all in one
// command), then the largest group of nodes whose pods fit on the rest plus at most one cheaper
// node, then single nodes, each deleted when its pods fit elsewhere or replaced by one cheaper
// node. Every command is checked against the cluster as the earlier ones leave it, so they can
// run in order. Nodes left alone each get a reason.
func Evaluate(in Input, now time.Time) Result {
	e := newEvaluator(in)
	cands, skipped := candidates(in, now)
	var result Result
	var busy []*candidate
	for _, c := range cands {
		if len(c.pods) == 0 {
			e.apply(Command{}, []*candidate{c}, scheduling.Plan{})
			continue
		}
		busy = append(busy, c)
	}
	if empty := len(cands) - len(busy); empty > 0 {
		result.Commands = append(result.Commands, e.emptyCommand(cands))
	}
	if cmd, used := e.multiNode(busy); used > 0 {
		result.Commands = append(result.Commands, cmd)
		busy = busy[used:]
	}
	for _, c := range busy {
		cmd, reason := e.singleNode(c)
		if reason.Code != "" {
			skipped = append(skipped, reason)
			continue
		}
		result.Commands = append(result.Commands, cmd)
	}
	slices.SortFunc(skipped, func(a, b NodeReason) int { return cmp.Compare(a.Node, b.Node) })
	result.Skipped = skipped
	return result
}

// evaluator is the cluster as the commands chosen so far leave it.
type evaluator struct {
	in      Input
	nodes   []scheduling.Node
	removed []bool
	allowed []int32 // disruptions each Budget still allows
	types   []typeBound
	added   int
	// free is each node's free cpu (millicores) and memory (bytes); totalFree their sum over the
	// nodes that stay.
	free      [][2]int64
	totalFree [2]int64
	// view is each node as simulations show it to Solve: folded (see view.go) when fold is set.
	view  []scheduling.Node
	fold  bool
	index map[string]int
}

// typeBound is an instance type's size and cheapest price, for the quick test of whether any
// replacement could be cheaper before running a simulation.
type typeBound struct {
	cpu, memory int64
	price       float64
}

func newEvaluator(in Input) *evaluator {
	e := &evaluator{in: in, nodes: slices.Clone(in.Cluster.Nodes), removed: make([]bool, len(in.Cluster.Nodes))}
	for _, b := range in.Budgets {
		e.allowed = append(e.allowed, b.Allowed)
	}
	e.fold = !anyInteracts(e.nodes)
	e.index = make(map[string]int, len(e.nodes))
	e.view = make([]scheduling.Node, len(e.nodes))
	e.free = make([][2]int64, len(e.nodes))
	for i := range e.nodes {
		e.index[e.nodes[i].Name] = i
		e.view[i] = e.viewOf(i)
		e.free[i] = freeOf(&e.nodes[i])
		e.totalFree[0] += e.free[i][0]
		e.totalFree[1] += e.free[i][1]
	}
	for _, p := range in.Cluster.Provisioners {
		for _, it := range p.InstanceTypes {
			offering, ok := it.Offerings.Available().Cheapest()
			if !ok {
				continue
			}
			alloc := it.Allocatable()
			e.types = append(e.types, typeBound{cpu: alloc.Cpu().MilliValue(), memory: alloc.Memory().Value(), price: offering.Price})
		}
	}
	return e
}

func (e *evaluator) emptyCommand(cands []*candidate) Command {
	cmd := Command{Method: MethodEmpty}
	for _, c := range cands {
		if len(c.pods) == 0 {
			cmd.Nodes = append(cmd.Nodes, c.info.Name)
			cmd.Savings += c.info.Price
		}
	}
	cmd.Reason = fmt.Sprintf("%d empty node(s) cost $%.4f/h", len(cmd.Nodes), cmd.Savings)
	return cmd
}

// multiNode finds the largest prefix (at least two) of the candidates, cheapest to disrupt first,
// that one command can remove, by binary search; it returns how many it used.
func (e *evaluator) multiNode(cands []*candidate) (Command, int) {
	n := min(len(cands), maxMultiNodeCandidates)
	var best Command
	var bestPlan scheduling.Plan
	used := 0
	for lo, hi := 2, n; lo <= hi; {
		mid := (lo + hi) / 2
		deletable, replaceable := e.prospects(cands[:mid])
		if !deletable && !replaceable {
			hi = mid - 1
			continue
		}
		cmd, plan, reason := e.try(cands[:mid], MethodMultiNode, replaceable)
		if reason.Code == "" {
			best, bestPlan, used = cmd, plan, mid
			lo = mid + 1
		} else {
			hi = mid - 1
		}
	}
	if used > 0 {
		e.apply(best, cands[:used], bestPlan)
	}
	return best, used
}

// singleNode deletes or replaces one candidate, or says why not.
func (e *evaluator) singleNode(c *candidate) (Command, NodeReason) {
	group := []*candidate{c}
	deletable, replaceable := e.prospects(group)
	if !deletable && !replaceable {
		return Command{}, NodeReason{Node: c.info.Name, Code: ReasonNotCheaper,
			Message: "the other nodes lack the room for its pods and no cheaper instance type could hold the rest"}
	}
	cmd, plan, reason := e.try(group, MethodDelete, replaceable)
	if reason.Code != "" {
		return Command{}, reason
	}
	e.apply(cmd, group, plan)
	return cmd, NodeReason{}
}

// try simulates removing group and returns the command it would be, or why it is not worth it;
// replaceable says whether a replacement could pay at all (see prospects).
func (e *evaluator) try(group []*candidate, method Method, replaceable bool) (Command, scheduling.Plan, NodeReason) {
	first := group[0].info.Name
	fail := func(code ReasonCode, format string, args ...any) (Command, scheduling.Plan, NodeReason) {
		return Command{}, scheduling.Plan{}, NodeReason{Node: first, Code: code, Message: fmt.Sprintf(format, args...)}
	}
	if pod, ok := e.exceedsBudgets(group); !ok {
		return fail(ReasonPDBViolation, "the PodDisruptionBudget of pod %s is spent by the commands chosen before", pod)
	}
	plan := e.simulate(group, replaceable)
	cmd := Command{Method: method}
	price := 0.0
	allSpot := true
	for _, c := range group {
		cmd.Nodes = append(cmd.Nodes, c.info.Name)
		cmd.Pods += len(e.podsOf(c))
		cmd.DisruptionCost += c.cost
		price += c.info.Price
		allSpot = allSpot && c.info.CapacityType == "spot"
	}
	if len(plan.Unschedulable) > 0 {
		u := plan.Unschedulable[0]
		why := ""
		if len(u.Reasons) > 0 {
			why = ": " + u.Reasons[0].Message
		}
		return fail(ReasonPodsWouldNotFit, "pod %s would fit nowhere else%s", u.Pod, why)
	}
	switch len(plan.NewNodes) {
	case 0:
		if method == MethodDelete {
			cmd.Reason = fmt.Sprintf("its %d pod(s) fit on other nodes", cmd.Pods)
		}
	case 1:
		replacement := plan.NewNodes[0]
		if replacement.Price() >= price {
			return fail(ReasonNotCheaper, "the cheapest replacement, %s at $%.4f/h, is not cheaper than $%.4f/h",
				replacement.InstanceTypes[0].Name, replacement.Price(), price)
		}
		if allSpot && !e.in.Options.SpotToSpot {
			return fail(ReasonSpotToSpot, "replacing spot capacity with a cheaper node is disabled")
		}
		if allSpot && cheaperTypes(replacement, price) < minSpotReplacementTypes {
			return fail(ReasonSpotToSpot, "fewer than %d cheaper instance types to replace spot capacity with", minSpotReplacementTypes)
		}
		if method == MethodMultiNode && replacement.Price() >= maxPrice(group) {
			// Folding nodes onto one as dear as the dearest of them saves no more than deleting
			// the others would, and evicts more pods doing it.
			return fail(ReasonNotCheaper, "the replacement, %s at $%.4f/h, is no cheaper than the dearest of the nodes",
				replacement.InstanceTypes[0].Name, replacement.Price())
		}
		cmd.Replacement = &replacement
		if method == MethodDelete {
			cmd.Method = MethodReplace
		}
		cmd.Reason = fmt.Sprintf("%s at $%.4f/h holds its %d pod(s) for less", replacement.InstanceTypes[0].Name, replacement.Price(), cmd.Pods)
	default:
		return fail(ReasonNotCheaper, "its pods would need %d new nodes", len(plan.NewNodes))
	}
	cmd.Savings = price
	if cmd.Replacement != nil {
		cmd.Savings -= cmd.Replacement.Price()
	}
	if method == MethodMultiNode {
		cmd.Reason = fmt.Sprintf("%d nodes' pods fit elsewhere", len(group))
		if cmd.Replacement != nil {
			cmd.Reason += " and on one " + cmd.Replacement.InstanceTypes[0].Name
		}
	}
	cmd.Reason += fmt.Sprintf(", saving $%.4f/h", cmd.Savings)
	if reason := e.belowThreshold(cmd, group, price); reason != "" {
		return fail(ReasonSavingsBelowThreshold, "%s", reason)
	}
	return cmd, plan, NodeReason{}
}

func maxPrice(group []*candidate) float64 {
	price := 0.0
	for _, c := range group {
		price = max(price, c.info.Price)
	}
	return price
}

func cheaperTypes(n scheduling.NewNode, than float64) int {
	count := 0
	for _, o := range n.InstanceTypes {
		if o.Price < than {
			count++
		}
	}
	return count
}

func (e *evaluator) belowThreshold(cmd Command, group []*candidate, price float64) string {
	opts := e.in.Options
	for _, c := range group {
		for _, p := range e.in.Provisioners {
			if p.Name != c.info.Provisioner {
				continue
			}
			if p.MinSavingsPerPod > 0 {
				opts.MinSavingsPerPod = max(opts.MinSavingsPerPod, p.MinSavingsPerPod)
			}
			if p.MinSavingsPercent > 0 {
				opts.MinSavingsPercent = max(opts.MinSavingsPercent, p.MinSavingsPercent)
			}
		}
	}
	if opts.MinSavingsPerPod > 0 && cmd.Pods > 0 && cmd.Savings/float64(cmd.Pods) < opts.MinSavingsPerPod {
		return fmt.Sprintf("saving $%.4f/h per evicted pod, below the $%.4f/h threshold", cmd.Savings/float64(cmd.Pods), opts.MinSavingsPerPod)
	}
	if opts.MinSavingsPercent > 0 && price > 0 && 100*cmd.Savings/price < opts.MinSavingsPercent {
		return fmt.Sprintf("saving %.1f%%, below the %.1f%% threshold", 100*cmd.Savings/price, opts.MinSavingsPercent)
	}
	return ""
}

// exceedsBudgets names a pod of group whose PodDisruptionBudget the commands chosen so far in
// this pass have spent: that budget lets nothing more go until their drains are done.
func (e *evaluator) exceedsBudgets(group []*candidate) (string, bool) {
	for _, c := range group {
		for _, pod := range e.podsOf(c) {
			for i := range e.in.Budgets {
				if e.allowed[i] <= 0 && e.in.Budgets[i].covers(pod) {
					return pod.Namespace + "/" + pod.Name, false
				}
			}
		}
	}
	return "", true
}

// simulate asks Solve where group's pods would go with group gone; without replaceable, only on
// the nodes that stay.
func (e *evaluator) simulate(group []*candidate, replaceable bool) scheduling.Plan {
	snap := e.in.Cluster
	snap.Pods = nil
	gone := slices.Clone(e.removed)
	for _, c := range group {
		gone[c.index] = true
		snap.Pods = append(snap.Pods, e.podsOf(c)...)
	}
	snap.Nodes = make([]scheduling.Node, 0, len(e.nodes))
	for i := range e.view {
		if !gone[i] {
			snap.Nodes = append(snap.Nodes, e.view[i])
		}
	}
	if !replaceable {
		// No instance type could be cheaper: only a delete can pay, so Solve need not design
		// nodes from every Provisioner's catalog.
		snap.Provisioners = nil
	}
	return scheduling.Solve(snap)
}

func (e *evaluator) viewOf(i int) scheduling.Node {
	if e.fold {
		return folded(e.nodes[i])
	}
	return e.nodes[i]
}

// apply records that cmd removes group: their pods move where plan put them, onto the other
// nodes or onto the replacement, which joins the cluster as an in-flight node with no room left.
func (e *evaluator) apply(cmd Command, group []*candidate, plan scheduling.Plan) {
	moved := map[scheduling.PodKey]*v1.Pod{}
	for _, c := range group {
		for _, pod := range e.podsOf(c) {
			moved[scheduling.PodKey{Namespace: pod.Namespace, Name: pod.Name}] = pod
			for i := range e.in.Budgets {
				if e.in.Budgets[i].covers(pod) {
					e.allowed[i]--
				}
			}
		}
		e.removed[c.index] = true
		e.refreshFree(c.index)
	}
	for _, p := range plan.Placements {
		i, ok := e.index[p.Node]
		if !ok {
			continue
		}
		e.nodes[i].Pods = append(slices.Clip(e.nodes[i].Pods), bound(moved[p.Pod], p.Node))
		e.refreshFree(i)
	}
	if cmd.Replacement != nil {
		e.added++
		name := fmt.Sprintf("consolidation-replacement-%d", e.added)
		node := scheduling.Node{Name: name, Labels: cmd.Replacement.Requirements.Labels(), InFlight: true,
			Allocatable: cmd.Replacement.PodRequests.DeepCopy()}
		for _, key := range cmd.Replacement.Pods {
			node.Pods = append(node.Pods, bound(moved[key], name))
		}
		e.index[name] = len(e.nodes)
		e.nodes = append(e.nodes, node)
		e.removed = append(e.removed, false)
		e.free = append(e.free, [2]int64{})
		e.view = append(e.view, e.viewOf(len(e.nodes)-1))
	}
}

// podsOf returns the pods a drain of c would evict now: its own and those earlier commands
// moved onto it.
func (e *evaluator) podsOf(c *candidate) []*v1.Pod {
	node := &e.nodes[c.index]
	if len(node.Pods) == len(c.node.Pods) {
		return c.pods
	}
	return append(slices.Clone(c.pods), node.Pods[len(c.node.Pods):]...)
}

func bound(pod *v1.Pod, node string) *v1.Pod {
	out := pod.DeepCopy()
	out.Spec.NodeName = node
	return out
}

// prospects are quick necessary conditions for removing group, before any simulation: deletable,
// the free cpu and memory of every other node together hold its pods' requests; replaceable,
// some instance type cheaper than the group is large enough for the part of its pods that room
// cannot take.
func (e *evaluator) prospects(group []*candidate) (deletable, replaceable bool) {
	need := e.requests(group)
	free := e.freeElsewhere(group)
	deletable = free[0] >= need[0] && free[1] >= need[1]
	need[0], need[1] = max(0, need[0]-free[0]), max(0, need[1]-free[1])
	price := 0.0
	for _, c := range group {
		price += c.info.Price
	}
	for _, t := range e.types {
		if t.cpu >= need[0] && t.memory >= need[1] && t.price < price {
			return deletable, true
		}
	}
	return deletable, false
}

// freeElsewhere is the free cpu and memory of every node that stays besides group.
func (e *evaluator) freeElsewhere(group []*candidate) [2]int64 {
	free := e.totalFree
	for _, c := range group {
		free[0] -= e.free[c.index][0]
		free[1] -= e.free[c.index][1]
	}
	return free
}

// freeOf is the cpu and memory a node has left.
func freeOf(n *scheduling.Node) [2]int64 {
	used := requestsOf(n.Pods)
	return [2]int64{max(0, n.Allocatable.Cpu().MilliValue()-used[0]), max(0, n.Allocatable.Memory().Value()-used[1])}
}

// refreshFree recomputes the free room of node i after pods moved onto it or it went.
func (e *evaluator) refreshFree(i int) {
	old := e.free[i]
	now := [2]int64{}
	if !e.removed[i] {
		now = freeOf(&e.nodes[i])
	}
	e.free[i] = now
	e.view[i] = e.viewOf(i)
	e.totalFree[0] += now[0] - old[0]
	e.totalFree[1] += now[1] - old[1]
}

func (e *evaluator) requests(group []*candidate) [2]int64 {
	var out [2]int64
	for _, c := range group {
		r := requestsOf(e.podsOf(c))
		out[0] += r[0]
		out[1] += r[1]
	}
	return out
}

func requestsOf(pods []*v1.Pod) [2]int64 {
	var out [2]int64
	for _, pod := range pods {
		if podutil.IsTerminal(pod) {
			continue
		}
		r := scheduling.PodRequests(pod)
		out[0] += r.Cpu().MilliValue()
		out[1] += r.Memory().Value()
	}
	return out
}
