package scheduling

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Requirements is a set of Requirements, at most one per key, sorted by key. The zero value allows
// every node. Values are immutable: every operation returns a new Requirements.
type Requirements struct {
	byKey []Requirement
}

// NewRequirements combines requirements; several on one key are intersected.
func NewRequirements(reqs ...Requirement) Requirements {
	var out Requirements
	for _, r := range reqs {
		out = out.With(r)
	}
	return out
}

// RequirementsFromNodeSelector converts node selector requirements (ANDed), for example one term of
// a pod's required node affinity or a Provisioner's spec.requirements.
func RequirementsFromNodeSelector(reqs []v1.NodeSelectorRequirement) (Requirements, error) {
	var out Requirements
	for _, nsr := range reqs {
		r, err := NewRequirement(nsr.Key, nsr.Operator, nsr.Values...)
		if err != nil {
			return Requirements{}, err
		}
		out = out.With(r)
	}
	return out, nil
}

// RequirementsFromLabels requires each label to have exactly its value.
func RequirementsFromLabels(labels map[string]string) Requirements {
	keys := sortedKeys(labels)
	out := Requirements{byKey: make([]Requirement, 0, len(keys))}
	for _, k := range keys {
		out.byKey = append(out.byKey, In(k, labels[k]))
	}
	return out
}

// Len is the number of constrained keys.
func (rs Requirements) Len() int { return len(rs.byKey) }

// Keys lists the constrained keys in order.
func (rs Requirements) Keys() []string {
	out := make([]string, len(rs.byKey))
	for i, r := range rs.byKey {
		out[i] = r.Key
	}
	return out
}

// Get returns the requirement on key, and false when key is unconstrained.
func (rs Requirements) Get(key string) (Requirement, bool) {
	i := sort.Search(len(rs.byKey), func(i int) bool { return rs.byKey[i].Key >= key })
	if i < len(rs.byKey) && rs.byKey[i].Key == key {
		return rs.byKey[i], true
	}
	return Requirement{}, false
}

// With returns rs with r intersected into its key.
func (rs Requirements) With(r Requirement) Requirements {
	i := sort.Search(len(rs.byKey), func(i int) bool { return rs.byKey[i].Key >= r.Key })
	out := make([]Requirement, 0, len(rs.byKey)+1)
	out = append(out, rs.byKey[:i]...)
	if i < len(rs.byKey) && rs.byKey[i].Key == r.Key {
		out = append(out, rs.byKey[i].Intersect(r))
		out = append(out, rs.byKey[i+1:]...)
	} else {
		out = append(out, r)
		out = append(out, rs.byKey[i:]...)
	}
	return Requirements{byKey: out}
}

// Intersect returns the requirements met by nodes that meet both rs and o.
func (rs Requirements) Intersect(o Requirements) Requirements {
	out, _ := rs.intersect(o)
	return out
}

// intersect also reports whether the result is narrower than rs, so callers can skip re-filtering
// instance types when a pod adds nothing new to a node.
func (rs Requirements) intersect(o Requirements) (Requirements, bool) {
	if len(o.byKey) == 0 {
		return rs, false
	}
	out := make([]Requirement, 0, len(rs.byKey)+len(o.byKey))
	changed := false
	i, j := 0, 0
	for i < len(rs.byKey) || j < len(o.byKey) {
		switch {
		case j == len(o.byKey) || (i < len(rs.byKey) && rs.byKey[i].Key < o.byKey[j].Key):
			out = append(out, rs.byKey[i])
			i++
		case i == len(rs.byKey) || o.byKey[j].Key < rs.byKey[i].Key:
			out = append(out, o.byKey[j])
			changed = true
			j++
		default:
			merged := rs.byKey[i].Intersect(o.byKey[j])
			if !merged.Equal(rs.byKey[i]) {
				changed = true
			}
			out = append(out, merged)
			i, j = i+1, j+1
		}
	}
	if !changed {
		return rs, false
	}
	return Requirements{byKey: out}, true
}

// Incompatibility names the first key on which what is wanted and what is allowed share no value.
type Incompatibility struct {
	Key     string
	Wanted  string // e.g. "In [us-east-1d]"
	Allowed string // e.g. "In [us-east-1a us-east-1b]"
}

func (i *Incompatibility) Error() string {
	return fmt.Sprintf("%s: wants %s, allowed %s", i.Key, i.Wanted, i.Allowed)
}

// Admits checks whether a node allowed by rs can also meet wanted. A key that rs does not mention
// is one the node will not carry, so wanted must accept its absence (a Provisioner that does not
// define a custom label cannot satisfy a pod selecting on it). The first conflict, by key order,
// is returned; nil means compatible.
func (rs Requirements) Admits(wanted Requirements) *Incompatibility {
	for _, w := range wanted.byKey {
		allowed, ok := rs.Get(w.Key)
		if !ok {
			allowed = DoesNotExist(w.Key)
		}
		if !allowed.Intersect(w).Satisfiable() {
			return &Incompatibility{Key: w.Key, Wanted: w.String(), Allowed: allowed.String()}
		}
	}
	return nil
}

