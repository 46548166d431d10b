package scheduling

import (
	"cmp"
	"math"
	"slices"

	v1 "k8s.io/api/core/v1"
)

// simNode is a node during the Solve: existing, in-flight, or planned.
type simNode struct {
	index              int
	name               string
	existing, inFlight bool
	labels             map[string]string
	taints             []v1.Taint
	boundPods          []*v1.Pod
	// used counts requests placed on the node; limit is what it can hold (for a planned node the
	// per-resource maximum over its candidate types, a quick upper bound).
	used, limit resVec
	ports       []hostPort
	volumes     *nodeVolumes // nil when the node's attach limits are unknown
	domains     []int32      // per topology key
	pods        []PodKey

	// Planned nodes only.
	prov   *provModel
	reqs   Requirements
	types  []*typeModel
	maxCap resVec // per-resource maximum capacity over types, reserved against limits
}

func (s *solver) domainOf(n *simNode, k *topoKey) int32 {
	if k.hostname {
		return int32(n.index)
	}
	if n.existing {
		v, ok := n.labels[k.name]
		if !ok {
			return domainAbsent
		}
		return k.id(v)
	}
	r, ok := n.reqs.Get(k.name)
	if !ok {
		return domainAbsent
	}
	vs, finite := r.Values()
	switch {
	case !finite:
		return domainUnresolved
	case len(vs) == 0:
		return domainAbsent
	case len(vs) == 1 && !r.AllowsAbsent():
		return k.id(vs[0])
	default:
		return domainUnresolved
	}
}

func (s *solver) setDomains(n *simNode) {
	n.domains = n.domains[:0]
	for _, k := range s.topo.keys {
		n.domains = append(n.domains, s.domainOf(n, k))
	}
}

// place puts pm on the first node that takes it, relaxing preferences level by level.
func (s *solver) place(pm *podModel) bool {
	s.growthRefused = false
	if s.placeOnce(pm) {
		return true
	}
	if !s.growthRefused {
		return false
	}
	// Keeping nodes off dearer types is a preference: a pod that fits only by growing a planned
	// node onto them (required co-location, a Provisioner limit) still gets its place.
	s.looseGrowth = true
	defer func() { s.looseGrowth = false }()
	return s.placeOnce(pm)
}

func (s *solver) placeOnce(pm *podModel) bool {
	for _, a := range pm.attempts(s.opts.IgnorePreferences) {
		if !satisfiable(a.reqs) {
			continue
		}
		for _, n := range s.nodes {
			if n.existing {
				if s.tryExisting(pm, &a, n) == "" {
					return true
				}
			} else if s.tryPlanned(pm, &a, n) == "" {
				return true
			}
		}
		for _, p := range s.provs {
			if _, code := s.tryNew(pm, &a, p); code == "" {
				return true
			}
		}
	}
	return false
}

func satisfiable(reqs Requirements) bool {
	for _, r := range reqs.byKey {
		if !r.Satisfiable() {
			return false
		}
	}
	return true
}

// tryExisting places pm on an existing or in-flight node if every rule holds; it returns the
// code of the first rule that fails, or "" once placed.
func (s *solver) tryExisting(pm *podModel, a *attempt, n *simNode) ReasonCode {
	if _, ok := n.used.fitsWith(pm.requests, n.limit); !ok {
		return ReasonInsufficientResources
	}
	if _, repelled := FirstUntolerated(pm.pod.Spec.Tolerations, n.taints, a.strictTaints); repelled {
		return ReasonTaintNotTolerated
	}
	if a.reqs.MatchesLabels(n.labels) != nil {
		return ReasonIncompatibleRequirements
	}
	if _, conflict := portsConflict(n.ports, pm.ports); conflict {
		return ReasonHostPortConflict
	}
	if _, ok := n.volumes.fits(pm.attachments); !ok {
		return ReasonVolumeAttachLimit
	}
	if code := s.topologyResolved(pm, a, n); code != "" {
		return code
	}
	s.commit(pm, n)
	return ""
}

