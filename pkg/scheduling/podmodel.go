package scheduling

import (
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
)

// podModel is a pending pod compiled once for the whole Solve.
type podModel struct {
	pod      *v1.Pod
	key      PodKey
	requests resVec
	// cpu and memory in milli-units, for ordering.
	cpu, memory int64
	// nodeReqs are the pod's own node requirement alternatives (nodeSelector and required node
	// affinity); required adds its volumes' topology to them.
	nodeReqs    []Requirements
	required    []Requirements
	volumes     []volumeTopology
	attachments []attachment
	ports       []hostPort
	// constraints are required topology rules; preferences are dropped in order when relaxing.
	constraints []constraint
	preferences []preference
	// matched are the groups whose selector matches this pod: placing it bumps their counts.
	matched []*topoGroup
	// repelledBy are required anti-affinity groups whose owners keep this pod out of their domain.
	repelledBy []*topoGroup
	// owns are required anti-affinity groups of this pod's own terms.
	owns []*topoGroup
	// pinKeys are topology keys that must have one value on a new node holding this pod, so
	// that counts stay exact.
	pinKeys []*topoKey
	// err makes the pod unschedulable: its spec cannot be evaluated.
	err error
}

// preference is one soft rule. Exactly one of its fields is set.
type preference struct {
	nodeAffinity   *Requirements
	topology       *constraint
	preferNoSchedT bool // PreferNoSchedule taints repel while this preference is active
}

// attempt is one relaxation level of a pod: the rules Solve tries to honour together.
type attempt struct {
	reqs         Requirements
	strictTaints bool
	constraints  []constraint
}

// attempts lists relaxation levels, strictest first. For each required node affinity term in
// order, preferences are dropped one at a time in the order documented on compilePreferences.
func (pm *podModel) attempts(ignorePreferences bool) []attempt {
	var out []attempt
	for _, term := range pm.required {
		first := 0
		if ignorePreferences {
			first = len(pm.preferences)
		}
		for drop := first; drop <= len(pm.preferences); drop++ {
			a := attempt{reqs: term, constraints: pm.constraints}
			for _, p := range pm.preferences[drop:] {
				switch {
				case p.nodeAffinity != nil:
					a.reqs = a.reqs.Intersect(*p.nodeAffinity)
				case p.topology != nil:
					a.constraints = append(slices.Clip(a.constraints), *p.topology)
				default:
					a.strictTaints = true
				}
			}
			out = append(out, a)
		}
	}
	return out
}

// compilePod builds the model of a pending pod. Errors in the spec are kept on the model so the
// pod is reported, not dropped.
func (s *solver) compilePod(pod *v1.Pod) *podModel {
	pm := &podModel{pod: pod, key: podKey(pod), ports: podHostPorts(pod)}
	requests := PodRequests(pod)
	pm.requests = s.dims.vec(requests)
	pm.cpu, pm.memory = requests.Cpu().MilliValue(), requests.Memory().MilliValue()
	var err error
	if pm.nodeReqs, err = PodRequirements(pod); err != nil {
		pm.err = err
		return pm
	}
	if pm.volumes, pm.attachments, err = s.volumes.podVolumes(pod); err != nil {
		pm.err = err
		return pm
	}
	if pm.required, err = withVolumeTopology(pm.nodeReqs, pm.volumes); err != nil {
		pm.err = err
		return pm
	}
	if err := s.compileTopology(pm); err != nil {
		pm.err = err
		return pm
	}
	if err := s.compilePreferences(pm); err != nil {
		pm.err = err
	}
	return pm
}