// Intersects checks that rs and o can hold together on the keys both mention; a key only one side
// mentions is unconstrained by the other. Used between a planned node and an instance type's
// labels, where the node may carry labels the instance type knows nothing of.
func (rs Requirements) Intersects(o Requirements) *Incompatibility {
	if k, ok := rs.firstConflict(o); !ok {
		a, _ := rs.Get(k)
		b, _ := o.Get(k)
		return &Incompatibility{Key: k, Wanted: b.String(), Allowed: a.String()}
	}
	return nil
}

// compatible is Intersects for hot loops that need no explanation: it allocates nothing.
func (rs Requirements) compatible(o Requirements) bool {
	_, ok := rs.firstConflict(o)
	return ok
}

// firstConflict returns the first key whose requirements in rs and o share no value, and false;
// or true when there is none.
func (rs Requirements) firstConflict(o Requirements) (string, bool) {
	i, j := 0, 0
	for i < len(rs.byKey) && j < len(o.byKey) {
		switch a, b := rs.byKey[i], o.byKey[j]; {
		case a.Key < b.Key:
			i++
		case b.Key < a.Key:
			j++
		default:
			if !a.overlaps(b) {
				return a.Key, false
			}
			i, j = i+1, j+1
		}
	}
	return "", true
}

// MatchesLabels checks an existing node's labels against rs and names the first key that fails.
func (rs Requirements) MatchesLabels(labels map[string]string) *Incompatibility {
	for _, r := range rs.byKey {
		if !r.Matches(labels) {
			have := "absent"
			if v, ok := labels[r.Key]; ok {
				have = "In [" + v + "]"
			}
			return &Incompatibility{Key: r.Key, Wanted: r.String(), Allowed: have}
		}
	}
	return nil
}

// NodeSelectorRequirements writes rs back out as ANDed node selector requirements.
func (rs Requirements) NodeSelectorRequirements() []v1.NodeSelectorRequirement {
	var out []v1.NodeSelectorRequirement
	for _, r := range rs.byKey {
		out = append(out, r.NodeSelectorRequirements()...)
	}
	return out
}

// Labels returns the labels a node meeting rs is sure to carry: every key with exactly one value.
func (rs Requirements) Labels() map[string]string {
	out := map[string]string{}
	for _, r := range rs.byKey {
		if vs, ok := r.Values(); ok && len(vs) == 1 && !r.allowsAbsent {
			out[r.Key] = vs[0]
		}
	}
	return out
}

// String lists every key's requirement, e.g. "topology.kubernetes.io/zone In [a b]; arch In [amd64]".
func (rs Requirements) String() string {
	parts := make([]string, len(rs.byKey))
	for i, r := range rs.byKey {
		parts[i] = r.Key + " " + r.String()
	}
	return strings.Join(parts, "; ")
}

// Equal reports whether rs and o constrain the same keys identically.
func (rs Requirements) Equal(o Requirements) bool {
	if len(rs.byKey) != len(o.byKey) {
		return false
	}
	for i := range rs.byKey {
		if !rs.byKey[i].Equal(o.byKey[i]) {
			return false
		}
	}
	return true
}

// WithDefaults adds each default requirement whose key rs does not already constrain. This is how
// per-Provisioner defaults (capacity type on-demand, arch amd64, ...) apply without overriding what
// the user wrote.
func (rs Requirements) WithDefaults(defaults Requirements) Requirements {
	out := rs
	for _, d := range defaults.byKey {
		if _, ok := rs.Get(d.Key); !ok {
			out = out.With(d)
		}
	}
	return out
}

// unionRequirements summarises several requirement sets: a key any set leaves unconstrained stays
// unconstrained; otherwise its values are the union.
func unionRequirements(sets []Requirements) Requirements {
	if len(sets) == 0 {
		return Requirements{}
	}
	acc := map[string]Requirement{}
	count := map[string]int{}
	for _, s := range sets {
		for _, r := range s.byKey {
			if prev, ok := acc[r.Key]; ok {
				acc[r.Key] = prev.union(r)
			} else {
				acc[r.Key] = r
			}
			count[r.Key]++
		}
	}
	var out Requirements
	for _, k := range sortedKeys(acc) {
		if count[k] == len(sets) {
			out.byKey = append(out.byKey, acc[k])
		} else {
			// Some instance type lacks the label: any value or none.
			out.byKey = append(out.byKey, acc[k].union(DoesNotExist(k)))
		}
	}
	return out
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