// topologyResolved checks the rules on keys where the node's domain is known.
func (s *solver) topologyResolved(pm *podModel, a *attempt, n *simNode) ReasonCode {
	for _, c := range a.constraints {
		d := n.domains[c.group.key.index]
		if d != domainUnresolved && !c.allows(d) {
			return c.reason()
		}
	}
	for _, g := range pm.repelledBy {
		if d := n.domains[g.key.index]; d >= 0 && g.ownerCount(d) > 0 {
			return ReasonPodAntiAffinity
		}
	}
	return ""
}

// topologyUnresolved narrows a planned node's undecided keys to the values every rule allows.
func (s *solver) topologyUnresolved(pm *podModel, a *attempt, n *simNode) (Requirements, ReasonCode) {
	var extra Requirements
	check := func(k *topoKey, allows func(int32) bool, code ReasonCode) ReasonCode {
		if n.domains[k.index] != domainUnresolved {
			return ""
		}
		r, _ := n.reqs.Get(k.name)
		vs, finite := r.Values()
		if !finite {
			return code // an unbounded set of values cannot be balanced or matched
		}
		var kept []string
		for _, v := range vs {
			if allows(k.id(v)) {
				kept = append(kept, v)
			}
		}
		if len(kept) == 0 {
			return code
		}
		if len(kept) < len(vs) {
			extra = extra.With(In(k.name, kept...))
		}
		return ""
	}
	for _, c := range a.constraints {
		if code := check(c.group.key, c.allows, c.reason()); code != "" {
			return extra, code
		}
	}
	for _, g := range pm.repelledBy {
		free := func(d int32) bool { return g.ownerCount(d) == 0 }
		if code := check(g.key, free, ReasonPodAntiAffinity); code != "" {
			return extra, code
		}
	}
	return extra, ""
}

// tryPlanned adds pm to a node planned earlier in this Solve.
func (s *solver) tryPlanned(pm *podModel, a *attempt, n *simNode) ReasonCode {
	if _, ok := n.used.fitsWith(pm.requests, n.limit); !ok {
		return ReasonInsufficientResources
	}
	if _, repelled := FirstUntolerated(pm.pod.Spec.Tolerations, n.prov.p.Taints, a.strictTaints); repelled {
		return ReasonTaintNotTolerated
	}
	if n.reqs.Admits(a.reqs) != nil {
		return ReasonIncompatibleRequirements
	}
	if _, conflict := portsConflict(n.ports, pm.ports); conflict {
		return ReasonHostPortConflict
	}
	if code := s.topologyResolved(pm, a, n); code != "" {
		return code
	}
	extra, code := s.topologyUnresolved(pm, a, n)
	if code != "" {
		return code
	}
	reqs, changed := n.reqs.intersect(a.reqs)
	if extra.Len() > 0 {
		reqs, changed = reqs.Intersect(extra), true
	}
	kept := countFitting(n.types, reqs, changed, n.used, pm.requests)
	if kept == 0 {
		return ReasonInsufficientResources
	}
	if kept < len(n.types) && len(n.pods) > 0 && !s.looseGrowth && !s.worthGrowing(n, reqs, changed, pm.requests) {
		s.growthRefused = true
		return ReasonInsufficientResources
	}
	n.used.add(pm.requests)
	if changed {
		n.reqs = reqs
	}
	narrowed := changed || kept < len(n.types)
	if kept < len(n.types) {
		n.types = keepFitting(n.types, reqs, changed, n.used)
	}
	if s.pin(pm, n) || narrowed {
		s.setDomains(n)
		s.refreshLimit(n)
	}
	s.commit(pm, n)
	return ""
}