// compilePreferences orders the pod's soft rules by when they are given up, first to last:
//  1. preferred pod affinity terms, lightest first;
//  2. preferred pod anti-affinity terms, lightest first;
//  3. preferred node affinity terms, lightest first;
//  4. ScheduleAnyway topology spread constraints, last declared first;
//  5. avoiding PreferNoSchedule taints.
//
// Rules that only shape a pod's neighbourhood go first; the pod's own placement wishes last.
func (s *solver) compilePreferences(pm *podModel) error {
	var out []preference
	aff := pm.pod.Spec.Affinity
	if aff != nil && aff.PodAffinity != nil {
		cs, err := s.affinityConstraints(pm, kindAffinity, weightedTerms(aff.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution))
		if err != nil {
			return fmt.Errorf("preferred pod affinity, %w", err)
		}
		out = append(out, lightestFirst(cs)...)
	}
	if aff != nil && aff.PodAntiAffinity != nil {
		cs, err := s.affinityConstraints(pm, kindAntiAffinity, weightedTerms(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution))
		if err != nil {
			return fmt.Errorf("preferred pod anti-affinity, %w", err)
		}
		out = append(out, lightestFirst(cs)...)
	}
	preferred, err := preferredNodeRequirements(pm.pod)
	if err != nil {
		return err
	}
	for i := len(preferred) - 1; i >= 0; i-- {
		out = append(out, preference{nodeAffinity: &preferred[i].reqs})
	}
	spread, err := s.spreadConstraints(pm, v1.ScheduleAnyway)
	if err != nil {
		return err
	}
	for i := len(spread) - 1; i >= 0; i-- {
		out = append(out, preference{topology: &spread[i]})
	}
	if s.anyPreferNoSchedule {
		out = append(out, preference{preferNoSchedT: true})
	}
	pm.preferences = out
	return nil
}

func lightestFirst(cs []constraint) []preference {
	slices.SortStableFunc(cs, func(a, b constraint) int { return int(a.weight) - int(b.weight) })
	out := make([]preference, len(cs))
	for i := range cs {
		out[i] = preference{topology: &cs[i]}
	}
	return out
}

type weightedTerm struct {
	weight int32
	term   v1.PodAffinityTerm
}

func weightedTerms(terms []v1.WeightedPodAffinityTerm) []weightedTerm {
	out := make([]weightedTerm, len(terms))
	for i, t := range terms {
		out[i] = weightedTerm{weight: t.Weight, term: t.PodAffinityTerm}
	}
	return out
}

func requiredTerms(terms []v1.PodAffinityTerm) []weightedTerm {
	out := make([]weightedTerm, len(terms))
	for i, t := range terms {
		out[i] = weightedTerm{term: t}
	}
	return out
}

// compileTopology turns the pod's required spread, affinity and anti-affinity into constraints,
// and records which groups the pod itself is counted in.
func (s *solver) compileTopology(pm *podModel) error {
	spread, err := s.spreadConstraints(pm, v1.DoNotSchedule)
	if err != nil {
		return err
	}
	pm.constraints = append(pm.constraints, spread...)
	if aff := pm.pod.Spec.Affinity; aff != nil {
		if aff.PodAffinity != nil {
			cs, err := s.affinityConstraints(pm, kindAffinity, requiredTerms(aff.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution))
			if err != nil {
				return fmt.Errorf("required pod affinity, %w", err)
			}
			pm.constraints = append(pm.constraints, cs...)
		}
		if aff.PodAntiAffinity != nil {
			cs, err := s.affinityConstraints(pm, kindAntiAffinity, requiredTerms(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution))
			if err != nil {
				return fmt.Errorf("required pod anti-affinity, %w", err)
			}
			pm.constraints = append(pm.constraints, cs...)
			for _, c := range cs {
				pm.owns = append(pm.owns, c.group)
			}
		}
	}
	return nil
}

func (s *solver) affinityConstraints(pm *podModel, kind groupKind, terms []weightedTerm) ([]constraint, error) {
	var out []constraint
	for _, wt := range terms {
		g, err := s.affinityGroup(pm.pod, kind, wt.term)
		if err != nil {
			return nil, err
		}
		out = append(out, constraint{group: g, self: g.matches(pm.pod.Namespace, pm.pod.Labels), weight: wt.weight})
	}
	return out, nil
}

func (s *solver) affinityGroup(pod *v1.Pod, kind groupKind, term v1.PodAffinityTerm) (*topoGroup, error) {
	namespaces, all, err := s.topo.termNamespaces(pod, term)
	if err != nil {
		return nil, err
	}
	sel, err := selectorFor(term.LabelSelector, term.MatchLabelKeys, term.MismatchLabelKeys, pod.Labels)
	if err != nil {
		return nil, err
	}
	return s.topo.group(kind, term.TopologyKey, namespaces, all, sel, "", nil), nil
}

// nodeSpread reports whether the pod must keep a hostname topology spread.
func (pm *podModel) nodeSpread() bool {
	return slices.ContainsFunc(pm.constraints, func(c constraint) bool { return c.group.perNode != nil })
}

