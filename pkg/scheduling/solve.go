package scheduling

import (
	"cmp"
	"math"
	"slices"

	v1 "k8s.io/api/core/v1"

	"github.com/kerf-autoscaler/kerf/pkg/podutil"
)

// Solve places the Snapshot's pending pods: onto existing nodes first, then in-flight nodes, then
// onto new nodes it designs from the Provisioners' instance types (higher weight first). Pods are
// taken largest first (cpu, then memory, then namespace/name), each onto the first node that can
// hold it with all its rules, relaxing preferences only when it fits nowhere otherwise.
func Solve(snap Snapshot) Plan {
	s := newSolver(snap)
	var unplaced []*podModel
	for _, pm := range s.pods {
		if pm.err != nil || !s.place(pm) {
			unplaced = append(unplaced, pm)
		}
	}
	return s.plan(unplaced)
}

// solver is the mutable state of one Solve.
type solver struct {
	opts    Options
	dims    resourceDims
	volumes volumeCatalog
	topo    *topology
	provs   []*provModel
	// nodes holds existing nodes, then in-flight nodes, then planned ones in creation order.
	nodes               []*simNode
	pods                []*podModel
	anyPreferNoSchedule bool
	// scratchTypes is reused by tryNew for the candidate list of a node on trial.
	scratchTypes []*typeModel
	// growthRefused says the pod being placed was kept off a planned node only by worthGrowing;
	// looseGrowth turns that rule off for a second try.
	growthRefused, looseGrowth bool
}

func newSolver(snap Snapshot) *solver {
	s := &solver{opts: snap.Options, topo: newTopology(snap.Namespaces), volumes: newVolumeCatalog(snap)}
	if s.opts.MaxInstanceTypes <= 0 {
		s.opts.MaxInstanceTypes = DefaultMaxInstanceTypes
	}
	s.dims = newResourceDims(resourceLists(snap))
	daemonSets := slices.Clone(snap.DaemonSetPods)
	slices.SortFunc(daemonSets, comparePods)
	s.addProvisioners(snap.Provisioners, daemonSets)
	s.addNodes(snap.Nodes)

	pending := slices.Clone(snap.Pods)
	slices.SortFunc(pending, comparePods)
	for _, pod := range pending {
		s.pods = append(s.pods, s.compilePod(pod))
	}
	// Pods under a hostname topology spread go last, so that every node the rest of the batch needs
	// exists when they are placed: the spread's skew is measured over all of them, as the
	// kube-scheduler will measure it, and a node opened later with none of them cannot undo it.
	// Otherwise largest first; the name order above breaks ties, so input order never matters.
	slices.SortStableFunc(s.pods, func(a, b *podModel) int {
		return cmp.Or(compareBool(a.nodeSpread(), b.nodeSpread()), cmp.Compare(b.cpu, a.cpu), cmp.Compare(b.memory, a.memory))
	})
	s.countExistingPods()
	for _, n := range s.nodes {
		s.joinNodeSpreads(n)
	}
	for _, pm := range s.pods {
		s.linkGroups(pm)
	}
	return s
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

func comparePods(a, b *v1.Pod) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.UID, b.UID))
}

// resourceLists gathers every resource list whose names the vectors must cover.
func resourceLists(snap Snapshot) []v1.ResourceList {
	lists := []v1.ResourceList{{v1.ResourceCPU: {}, v1.ResourceMemory: {}, v1.ResourcePods: {}}}
	for _, pod := range snap.Pods {
		lists = append(lists, PodRequests(pod))
	}
	for _, pod := range snap.DaemonSetPods {
		lists = append(lists, PodRequests(pod))
	}
	for _, n := range snap.Nodes {
		lists = append(lists, n.Allocatable)
	}
	for _, p := range snap.Provisioners {
		lists = append(lists, p.Limits)
		for _, it := range p.InstanceTypes {
			lists = append(lists, it.Capacity)
		}
	}
	return lists
}