// tryNew designs a node for pm from Provisioner p. The node joins the plan only if pm fits.
func (s *solver) tryNew(pm *podModel, a *attempt, p *provModel) (*simNode, ReasonCode) {
	if _, repelled := FirstUntolerated(pm.pod.Spec.Tolerations, p.p.Taints, a.strictTaints); repelled {
		return nil, ReasonTaintNotTolerated
	}
	if p.base.Admits(a.reqs) != nil {
		return nil, ReasonIncompatibleRequirements
	}
	reqs, narrowed := p.base.intersect(a.reqs)
	n := &simNode{index: len(s.nodes), prov: p, reqs: reqs, used: make(resVec, len(s.dims.names))}
	// Trial nodes often fail (a preference no new node can meet); their candidate list lives in a
	// scratch buffer, copied out only when the node joins the plan.
	n.types = s.scratchTypes[:0]
	for _, t := range p.types {
		if _, ok := p.withinLimits(t.capacity); ok {
			n.types = append(n.types, t)
		}
	}
	if len(n.types) == 0 {
		s.scratchTypes = n.types[:0]
		return nil, ReasonLimitExceeded
	}
	// Every type already meets the Provisioner's base requirements; recheck only if the pod narrowed them.
	n.types = keepFitting(n.types, n.reqs, narrowed, n.used)
	if len(n.types) == 0 {
		s.scratchTypes = n.types[:0]
		return nil, ReasonNoCompatibleInstanceType
	}
	n.maxCap = make(resVec, len(s.dims.names))
	s.setDomains(n)
	s.refreshLimit(n)
	s.nodes = append(s.nodes, n)
	code := s.tryPlanned(pm, a, n)
	s.scratchTypes = n.types[:0]
	if code != "" {
		s.nodes = s.nodes[:len(s.nodes)-1]
		for i, limited := range p.limited {
			if limited {
				p.remaining[i] += n.maxCap[i] // release the reservation
			}
		}
		return nil, code
	}
	n.types = slices.Clone(n.types)
	s.joinNodeSpreads(n)
	return n, ""
}

// joinNodeSpreads makes a node that joined the plan a domain of every hostname spread that counts
// on it.
func (s *solver) joinNodeSpreads(n *simNode) {
	for _, g := range s.topo.nodeSpreads {
		if g.countsOn(n) {
			g.perNode.join(n.index, g.count(n.domains[g.key.index]))
		}
	}
}

// refreshLimit recomputes the node's capacity bound and its reservation against the
// Provisioner's limits (the largest candidate of each resource).
func (s *solver) refreshLimit(n *simNode) {
	limit := make(resVec, len(s.dims.names))
	maxCap := make(resVec, len(s.dims.names))
	for _, t := range n.types {
		limit.maxWith(t.available)
		maxCap.maxWith(t.capacity)
	}
	n.limit = limit
	for i, limited := range n.prov.limited {
		if limited {
			n.prov.remaining[i] += n.maxCap[i] - maxCap[i]
		}
	}
	n.maxCap = maxCap
}

// withinLimits reports whether a node of capacity still fits the Provisioner's limits, naming the
// first limited resource that would be exceeded. Unlimited resources are never summed, so no
// number of planned nodes can overflow them.
func (p *provModel) withinLimits(capacity resVec) (int, bool) {
	for i, limited := range p.limited {
		if limited && capacity[i] > p.remaining[i] {
			return i, false
		}
	}
	return -1, true
}

// countFitting counts the node's candidate types that still meet reqs (checked only when they
// changed) and hold used+add, without allocating.
func countFitting(types []*typeModel, reqs Requirements, reqsChanged bool, used, add resVec) int {
	kept := 0
	filter := newTypeFilter(reqs)
	for _, t := range types {
		if _, ok := used.fitsWith(add, t.available); !ok {
			continue
		}
		if reqsChanged && !filter.allows(t) {
			continue
		}
		kept++
	}
	return kept
}

// keepFitting filters types in place: callers pass a slice they own.
func keepFitting(types []*typeModel, reqs Requirements, reqsChanged bool, used resVec) []*typeModel {
	zero := make(resVec, len(used))
	filter := newTypeFilter(reqs)
	return slices.DeleteFunc(types, func(t *typeModel) bool {
		if _, ok := zero.fitsWith(used, t.available); !ok {
			return true
		}
		return reqsChanged && !filter.allows(t)
	})
}

// typeFilter checks instance types against one set of node requirements, looking up the zone and
// capacity type requirements once rather than per offering.
type typeFilter struct {
	reqs           Requirements
	zone, capacity Requirement
	hasZone, hasCT bool
}

func newTypeFilter(reqs Requirements) typeFilter {
	f := typeFilter{reqs: reqs}
	f.zone, f.hasZone = reqs.Get(LabelZone)
	f.capacity, f.hasCT = reqs.Get(LabelCapacityType)
	return f
}

