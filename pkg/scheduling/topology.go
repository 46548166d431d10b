package scheduling

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Topology rules (spread, pod affinity, pod anti-affinity) all reduce to counting pods that match a
// label selector in each domain of a topology key. A topoGroup is one such count, shared by every
// pod with the same rule; the counts include existing pods and every placement made so far.

type groupKind uint8

const (
	kindSpread groupKind = iota
	kindAffinity
	kindAntiAffinity
)

// Domain ids: >= 0 a value of the key (for hostname, the node's index); these mark the rest.
const (
	domainAbsent     int32 = -1 // the node does not carry the key
	domainUnresolved int32 = -2 // a planned node that may still take one of several values
)

// topoKey interns the values of one topology key.
type topoKey struct {
	index    int
	name     string
	hostname bool
	values   []string
	ids      map[string]int32
}

func (k *topoKey) id(value string) int32 {
	if id, ok := k.ids[value]; ok {
		return id
	}
	id := int32(len(k.values))
	k.values = append(k.values, value)
	k.ids[value] = id
	return id
}

type topoGroup struct {
	kind          groupKind
	key           *topoKey
	allNamespaces bool
	namespaces    []string // sorted
	selector      labels.Selector
	maxSkew       int32
	minDomains    int32
	// universe lists the domains a spread constraint balances over (not used for hostname).
	universe []int32
	// nodes, when set, limits which nodes' pods a spread counts (nodeAffinityPolicy and
	// nodeTaintsPolicy Honor).
	nodes  *spreadNodeFilter
	counts []int32 // matching pods per domain
	owners []int32 // pods per domain that own this required anti-affinity term
	total  int32
	// perNode, for a hostname spread, follows the nodes it balances over (see minCount).
	perNode *nodeSpread
}

// nodeSpread follows a hostname spread's nodes the way the kube-scheduler's PodTopologySpread
// filter sees them: every node the spread counts on, existing or planned, is a domain, whether or
// not it has room, and the skew is measured against the fewest matching pods any of them holds.
// It keeps how many nodes hold each count, so that minimum costs nothing to look up.
type nodeSpread struct {
	member []bool  // by node index: the node is one of the spread's domains
	hist   []int32 // hist[c]: member nodes holding c matching pods
	nodes  int32
	low    int32 // the smallest c with hist[c] > 0 while nodes > 0
}

// join adds node index, which holds count matching pods, to the domains.
func (ns *nodeSpread) join(index int, count int32) {
	for len(ns.member) <= index {
		ns.member = append(ns.member, false)
	}
	ns.member[index] = true
	for int(count) >= len(ns.hist) {
		ns.hist = append(ns.hist, 0)
	}
	ns.hist[count]++
	if ns.nodes == 0 || count < ns.low {
		ns.low = count
	}
	ns.nodes++
}

// bumped records that node index, a member holding from matching pods, took one more.
func (ns *nodeSpread) bumped(index int, from int32) {
	if index >= len(ns.member) || !ns.member[index] {
		return
	}
	ns.hist[from]--
	if int(from)+1 >= len(ns.hist) {
		ns.hist = append(ns.hist, 0)
	}
	ns.hist[from+1]++
	for ns.hist[ns.low] == 0 {
		ns.low++
	}
}

func (g *topoGroup) count(d int32) int32 {
	if d < 0 || int(d) >= len(g.counts) {
		return 0
	}
	return g.counts[d]
}

func (g *topoGroup) ownerCount(d int32) int32 {
	if d < 0 || int(d) >= len(g.owners) {
		return 0
	}
	return g.owners[d]
}

func bump(s []int32, d int32) []int32 {
	if d < 0 {
		return s
	}
	for int(d) >= len(s) {
		s = append(s, 0)
	}
	s[d]++
	return s
}

// spreadNodeFilter is the set of nodes a spread counts pods on, as the kube-scheduler's node
// inclusion policies define it: nodes meeting the pod's node affinity (affinity set) and whose
// taints the pod tolerates (taints set).
type spreadNodeFilter struct {
	affinity    []Requirements
	tolerations []v1.Toleration
	taints      bool
}

