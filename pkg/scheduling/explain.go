package scheduling

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// plan turns the solver's state into a Plan.
func (s *solver) plan(unplaced []*podModel) Plan {
	var plan Plan
	for _, n := range s.nodes {
		if n.existing {
			for _, key := range n.pods {
				plan.Placements = append(plan.Placements, Placement{Pod: key, Node: n.name, InFlight: n.inFlight})
			}
			continue
		}
		plan.NewNodes = append(plan.NewNodes, s.newNode(n))
	}
	slices.SortFunc(plan.Placements, func(a, b Placement) int { return comparePodKeys(a.Pod, b.Pod) })
	for _, pm := range unplaced {
		plan.Unschedulable = append(plan.Unschedulable, Unschedulable{Pod: pm.key, Reasons: s.explain(pm), Nodes: s.explainNodes(pm)})
	}
	slices.SortFunc(plan.Unschedulable, func(a, b Unschedulable) int { return comparePodKeys(a.Pod, b.Pod) })
	return plan
}

func comparePodKeys(a, b PodKey) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func (s *solver) newNode(n *simNode) NewNode {
	options := make([]InstanceTypeOption, 0, len(n.types))
	for _, t := range n.types {
		options = append(options, InstanceTypeOption{Name: t.it.Name, Price: t.it.Offerings.cheapestAvailablePrice(n.reqs)})
	}
	slices.SortFunc(options, func(a, b InstanceTypeOption) int {
		return cmp.Or(cmp.Compare(a.Price, b.Price), cmp.Compare(a.Name, b.Name))
	})
	if len(options) > s.opts.MaxInstanceTypes {
		options = options[:s.opts.MaxInstanceTypes]
	}
	pods := slices.Clone(n.pods)
	slices.SortFunc(pods, comparePodKeys)
	return NewNode{
		Provisioner:   n.prov.p.Name,
		Requirements:  n.reqs,
		Taints:        n.prov.nodeTaints,
		InstanceTypes: options,
		Pods:          pods,
		PodRequests:   s.dims.list(n.used),
	}
}

// explain says, for each Provisioner, why a fresh node from it cannot take the pod, using the
// pod's most relaxed form (every preference dropped) and the first of its required node affinity
// alternatives (with its volumes' topology) that the Provisioner admits.
func (s *solver) explain(pm *podModel) []Reason {
	if pm.err != nil {
		code := ReasonInvalidPod
		if ve, ok := errors.AsType[*volumeError](pm.err); ok {
			code = ve.code
		}
		return []Reason{{Code: code, Message: pm.err.Error()}}
	}
	if len(s.provs) == 0 {
		return []Reason{{Code: ReasonNoProvisioner, Message: "no Provisioner exists to launch a node"}}
	}
	attempts := pm.attempts(true)
	out := make([]Reason, 0, len(s.provs))
	for _, p := range s.provs {
		code, msg := s.explainProvisioner(pm, attempts, p)
		out = append(out, Reason{Provisioner: p.p.Name, Code: code, Message: msg})
	}
	return out
}

// explainProvisioner explains with the first relaxed alternative the Provisioner admits, or, when
// it admits none, says which requirement of the first one it rejects.
func (s *solver) explainProvisioner(pm *podModel, attempts []attempt, p *provModel) (ReasonCode, string) {
	if taint, repelled := FirstUntolerated(pm.pod.Spec.Tolerations, p.p.Taints, false); repelled {
		return ReasonTaintNotTolerated, fmt.Sprintf("the pod does not tolerate taint %s", taintString(taint))
	}
	i := slices.IndexFunc(attempts, func(a attempt) bool { return p.base.Admits(a.reqs) == nil })
	if i < 0 {
		return s.explainRequirements(pm, &attempts[0], p)
	}
	a := &attempts[i]
	reqs := p.base.Intersect(a.reqs)
	var compatible []*typeModel
	var firstConflict *Incompatibility
	offeringMissing := 0
	for _, t := range p.types {
		if inc := reqs.Intersects(t.reqs); inc != nil {
			if firstConflict == nil {
				firstConflict = inc
			}
			continue
		}
		if !typeAllowed(t, reqs) {
			offeringMissing++
			continue
		}
		compatible = append(compatible, t)
	}
	if len(compatible) == 0 {
		if offeringMissing > 0 {
			return ReasonNoAvailableOffering, fmt.Sprintf("no instance type has an available offering in %s", offeringScope(reqs))
		}
		msg := fmt.Sprintf("none of %d instance types meets the combined requirements", len(p.types))
		if firstConflict != nil {
			msg += fmt.Sprintf(" (for example %s: the node needs %s, the instance type has %s)", firstConflict.Key, firstConflict.Allowed, firstConflict.Wanted)
		}
		return ReasonNoCompatibleInstanceType, msg
	}
	if code, msg := s.explainResources(pm, p, compatible); code != "" {
		return code, msg
	}
	if code, msg := s.explainTopology(pm, a, p, reqs); code != "" {
		return code, msg
	}
	return ReasonInsufficientResources, "the pod fits a fresh node only without its other constraints"
}