func (f typeFilter) allows(t *typeModel) bool {
	if !f.reqs.compatible(t.reqs) {
		return false
	}
	for _, o := range t.it.Offerings {
		if o.Available && (!f.hasZone || f.zone.Has(o.Zone)) && (!f.hasCT || f.capacity.Has(o.CapacityType)) {
			return true
		}
	}
	return false
}

func typeAllowed(t *typeModel, reqs Requirements) bool { return newTypeFilter(reqs).allows(t) }

// pin gives each undecided key the pod is counted under a single value, so that counts stay
// exact. It picks the value with the fewest matching pods (for the pod's own spread, that
// spread's count), then the lowest value, among those some candidate type can still serve.
func (s *solver) pin(pm *podModel, n *simNode) bool {
	pinned := false
	for _, k := range pm.pinKeys {
		if s.domainOf(n, k) != domainUnresolved {
			continue
		}
		r, _ := n.reqs.Get(k.name)
		vs, finite := r.Values()
		if !finite {
			continue
		}
		score := func(v string) int32 {
			d, total := k.id(v), int32(0)
			for _, c := range pm.constraints {
				if c.group.key == k && c.group.kind == kindSpread {
					return c.group.count(d)
				}
			}
			for _, g := range pm.matched {
				if g.key == k {
					total += g.count(d)
				}
			}
			return total
		}
		ordered := slices.Clone(vs)
		slices.SortStableFunc(ordered, func(a, b string) int { return cmp.Compare(score(a), score(b)) })
		for _, v := range ordered {
			reqs := n.reqs.With(In(k.name, v))
			if countFitting(n.types, reqs, true, n.used, make(resVec, len(n.used))) > 0 {
				n.reqs = reqs
				n.types = keepFitting(n.types, reqs, true, n.used)
				pinned = true
				break
			}
		}
	}
	return pinned
}

// commit records pm on n: pods, ports, topology counts.
func (s *solver) commit(pm *podModel, n *simNode) {
	if n.existing {
		n.used.add(pm.requests)
	}
	n.pods = append(n.pods, pm.key)
	n.ports = append(n.ports, pm.ports...)
	n.volumes.add(pm.attachments)
	for _, g := range pm.matched {
		if !g.countsOn(n) {
			continue
		}
		d := n.domains[g.key.index]
		if g.perNode != nil {
			g.perNode.bumped(n.index, g.count(d))
		}
		g.counts = bump(g.counts, d)
		g.total++
	}
	for _, g := range pm.owns {
		g.owners = bump(g.owners, n.domains[g.key.index])
	}
}

// growthTolerance is how much dearer, per unit of what a planned node holds, its remaining
// candidates may be than the type it would launch as now before the node stops growing. Spot
// prices of neighbouring sizes differ by less; the very large types that break the pattern cost
// several times more per vCPU.
const growthTolerance = 1.5

// worthGrowing reports whether adding add to planned node n, which drops its cheapest candidate
// types, still leaves a type about as cost-efficient for the node's content as the type it would
// launch as now. Packing ever more pods onto one node would otherwise end on the few very large
// types (u-*, x2*), where two ordinary nodes would cost a fraction.
func (s *solver) worthGrowing(n *simNode, reqs Requirements, reqsChanged bool, add resVec) bool {
	filter := newTypeFilter(reqs)
	now := n.types[0] // candidates are in price order
	// If the cheapest still fits, the node costs what it did.
	if _, ok := n.used.fitsWith(add, now.available); ok && (!reqsChanged || filter.allows(now)) {
		return true
	}
	limit := proportionalPrice(now, n.used, add) * growthTolerance
	for _, t := range n.types {
		if _, ok := n.used.fitsWith(add, t.available); !ok {
			continue
		}
		if proportionalPrice(t, n.used, add) <= limit && (!reqsChanged || filter.allows(t)) {
			return true
		}
	}
	return false
}

// proportionalPrice is the share of t's price that used+add would pay if t were shared out by
// its scarcest resource (more than t's price when they overflow it); +Inf when t lacks a
// resource they need.
func proportionalPrice(t *typeModel, used, add resVec) float64 {
	share := 0.0
	for i := range used {
		content := used[i] + add[i]
		if content == 0 {
			continue
		}
		if t.available[i] <= 0 {
			return math.Inf(1)
		}
		share = max(share, float64(content)/float64(t.available[i]))
	}
	return t.price * share
}