// countsOn reports whether pods on n count for the group. A planned node counts when it may
// meet the affinity, since its labels are not all decided yet.
func (g *topoGroup) countsOn(n *simNode) bool {
	f := g.nodes
	if f == nil {
		return true
	}
	if n.existing {
		if f.affinity != nil && !matchesAny(f.affinity, n.labels) {
			return false
		}
		_, repelled := FirstUntolerated(f.tolerations, n.taints, false)
		return !(f.taints && repelled)
	}
	if f.affinity != nil && !slices.ContainsFunc(f.affinity, func(r Requirements) bool { return n.reqs.Admits(r) == nil }) {
		return false
	}
	_, repelled := FirstUntolerated(f.tolerations, n.prov.p.Taints, false)
	return !(f.taints && repelled)
}

func (g *topoGroup) matches(namespace string, podLabels map[string]string) bool {
	if !g.allNamespaces {
		if _, ok := slices.BinarySearch(g.namespaces, namespace); !ok {
			return false
		}
	}
	return g.selector.Matches(labels.Set(podLabels))
}

// minCount is the smallest count over the domains a spread balances across, zero when there are
// fewer of them than minDomains. A hostname spread's domains are the nodes of the plan, as the
// kube-scheduler will see them once they all exist: a pod may join a node holding up to maxSkew
// more matching pods than the emptiest of them, and a new node, which joins with none, is opened
// only when no node of the plan can take the pod. (Treating a fresh node as always available
// kept every such pod off the nodes planned for the rest of the batch, where the kube-scheduler
// then put it, leaving the small nodes planned for it empty.)
func (g *topoGroup) minCount() int32 {
	if g.key.hostname {
		if ns := g.perNode; ns != nil && ns.nodes >= g.minDomains && ns.nodes > 0 {
			return ns.low
		}
		return 0
	}
	if int32(len(g.universe)) < g.minDomains || len(g.universe) == 0 {
		return 0
	}
	low := g.count(g.universe[0])
	for _, d := range g.universe[1:] {
		low = min(low, g.count(d))
	}
	return low
}

func (g *topoGroup) describe() string {
	ns := strings.Join(g.namespaces, ",")
	if g.allNamespaces {
		ns = "all namespaces"
	}
	return fmt.Sprintf("%s over %s for pods matching %q in %s", g.kindName(), g.key.name, g.selector.String(), ns)
}

func (g *topoGroup) kindName() string {
	switch g.kind {
	case kindSpread:
		return "topology spread (maxSkew " + strconv.Itoa(int(g.maxSkew)) + ")"
	case kindAffinity:
		return "pod affinity"
	default:
		return "pod anti-affinity"
	}
}

// constraint is one topology rule of one pod. self records whether the pod matches its own
// selector, which changes both spread arithmetic and how a first affinity pod is placed.
type constraint struct {
	group  *topoGroup
	self   bool
	weight int32
}

// allows reports whether placing the pod in domain d keeps the rule.
func (c constraint) allows(d int32) bool {
	g := c.group
	switch g.kind {
	case kindSpread:
		if d < 0 {
			return false
		}
		self := int32(0)
		if c.self {
			self = 1
		}
		return g.count(d)+self-g.minCount() <= g.maxSkew
	case kindAffinity:
		if g.total == 0 && c.self {
			return true
		}
		return d >= 0 && g.count(d) > 0
	default:
		return d < 0 || g.count(d) == 0
	}
}

func (c constraint) reason() ReasonCode {
	switch c.group.kind {
	case kindSpread:
		return ReasonTopologySpread
	case kindAffinity:
		return ReasonPodAffinity
	default:
		return ReasonPodAntiAffinity
	}
}