// provModel is a Provisioner compiled for the Solve.
type provModel struct {
	p          *Provisioner
	reqs       Requirements // requirements, defaults, labels and the provisioner-name label
	base       Requirements // reqs narrowed to what some instance type offers
	nodeTaints []v1.Taint   // taints and startup taints, as written onto new nodes
	types      []*typeModel // by price, then name
	limited    []bool       // per dimension: does limits.resources cap it
	remaining  resVec       // limits less usage less the largest candidate of each planned node
}

// typeModel is an instance type as launched by one Provisioner.
type typeModel struct {
	it        *InstanceType
	reqs      Requirements
	available resVec // allocatable less the Provisioner's DaemonSet overhead on this type
	capacity  resVec
	price     float64 // cheapest available offering anywhere
}

func (s *solver) addProvisioners(in []Provisioner, daemonSets []*v1.Pod) {
	provs := make([]*Provisioner, len(in))
	for i := range in {
		provs[i] = &in[i]
	}
	slices.SortFunc(provs, func(a, b *Provisioner) int {
		return cmp.Or(cmp.Compare(b.Weight, a.Weight), cmp.Compare(a.Name, b.Name))
	})
	for _, p := range provs {
		pm := &provModel{p: p, nodeTaints: append(slices.Clone(p.Taints), p.StartupTaints...)}
		pm.reqs = p.Requirements.WithDefaults(p.Defaults).Intersect(RequirementsFromLabels(p.Labels)).
			With(In(LabelProvisionerName, p.Name))
		var typeReqs []Requirements
		types := slices.Clone(p.InstanceTypes)
		slices.SortFunc(types, func(a, b *InstanceType) int { return cmp.Compare(a.Name, b.Name) })
		for _, it := range types {
			tm := &typeModel{it: it, reqs: it.requirementsWithOfferings(), capacity: s.dims.vec(it.Capacity)}
			if pm.reqs.Intersects(tm.reqs) != nil {
				continue
			}
			tm.price = it.Offerings.cheapestAvailablePrice(pm.reqs)
			if math.IsInf(tm.price, 1) {
				continue
			}
			tm.available = s.dims.vec(it.Allocatable())
			tm.available.sub(s.dims.vec(daemonSetOverhead(daemonSets, p, pm.reqs.Intersect(tm.reqs))))
			pm.types = append(pm.types, tm)
			typeReqs = append(typeReqs, tm.reqs)
		}
		slices.SortStableFunc(pm.types, func(a, b *typeModel) int { return cmp.Compare(a.price, b.price) })
		pm.base = pm.reqs.Intersect(unionRequirements(typeReqs))
		pm.limited = make([]bool, len(s.dims.names))
		pm.remaining = unlimited(len(s.dims.names))
		for name, q := range p.Limits {
			i := s.dims.index[name]
			pm.limited[i] = true
			pm.remaining[i] = q.MilliValue()
			if used, ok := p.Usage[name]; ok {
				pm.remaining[i] -= used.MilliValue()
			}
		}
		if hasPreferNoSchedule(p.Taints) {
			s.anyPreferNoSchedule = true
		}
		s.provs = append(s.provs, pm)
	}
}

// daemonSetOverhead sums the requests of DaemonSet pods that would run on a node with reqs
// launched by p: those tolerating its taints whose node selector and required affinity fit.
func daemonSetOverhead(daemonSets []*v1.Pod, p *Provisioner, reqs Requirements) v1.ResourceList {
	total := v1.ResourceList{}
	for _, ds := range daemonSets {
		if _, repelled := FirstUntolerated(ds.Spec.Tolerations, p.Taints, false); repelled {
			continue
		}
		alternatives, err := PodRequirements(ds)
		if err != nil {
			continue
		}
		for _, alt := range alternatives {
			if reqs.Admits(alt) == nil {
				addInto(total, PodRequests(ds))
				break
			}
		}
	}
	return total
}

