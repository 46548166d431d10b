package scheduling

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// NodeReason says why an unschedulable pod cannot go on one existing or in-flight node, as judged
// after every placement of the Plan (so "full" includes the pods the Plan put there).
type NodeReason struct {
	Node     string
	InFlight bool
	Code     ReasonCode
	Message  string
}

// ReasonPlacementOrder: the node could take the pod only because of pods placed after it was
// considered (for example the first pod of a required affinity group elsewhere); the next Solve
// will place it.
const ReasonPlacementOrder ReasonCode = "PlacementOrder"

// NodeSummary condenses Nodes the way the kube-scheduler does in its events, most common reason
// first: "0/3 nodes are available: 2 InsufficientResources, 1 TaintNotTolerated."
func (u Unschedulable) NodeSummary() string {
	counts := map[ReasonCode]int{}
	for _, r := range u.Nodes {
		counts[r.Code]++
	}
	codes := sortedKeys(counts)
	slices.SortStableFunc(codes, func(a, b ReasonCode) int { return cmp.Compare(counts[b], counts[a]) })
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = strconv.Itoa(counts[c]) + " " + string(c)
	}
	out := fmt.Sprintf("0/%d nodes are available", len(u.Nodes))
	if len(parts) > 0 {
		out += ": " + strings.Join(parts, ", ")
	}
	return out + "."
}

// explainNodes says, for every existing and in-flight node, why it cannot take the pod.
func (s *solver) explainNodes(pm *podModel) []NodeReason {
	if pm.err != nil {
		return nil
	}
	attempts := pm.attempts(true)
	var out []NodeReason
	for _, n := range s.nodes {
		if !n.existing {
			continue
		}
		code, msg := s.explainNode(pm, attempts, n)
		out = append(out, NodeReason{Node: n.name, InFlight: n.inFlight, Code: code, Message: msg})
	}
	return out
}

// explainNode checks the rules in the kube-scheduler's filter order (taints, node affinity, host
// ports, resources, volumes, topology) with the pod's most relaxed form, and reports the first
// that fails.
func (s *solver) explainNode(pm *podModel, attempts []attempt, n *simNode) (ReasonCode, string) {
	if taint, repelled := FirstUntolerated(pm.pod.Spec.Tolerations, n.taints, false); repelled {
		return ReasonTaintNotTolerated, fmt.Sprintf("the node has taint %s, which the pod does not tolerate", taintString(taint))
	}
	i := slices.IndexFunc(attempts, func(a attempt) bool { return a.reqs.MatchesLabels(n.labels) == nil })
	if i < 0 {
		return s.explainNodeLabels(pm, n)
	}
	a := &attempts[i]
	if port, conflict := portsConflict(n.ports, pm.ports); conflict {
		return ReasonHostPortConflict, fmt.Sprintf("host port %s is already in use on the node", port)
	}
	if dim, ok := n.used.fitsWith(pm.requests, n.limit); !ok {
		name := s.dims.names[dim]
		return ReasonInsufficientResources, fmt.Sprintf("the pod requests %s %s, the node has %s free of %s allocatable", quantity(name, pm.requests[dim]),
			name, quantity(name, max(n.limit[dim]-n.used[dim], 0)), quantity(name, n.limit[dim]))
	}
	if driver, ok := n.volumes.fits(pm.attachments); !ok {
		return ReasonVolumeAttachLimit, fmt.Sprintf("the node has attached %d of at most %d %s volumes",
			len(n.volumes.attached[driver]), n.volumes.limits[driver], driver)
	}
	if code, msg := s.topologyConflict(pm, a, n); code != "" {
		return code, msg
	}
	return ReasonPlacementOrder, "the node can take the pod only after pods placed later in this plan"
}

// explainNodeLabels names the label that rules the node out: the pod's own selector and affinity,
// else the first volume whose topology the node is outside of.
func (s *solver) explainNodeLabels(pm *podModel, n *simNode) (ReasonCode, string) {
	own := slices.IndexFunc(pm.nodeReqs, func(r Requirements) bool { return r.MatchesLabels(n.labels) == nil })
	if own < 0 {
		inc := pm.nodeReqs[0].MatchesLabels(n.labels)
		return ReasonIncompatibleRequirements, fmt.Sprintf("node label %s is %s, the pod wants %s", inc.Key, inc.Allowed, inc.Wanted)
	}
	for _, vt := range pm.volumes {
		if slices.ContainsFunc(vt.alternatives, func(alt Requirements) bool { return alt.MatchesLabels(n.labels) == nil }) {
			continue
		}
		inc := vt.alternatives[0].MatchesLabels(n.labels)
		return ReasonVolumeTopology, fmt.Sprintf("%s needs %s %s, the node has %s", vt.source, inc.Key, inc.Wanted, inc.Allowed)
	}
	return ReasonIncompatibleRequirements, "the node meets the pod's node affinity and each volume's topology, but no combination of them together"
}