// topology holds every key and group of one Solve.
type topology struct {
	keys     []*topoKey
	keyIndex map[string]*topoKey
	groups   map[string]*topoGroup
	// groupList holds the groups in creation order, for deterministic iteration.
	groupList []*topoGroup
	// antiGroups are the groups of required anti-affinity terms, which repel matching pods.
	antiGroups []*topoGroup
	// nodeSpreads are the hostname spreads, which follow their nodes (nodeSpread).
	nodeSpreads []*topoGroup
	nsLabels    map[string]map[string]string
	nsNames     []string
}

func newTopology(namespaces []Namespace) *topology {
	t := &topology{keyIndex: map[string]*topoKey{}, groups: map[string]*topoGroup{}, nsLabels: map[string]map[string]string{}}
	for _, ns := range namespaces {
		t.nsLabels[ns.Name] = ns.Labels
		t.nsNames = append(t.nsNames, ns.Name)
	}
	slices.Sort(t.nsNames)
	return t
}

func (t *topology) key(name string) *topoKey {
	if k, ok := t.keyIndex[name]; ok {
		return k
	}
	k := &topoKey{index: len(t.keys), name: name, hostname: name == LabelHostname, ids: map[string]int32{}}
	t.keys = append(t.keys, k)
	t.keyIndex[name] = k
	return k
}

// group returns the shared group for a rule, creating it on first use. identity must capture
// everything that makes two rules count differently.
func (t *topology) group(kind groupKind, keyName string, namespaces []string, all bool, sel labels.Selector, extra string, init func(*topoGroup)) *topoGroup {
	id := fmt.Sprintf("%d|%s|%v|%s|%s|%s", kind, keyName, all, strings.Join(namespaces, ","), sel.String(), extra)
	if g, ok := t.groups[id]; ok {
		return g
	}
	g := &topoGroup{kind: kind, key: t.key(keyName), allNamespaces: all, namespaces: namespaces, selector: sel}
	if init != nil {
		init(g)
	}
	t.groups[id] = g
	t.groupList = append(t.groupList, g)
	if kind == kindAntiAffinity {
		t.antiGroups = append(t.antiGroups, g)
	}
	if kind == kindSpread && g.key.hostname {
		g.perNode = &nodeSpread{}
		t.nodeSpreads = append(t.nodeSpreads, g)
	}
	return g
}

// termNamespaces resolves an affinity term's namespaces: the listed ones plus those its selector
// picks; neither means the pod's own namespace, and an empty selector means every namespace.
func (t *topology) termNamespaces(pod *v1.Pod, term v1.PodAffinityTerm) ([]string, bool, error) {
	if term.NamespaceSelector == nil && len(term.Namespaces) == 0 {
		return []string{pod.Namespace}, false, nil
	}
	out := slices.Clone(term.Namespaces)
	if term.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(term.NamespaceSelector)
		if err != nil {
			return nil, false, fmt.Errorf("namespaceSelector, %w", err)
		}
		if sel.Empty() {
			return nil, true, nil
		}
		for _, name := range t.nsNames {
			if sel.Matches(labels.Set(t.nsLabels[name])) {
				out = append(out, name)
			}
		}
	}
	return sortedUnique(out), false, nil
}

// selectorFor builds a rule's selector: labelSelector, plus for each matchLabelKeys key the pod
// carries "key = its value", and for each mismatchLabelKeys key "key != its value".
func selectorFor(ls *metav1.LabelSelector, matchLabelKeys, mismatchLabelKeys []string, podLabels map[string]string) (labels.Selector, error) {
	if ls == nil {
		// A nil selector matches nothing, as in the kube-scheduler.
		return labels.Nothing(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, fmt.Errorf("labelSelector, %w", err)
	}
	for _, keys := range []struct {
		names []string
		op    selection.Operator
	}{{matchLabelKeys, selection.Equals}, {mismatchLabelKeys, selection.NotEquals}} {
		for _, k := range keys.names {
			if v, ok := podLabels[k]; ok {
				r, err := labels.NewRequirement(k, keys.op, []string{v})
				if err != nil {
					return nil, fmt.Errorf("label key %s, %w", k, err)
				}
				sel = sel.Add(*r)
			}
		}
	}
	return sel, nil
}
