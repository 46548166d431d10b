package disruption

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/consolidation"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// Method is a reason to remove nodes; the values are Karpenter v0.31's deprovisioner names,
// which label its metrics.
type Method string

// Methods, in the order a pass tries them.
const (
	MethodEmptiness     Method = "emptiness"
	MethodExpiration    Method = "expiration"
	MethodDrift         Method = "drift"
	MethodConsolidation Method = "consolidation"
)

// command is what one pass decided: launch the replacements, wait until they are initialized,
// then delete the nodes.
type command struct {
	method       Method
	nodes        []*node
	replacements []scheduling.NewNode
	// reason says in words why, for Events and logs; savings is the $/hour the command saves
	// (emptiness and consolidation: expiry and drift replace, whatever the price).
	reason  string
	savings float64
	// validate: check again after the validation delay that the command is still worth it.
	validate bool
	// drifted holds each drifted node's reason code, by node name.
	drifted map[string]string
}

func (c *command) action() string {
	if len(c.replacements) > 0 {
		return "replace"
	}
	return "delete"
}

func (c *command) names() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.node.Name
	}
	return out
}

// Karpenter v0.31 removes every empty node at once, and expired or drifted nodes one at a time;
// these are the caps a method has when the Provisioner sets no budget (negative: none).
const (
	defaultEmptinessCap     = -1
	defaultReplacementCap   = 1
	defaultConsolidationCap = -1
	// maxRelocations bounds the simulations one pass spends on expired or drifted nodes.
	maxRelocations = 20
)

// emptiness deletes nodes that have stayed empty for their Provisioner's ttlSecondsAfterEmpty.
func (c *Controller) emptiness(_ context.Context, v *view) *command {
	cmd := &command{method: MethodEmptiness}
	taken := map[*provisioner]int{}
	eligible := 0
	for _, n := range v.nodes {
		ttl := n.provisioner.Spec.TTLSecondsAfterEmpty
		if ttl == nil || n.disrupting || !n.info.Initialized || n.info.Nominated || n.pods > 0 {
			continue
		}
		since, err := time.Parse(time.RFC3339, n.node.Annotations[v1alpha5.EmptinessTimestampAnnotationKey])
		if err != nil || v.now.Before(since.Add(time.Duration(*ttl)*time.Second)) {
			continue
		}
		eligible++
		if allowed := n.provisioner.allowed(v.now, defaultEmptinessCap); allowed >= 0 && taken[n.provisioner] >= allowed {
			c.blocked(n, MethodEmptiness, budgetReason(n.provisioner, v.now))
			continue
		}
		taken[n.provisioner]++
		cmd.nodes = append(cmd.nodes, n)
		cmd.savings += n.info.Price
	}
	c.metrics.eligible.WithLabelValues(string(MethodEmptiness)).Set(float64(eligible))
	if len(cmd.nodes) == 0 {
		return nil
	}
	cmd.reason = fmt.Sprintf("empty for longer than ttlSecondsAfterEmpty (%d node(s))", len(cmd.nodes))
	return cmd
}

// expiration replaces nodes older than their Provisioner's ttlSecondsUntilExpired, those that
// expired first first.
func (c *Controller) expiration(_ context.Context, v *view) *command {
	var cands []*node
	for _, n := range v.nodes {
		if n.info.ExpiresAt.IsZero() || n.disrupting || !n.info.Initialized || v.now.Before(n.info.ExpiresAt) {
			continue
		}
		cands = append(cands, n)
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].info.ExpiresAt.Before(cands[j].info.ExpiresAt) })
	c.metrics.eligible.WithLabelValues(string(MethodExpiration)).Set(float64(len(cands)))
	cmd := c.replacement(v, MethodExpiration, cands)
	if cmd != nil {
		cmd.reason = fmt.Sprintf("older than ttlSecondsUntilExpired (%d node(s))", len(cmd.nodes))
	}
	return cmd
}