// explainRequirements says why the Provisioner's nodes meet none of the pod's alternatives:
// offerings EC2 has none of right now, the pod's own selector and affinity, or a volume's topology.
func (s *solver) explainRequirements(pm *podModel, a *attempt, p *provModel) (ReasonCode, string) {
	if n := typesWithUnavailableOffering(p, a.reqs); n > 0 {
		return ReasonNoAvailableOffering, fmt.Sprintf("no instance type has an available offering in %s: %d instance types offer it, none available now",
			offeringScope(a.reqs), n)
	}
	own := slices.IndexFunc(pm.nodeReqs, func(r Requirements) bool { return p.base.Admits(r) == nil })
	if own < 0 {
		inc := p.base.Admits(pm.nodeReqs[0])
		return ReasonIncompatibleRequirements, fmt.Sprintf("requirement %s: the pod wants %s, the Provisioner allows %s", inc.Key, inc.Wanted, inc.Allowed)
	}
	reqs := p.base.Intersect(pm.nodeReqs[own])
	for _, vt := range pm.volumes {
		if slices.ContainsFunc(vt.alternatives, func(alt Requirements) bool { return reqs.Admits(alt) == nil }) {
			reqs = reqs.Intersect(vt.alternatives[0])
			continue
		}
		inc := reqs.Admits(vt.alternatives[0])
		return ReasonVolumeTopology, fmt.Sprintf("%s needs %s %s, the Provisioner's nodes for this pod allow %s",
			vt.source, inc.Key, inc.Wanted, inc.Allowed)
	}
	inc := p.base.Admits(a.reqs)
	return ReasonIncompatibleRequirements, fmt.Sprintf("requirement %s: the pod and its volumes want %s, the Provisioner allows %s", inc.Key, inc.Wanted, inc.Allowed)
}

// typesWithUnavailableOffering counts the Provisioner's instance types that could meet reqs but for
// their offerings being unavailable (after an insufficient-capacity error, for example).
func typesWithUnavailableOffering(p *provModel, reqs Requirements) int {
	if p.reqs.Intersects(reqs) != nil {
		return 0
	}
	combined := p.reqs.Intersect(reqs)
	n := 0
	for _, it := range p.p.InstanceTypes {
		if combined.Intersects(it.Requirements) != nil {
			continue
		}
		offered, available := false, false
		for _, o := range it.Offerings {
			if o.compatible(combined) {
				offered = true
				available = available || o.Available
			}
		}
		if offered && !available {
			n++
		}
	}
	return n
}

func (s *solver) explainResources(pm *podModel, p *provModel, types []*typeModel) (ReasonCode, string) {
	zero := make(resVec, len(pm.requests))
	var fitting []*typeModel
	for _, t := range types {
		if _, ok := zero.fitsWith(pm.requests, t.available); ok {
			fitting = append(fitting, t)
		}
	}
	if len(fitting) == 0 {
		for i, name := range s.dims.names {
			largest := int64(0)
			for _, t := range types {
				largest = max(largest, t.available[i])
			}
			if pm.requests[i] > largest {
				return ReasonInsufficientResources, fmt.Sprintf("no instance type has enough %s: the pod requests %s, the most any compatible type offers after overhead and DaemonSets is %s",
					name, quantity(name, pm.requests[i]), quantity(name, largest))
			}
		}
		return ReasonInsufficientResources, "no single instance type has enough of all requested resources together"
	}
	for _, t := range fitting {
		if _, ok := p.withinLimits(t.capacity); ok {
			return "", ""
		}
	}
	smallest := fitting[0]
	dim, _ := p.withinLimits(smallest.capacity)
	name := s.dims.names[dim]
	return ReasonLimitExceeded, fmt.Sprintf("limits.resources %s would be exceeded: %s remains, the cheapest fitting instance type %s has %s",
		name, quantity(name, max(p.remaining[dim], 0)), smallest.it.Name, quantity(name, smallest.capacity[dim]))
}

// explainTopology finds the topology rule a fresh node could not satisfy.
func (s *solver) explainTopology(pm *podModel, a *attempt, p *provModel, reqs Requirements) (ReasonCode, string) {
	n := &simNode{index: len(s.nodes), prov: p, reqs: reqs}
	s.setDomains(n)
	return s.topologyConflict(pm, a, n)
}

// topologyConflict finds the first topology rule the pod breaks on n, one rule at a time.
func (s *solver) topologyConflict(pm *podModel, a *attempt, n *simNode) (ReasonCode, string) {
	for _, c := range a.constraints {
		one := attempt{reqs: a.reqs, constraints: []constraint{c}}
		probe := &podModel{pod: pm.pod}
		if code := s.topologyResolved(probe, &one, n); code != "" {
			return code, "cannot satisfy " + c.group.describe()
		}
		if _, code := s.topologyUnresolved(probe, &one, n); code != "" {
			return code, "cannot satisfy " + c.group.describe() + " in any domain the Provisioner offers"
		}
	}
	for _, g := range pm.repelledBy {
		probe := &podModel{pod: pm.pod, repelledBy: []*topoGroup{g}}
		none := attempt{reqs: a.reqs}
		if code := s.topologyResolved(probe, &none, n); code != "" {
			return code, "repelled by the " + g.describe() + " of pods already placed"
		}
		if _, code := s.topologyUnresolved(probe, &none, n); code != "" {
			return code, "repelled in every domain by the " + g.describe() + " of pods already placed"
		}
	}
	return "", ""
}

func offeringScope(reqs Requirements) string {
	scope := ""
	for _, key := range []string{LabelZone, LabelCapacityType} {
		if r, ok := reqs.Get(key); ok {
			if scope != "" {
				scope += " and "
			}
			scope += key + " " + r.String()
		}
	}
	if scope == "" {
		return "any zone"
	}
	return scope
}

func taintString(t v1.Taint) string {
	if t.Value == "" {
		return t.Key + ":" + string(t.Effect)
	}
	return t.Key + "=" + t.Value + ":" + string(t.Effect)
}

func quantity(name v1.ResourceName, milli int64) string {
	if name == v1.ResourceCPU {
		return resource.NewMilliQuantity(milli, resource.DecimalSI).String()
	}
	if name == v1.ResourceMemory || name == v1.ResourceEphemeralStorage {
		return resource.NewQuantity(milli/1000, resource.BinarySI).String()
	}
	return resource.NewQuantity(milli/1000, resource.DecimalSI).String()
}