func hasPreferNoSchedule(taints []v1.Taint) bool {
	return slices.ContainsFunc(taints, func(t v1.Taint) bool { return t.Effect == v1.TaintEffectPreferNoSchedule })
}

func (s *solver) addNodes(in []Node) {
	nodes := make([]*Node, len(in))
	for i := range in {
		nodes[i] = &in[i]
	}
	slices.SortFunc(nodes, func(a, b *Node) int {
		if a.InFlight != b.InFlight {
			if a.InFlight {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	for _, n := range nodes {
		sn := &simNode{
			index: len(s.nodes), name: n.Name, existing: true, inFlight: n.InFlight,
			labels: n.Labels, taints: n.Taints,
			used: make(resVec, len(s.dims.names)), limit: s.dims.vec(n.Allocatable),
			volumes: newNodeVolumes(n.VolumeLimits),
		}
		for _, pod := range n.Pods {
			if podutil.IsTerminal(pod) {
				continue
			}
			sn.boundPods = append(sn.boundPods, pod)
			sn.used.add(s.dims.vec(PodRequests(pod)))
			sn.ports = append(sn.ports, podHostPorts(pod)...)
			if sn.volumes != nil {
				sn.volumes.add(s.volumes.boundAttachments(pod))
			}
		}
		if hasPreferNoSchedule(n.Taints) {
			s.anyPreferNoSchedule = true
		}
		s.nodes = append(s.nodes, sn)
	}
}

// countExistingPods registers the required anti-affinity terms of bound pods (so they repel new
// pods) and counts every bound pod in the groups it matches.
func (s *solver) countExistingPods() {
	type bound struct {
		pod  *v1.Pod
		node *simNode
	}
	var all []bound
	for _, n := range s.nodes {
		for _, pod := range n.boundPods {
			all = append(all, bound{pod, n})
		}
	}
	owned := make([][]*topoGroup, len(all))
	for i, b := range all {
		aff := b.pod.Spec.Affinity
		if aff == nil || aff.PodAntiAffinity == nil {
			continue
		}
		for _, term := range aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if g, err := s.affinityGroup(b.pod, kindAntiAffinity, term); err == nil {
				owned[i] = append(owned[i], g)
			}
		}
	}
	s.refreshDomains()
	for i, b := range all {
		for _, g := range s.topo.groupList {
			if g.matches(b.pod.Namespace, b.pod.Labels) && g.countsOn(b.node) {
				d := b.node.domains[g.key.index]
				g.counts = bump(g.counts, d)
				g.total++
			}
		}
		for _, g := range owned[i] {
			g.owners = bump(g.owners, b.node.domains[g.key.index])
		}
	}
}

// refreshDomains (re)computes every existing node's domain per topology key, after all keys are known.
func (s *solver) refreshDomains() {
	for _, n := range s.nodes {
		n.domains = n.domains[:0]
		for _, k := range s.topo.keys {
			n.domains = append(n.domains, s.domainOf(n, k))
		}
	}
}

// linkGroups records which groups count a pending pod, which repel it, and which keys it pins.
func (s *solver) linkGroups(pm *podModel) {
	if pm.err != nil {
		return
	}
	var keys []*topoKey
	for _, g := range s.topo.groupList {
		if !g.matches(pm.pod.Namespace, pm.pod.Labels) {
			continue
		}
		pm.matched = append(pm.matched, g)
		if g.kind == kindAntiAffinity {
			pm.repelledBy = append(pm.repelledBy, g)
		}
		keys = append(keys, g.key)
	}
	for _, c := range pm.constraints {
		keys = append(keys, c.group.key)
	}
	for _, p := range pm.preferences {
		if p.topology != nil {
			keys = append(keys, p.topology.group.key)
		}
	}
	keys = slices.DeleteFunc(keys, func(k *topoKey) bool { return k.hostname })
	slices.SortFunc(keys, func(a, b *topoKey) int { return cmp.Compare(a.index, b.index) })
	pm.pinKeys = slices.Compact(keys)
}