// drift replaces nodes whose launch no longer matches what Kerf would launch now.
func (c *Controller) drift(ctx context.Context, v *view) *command {
	if !c.opts.DriftEnabled {
		return nil
	}
	var cands []*node
	reasons := map[string]string{}
	for _, n := range v.nodes {
		if n.disrupting || !n.info.Initialized || n.machine == nil {
			continue
		}
		if reason := c.drifted(ctx, n); reason != "" {
			reasons[n.node.Name] = reason
			cands = append(cands, n)
		}
	}
	c.metrics.eligible.WithLabelValues(string(MethodDrift)).Set(float64(len(cands)))
	cmd := c.replacement(v, MethodDrift, cands)
	if cmd != nil {
		var why []string
		for _, n := range cmd.nodes {
			why = append(why, n.node.Name+": "+reasons[n.node.Name])
		}
		cmd.reason = "drifted (" + strings.Join(why, ", ") + ")"
		cmd.drifted = reasons
	}
	return cmd
}

// replacement picks, among candidates in order, the largest group each Provisioner's budget
// allows whose pods fit on the other nodes plus new ones, and plans those new nodes.
func (c *Controller) replacement(v *view, method Method, cands []*node) *command {
	inSnapshot := map[string]bool{}
	for _, n := range v.input.Cluster.Nodes {
		inSnapshot[n.Name] = true
	}
	// Every candidate is due to leave: moving a pod onto one would only move it again.
	leaving := make([]string, len(cands))
	for i, n := range cands {
		leaving[i] = n.node.Name
	}
	var group []string
	var chosen []*node
	var plan scheduling.Plan
	taken := map[*provisioner]int{}
	tries := 0
	for _, n := range cands {
		allowed := n.provisioner.allowed(v.now, max(0, defaultReplacementCap-n.provisioner.disrupting))
		switch {
		case taken[n.provisioner] >= allowed:
			if allowed == 0 || len(chosen) == 0 {
				c.blocked(n, method, budgetReason(n.provisioner, v.now))
			}
			continue
		case !inSnapshot[n.node.Name]:
			c.blocked(n, method, blockReason{ReasonCordoned, "the node is cordoned; its pods' new place cannot be planned"})
			continue
		case tries == maxRelocations:
			continue
		}
		tries++
		r := consolidation.Relocate(v.input, append(group, n.node.Name), leaving)
		if r.Blocked.Code != "" {
			c.blocked(n, method, blockReason{string(r.Blocked.Code), r.Blocked.Message})
			continue
		}
		if len(r.Plan.Unschedulable) > len(plan.Unschedulable) {
			// As Karpenter v0.31: a node past its TTL or drifted goes even when some of its
			// pods fit nowhere; they stay pending, with the reason on the node.
			u := r.Plan.Unschedulable[len(r.Plan.Unschedulable)-1]
			c.report(n, "unschedulable/"+string(method), EventPodsWillPend, string(consolidation.ReasonPodsWouldNotFit),
				fmt.Sprintf("Disrupting via %s although %d pod(s) would fit nowhere else, e.g. %s: they will stay pending",
					method, len(r.Plan.Unschedulable)-len(plan.Unschedulable), u.Pod))
		}
		group = append(group, n.node.Name)
		chosen = append(chosen, n)
		plan = r.Plan
		taken[n.provisioner]++
	}
	if len(chosen) == 0 {
		return nil
	}
	return &command{method: method, nodes: chosen, replacements: plan.NewNodes}
}