func (s *solver) spreadConstraints(pm *podModel, when v1.UnsatisfiableConstraintAction) ([]constraint, error) {
	var out []constraint
	for _, tsc := range pm.pod.Spec.TopologySpreadConstraints {
		if tsc.WhenUnsatisfiable != when && !(when == v1.DoNotSchedule && tsc.WhenUnsatisfiable == "") {
			continue
		}
		sel, err := selectorFor(tsc.LabelSelector, tsc.MatchLabelKeys, nil, pm.pod.Labels)
		if err != nil {
			return nil, fmt.Errorf("topology spread on %s, %w", tsc.TopologyKey, err)
		}
		minDomains := int32(1)
		if tsc.MinDomains != nil {
			minDomains = *tsc.MinDomains
		}
		honourAffinity := tsc.NodeAffinityPolicy == nil || *tsc.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor
		honourTaints := tsc.NodeTaintsPolicy != nil && *tsc.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor
		// The eligible domains depend on the pod's node affinity and tolerations when the policies
		// say so, so they are part of the group's identity.
		extra := fmt.Sprintf("skew=%d,min=%d", tsc.MaxSkew, minDomains)
		if honourAffinity {
			extra += fmt.Sprintf(",aff=%v", pm.nodeReqs)
		}
		if honourTaints {
			extra += fmt.Sprintf(",tol=%v", pm.pod.Spec.Tolerations)
		}
		g := s.topo.group(kindSpread, tsc.TopologyKey, []string{pm.pod.Namespace}, false, sel, extra, func(g *topoGroup) {
			g.maxSkew, g.minDomains = tsc.MaxSkew, minDomains
			g.universe = s.spreadUniverse(g.key, pm, honourAffinity, honourTaints)
			g.nodes = spreadFilter(pm, honourAffinity, honourTaints)
		})
		out = append(out, constraint{group: g, self: g.matches(pm.pod.Namespace, pm.pod.Labels)})
	}
	return out, nil
}

// spreadFilter returns which nodes' pods a spread counts, or nil when it counts them all.
func spreadFilter(pm *podModel, honourAffinity, honourTaints bool) *spreadNodeFilter {
	f := &spreadNodeFilter{taints: honourTaints, tolerations: pm.pod.Spec.Tolerations}
	if honourAffinity && slices.ContainsFunc(pm.nodeReqs, func(r Requirements) bool { return r.Len() > 0 }) {
		f.affinity = pm.nodeReqs
	}
	if f.affinity == nil && !f.taints {
		return nil
	}
	return f
}

// spreadUniverse lists the domains a spread balances across: values of the key on existing nodes
// and on nodes the Provisioners could launch, limited by the pod's node affinity and tolerations
// when the constraint's policies say to.
func (s *solver) spreadUniverse(k *topoKey, pm *podModel, honourAffinity, honourTaints bool) []int32 {
	if k.hostname {
		return nil
	}
	var values []string
	for _, n := range s.nodes {
		v, ok := n.labels[k.name]
		if !ok {
			continue
		}
		if honourAffinity && !matchesAny(pm.nodeReqs, n.labels) {
			continue
		}
		if _, repelled := FirstUntolerated(pm.pod.Spec.Tolerations, n.taints, false); honourTaints && repelled {
			continue
		}
		values = append(values, v)
	}
	for _, p := range s.provs {
		if _, repelled := FirstUntolerated(pm.pod.Spec.Tolerations, p.p.Taints, false); honourTaints && repelled {
			continue
		}
		for _, term := range pm.nodeReqs {
			reqs := p.base
			if honourAffinity {
				if reqs.Admits(term) != nil {
					continue
				}
				reqs = reqs.Intersect(term)
			}
			if r, ok := reqs.Get(k.name); ok {
				if vs, finite := r.Values(); finite {
					values = append(values, vs...)
				}
			}
		}
	}
	values = sortedUnique(values)
	out := make([]int32, len(values))
	for i, v := range values {
		out[i] = k.id(v)
	}
	return out
}

func matchesAny(alternatives []Requirements, nodeLabels map[string]string) bool {
	for _, reqs := range alternatives {
		if reqs.MatchesLabels(nodeLabels) == nil {
			return true
		}
	}
	return false
}