// consolidation runs the first command of the consolidation engine the budgets allow.
func (c *Controller) consolidation(_ context.Context, v *view) *command {
	enabled := map[string]bool{}
	for _, p := range v.input.Provisioners {
		enabled[p.Name] = p.Enabled
	}
	if !anyTrue(enabled) {
		return nil
	}
	result := consolidation.Evaluate(v.input, v.now)
	byName := map[string]*node{}
	eligible := 0
	for _, n := range v.nodes {
		byName[n.node.Name] = n
		if enabled[n.provisioner.Name] {
			eligible++
		}
	}
	for _, s := range result.Skipped {
		n := byName[s.Node]
		if n == nil || !enabled[n.provisioner.Name] {
			continue
		}
		eligible--
		switch s.Code {
		case consolidation.ReasonDeleting, consolidation.ReasonInFlight, consolidation.ReasonNotInitialized:
			// Passing states, not answers to "why is my node not consolidated?".
		default:
			c.unconsolidatable(n, s)
		}
	}
	c.metrics.eligible.WithLabelValues(string(MethodConsolidation)).Set(float64(eligible))
	for _, cc := range result.Commands {
		cmd := &command{method: MethodConsolidation, reason: cc.Reason, savings: cc.Savings, validate: true}
		for _, name := range cc.Nodes {
			cmd.nodes = append(cmd.nodes, byName[name])
		}
		if cc.Replacement != nil {
			cmd.replacements = []scheduling.NewNode{*cc.Replacement}
		}
		if cc.Method == consolidation.MethodEmpty {
			c.trimToBudgets(v, cmd)
		}
		if len(cmd.nodes) > 0 && c.withinBudgets(v, cmd) {
			return cmd
		}
		if cc.Replacement != nil {
			// The engine planned the later commands with this one's replacement in the
			// cluster, and their pods may be counted on it; without it they do not hold.
			return nil
		}
	}
	return nil
}

// trimToBudgets keeps as many of an empty-node command's nodes as each Provisioner's budget
// allows: empty nodes need no simulation, so any subset of them stands on its own.
func (c *Controller) trimToBudgets(v *view, cmd *command) {
	taken := map[*provisioner]int{}
	kept := cmd.nodes[:0]
	for _, n := range cmd.nodes {
		if allowed := n.provisioner.allowed(v.now, defaultConsolidationCap); allowed >= 0 && taken[n.provisioner] >= allowed {
			c.blocked(n, cmd.method, budgetReason(n.provisioner, v.now))
			continue
		}
		taken[n.provisioner]++
		kept = append(kept, n)
	}
	if len(kept) < len(cmd.nodes) {
		cmd.reason = fmt.Sprintf("%d empty node(s), as many as the disruption budgets allow now", len(kept))
		cmd.savings = 0 // the engine's figure covered every empty node
	}
	cmd.nodes = kept
}

// withinBudgets reports whether every Provisioner's budget allows the command's nodes; nodes of
// a command that does not fit get a blocked Event.
func (c *Controller) withinBudgets(v *view, cmd *command) bool {
	count := map[*provisioner]int{}
	for _, n := range cmd.nodes {
		count[n.provisioner]++
	}
	for p, k := range count {
		if allowed := p.allowed(v.now, defaultConsolidationCap); allowed >= 0 && k > allowed {
			for _, n := range cmd.nodes {
				if n.provisioner == p {
					c.blocked(n, cmd.method, budgetReason(p, v.now))
				}
			}
			return false
		}
	}
	return true
}

// Codes of DeprovisioningBlocked Events besides the consolidation engine's.
const (
	ReasonWindowClosed = "DisruptionWindowClosed"
	ReasonBudgetSpent  = "DisruptionBudgetSpent"
	ReasonCordoned     = "Cordoned"
)

// blockReason is why a node a method wanted stays: a code and the words for it.
type blockReason struct{ code, message string }

func budgetReason(p *provisioner, now time.Time) blockReason {
	if !p.budget.Open(now) {
		return blockReason{ReasonWindowClosed, fmt.Sprintf("provisioner %s's disruption window is closed (%s); it opens at %s",
			p.Name, p.budget, p.budget.NextOpen(now).UTC().Format(time.RFC3339))}
	}
	// No live counts in the words: a message is Evented again only when it changes.
	if !p.budget.capped {
		return blockReason{ReasonBudgetSpent, fmt.Sprintf("provisioner %s is already disrupting as many nodes as this method takes at once without a %s annotation",
			p.Name, BudgetAnnotationKey)}
	}
	return blockReason{ReasonBudgetSpent, fmt.Sprintf("provisioner %s's disruption budget (%s) is spent", p.Name, p.budget)}
}

func anyTrue(m map[string]bool) bool {
	for _, v := range m {
		if v {
			return true
		}
	}
	return false
}
