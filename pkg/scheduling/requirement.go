package scheduling

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Requirement is the set of values one label key may take on a node, and whether the node may lack
// the label altogether. Every node selector operator maps onto it:
//
//	In [a b]       values {a b}, label required
//	NotIn [a b]    every value but a and b, or no label
//	Exists         every value, label required
//	DoesNotExist   no value, or no label
//	Gt n / Lt n    integer values above n / below n, label required
//
// Intersecting two Requirements is exact, so a chain of pod, Provisioner and instance type
// constraints collapses into one Requirement per key.
type Requirement struct {
	Key string
	// complement: values lists the excluded values rather than the allowed ones.
	complement bool
	values     []string // sorted, unique
	// greaterThan and lessThan bound integer values when hasGreaterThan / hasLessThan.
	greaterThan, lessThan       int64
	hasGreaterThan, hasLessThan bool
	// allowsAbsent: a node without the label satisfies the requirement.
	allowsAbsent bool
}

// NewRequirement builds a Requirement from a node selector operator. It returns an error for an
// unknown operator or a Gt/Lt value that is not a single integer, so user input never panics.
func NewRequirement(key string, op v1.NodeSelectorOperator, values ...string) (Requirement, error) {
	r := Requirement{Key: key}
	switch op {
	case v1.NodeSelectorOpIn:
		r.values = sortedUnique(values)
	case v1.NodeSelectorOpNotIn:
		r.complement, r.allowsAbsent, r.values = true, true, sortedUnique(values)
	case v1.NodeSelectorOpExists:
		r.complement = true
	case v1.NodeSelectorOpDoesNotExist:
		r.allowsAbsent = true
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		if len(values) != 1 {
			return Requirement{}, fmt.Errorf("requirement %s %s needs exactly one value, got %d", key, op, len(values))
		}
		n, err := strconv.ParseInt(values[0], 10, 64)
		if err != nil {
			return Requirement{}, fmt.Errorf("requirement %s %s needs an integer, got %q", key, op, values[0])
		}
		r.complement = true
		if op == v1.NodeSelectorOpGt {
			r.greaterThan, r.hasGreaterThan = n, true
		} else {
			r.lessThan, r.hasLessThan = n, true
		}
	default:
		return Requirement{}, fmt.Errorf("requirement %s has unknown operator %q", key, op)
	}
	return r, nil
}

// In is a Requirement that the label be one of values; a shorthand that cannot fail.
func In(key string, values ...string) Requirement {
	return Requirement{Key: key, values: sortedUnique(values)}
}

// Any is a Requirement that does not constrain key at all.
func Any(key string) Requirement {
	return Requirement{Key: key, complement: true, allowsAbsent: true}
}

// DoesNotExist is a Requirement that the node not carry key.
func DoesNotExist(key string) Requirement {
	return Requirement{Key: key, allowsAbsent: true}
}

// Has reports whether a node whose label key has value would satisfy the requirement.
func (r Requirement) Has(value string) bool {
	if !r.complement {
		_, found := slices.BinarySearch(r.values, value)
		return found
	}
	if _, excluded := slices.BinarySearch(r.values, value); excluded {
		return false
	}
	return r.withinBounds(value)
}

// Matches reports whether a node's labels satisfy the requirement.
func (r Requirement) Matches(labels map[string]string) bool {
	value, ok := labels[r.Key]
	if !ok {
		return r.allowsAbsent
	}
	return r.Has(value)
}

// AllowsAbsent reports whether a node lacking the label satisfies the requirement.
func (r Requirement) AllowsAbsent() bool { return r.allowsAbsent }

// Values returns the allowed values when they are a finite list, and ok=false when the requirement
// allows all but a few values (NotIn, Exists, Gt, Lt).
func (r Requirement) Values() (values []string, ok bool) {
	if r.complement {
		return nil, false
	}
	return r.values, true
}

// Satisfiable reports whether any node could meet the requirement.
func (r Requirement) Satisfiable() bool {
	if r.allowsAbsent {
		return true
	}
	return r.hasValue()
}

func (r Requirement) hasValue() bool {
	if !r.complement {
		return len(r.values) > 0
	}
	if !r.hasGreaterThan || !r.hasLessThan {
		return true
	}
	// Count the excluded integers inside the open interval to see whether any survive.
	room := r.lessThan - r.greaterThan - 1
	for _, v := range r.values {
		if r.withinBounds(v) {
			room--
		}
	}
	return room > 0
}

func (r Requirement) withinBounds(value string) bool {
	if !r.hasGreaterThan && !r.hasLessThan {
		return true
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return false
	}
	return (!r.hasGreaterThan || n > r.greaterThan) && (!r.hasLessThan || n < r.lessThan)
}

// Intersect returns the requirement met exactly by nodes that meet both r and o. The key is r's.
func (r Requirement) Intersect(o Requirement) Requirement {
	out := Requirement{Key: r.Key, allowsAbsent: r.allowsAbsent && o.allowsAbsent}
	out.greaterThan, out.hasGreaterThan = r.greaterThan, r.hasGreaterThan
	if o.hasGreaterThan && (!out.hasGreaterThan || o.greaterThan > out.greaterThan) {
		out.greaterThan, out.hasGreaterThan = o.greaterThan, true
	}
	out.lessThan, out.hasLessThan = r.lessThan, r.hasLessThan
	if o.hasLessThan && (!out.hasLessThan || o.lessThan < out.lessThan) {
		out.lessThan, out.hasLessThan = o.lessThan, true
	}
	switch {
	case !r.complement && !o.complement:
		out.values = intersectSorted(r.values, o.values)
	case !r.complement:
		out.values = subtractSorted(r.values, o.values)
	case !o.complement:
		out.values = subtractSorted(o.values, r.values)
	default:
		out.complement = true
		out.values = unionSorted(r.values, o.values)
	}
	if !out.complement && (out.hasGreaterThan || out.hasLessThan) {
		kept := out.values[:0:0]
		for _, v := range out.values {
			if out.withinBounds(v) {
				kept = append(kept, v)
			}
		}
		out.values, out.hasGreaterThan, out.hasLessThan = kept, false, false
	}
	return out
}

// overlaps reports whether r.Intersect(o) is satisfiable, without building it: the hot path of
// matching hundreds of instance types against a planned node.
func (r Requirement) overlaps(o Requirement) bool {
	if r.allowsAbsent && o.allowsAbsent {
		return true
	}
	switch {
	case !r.complement && !o.complement:
		small, large := r.values, o.values
		if len(small) > len(large) {
			small, large = large, small
		}
		for _, v := range small {
			if _, found := slices.BinarySearch(large, v); found {
				return true
			}
		}
		return false
	case !r.complement:
		return slices.ContainsFunc(r.values, o.Has)
	case !o.complement:
		return slices.ContainsFunc(o.values, r.Has)
	default:
		return r.Intersect(o).hasValue()
	}
}

// union returns a requirement met by nodes meeting r or o. It is exact for finite value lists and
// otherwise widens to "any value" (used to summarise many instance types, where widening only
// makes a quick pre-check less sharp, never wrong).
func (r Requirement) union(o Requirement) Requirement {
	out := Requirement{Key: r.Key, allowsAbsent: r.allowsAbsent || o.allowsAbsent}
	if r.complement || o.complement {
		out.complement = true
		return out
	}
	out.values = unionSorted(r.values, o.values)
	return out
}

// Equal reports whether r and o allow exactly the same nodes (keys included).
func (r Requirement) Equal(o Requirement) bool {
	return r.Key == o.Key && r.complement == o.complement && r.allowsAbsent == o.allowsAbsent &&
		r.hasGreaterThan == o.hasGreaterThan && r.hasLessThan == o.hasLessThan &&
		(!r.hasGreaterThan || r.greaterThan == o.greaterThan) && (!r.hasLessThan || r.lessThan == o.lessThan) &&
		slices.Equal(r.values, o.values)
}

// String describes the allowed values the way an operator would write them: "In [a b]",
// "NotIn [c]", "Exists", "DoesNotExist", "Gt 4", "Exists, Lt 9".
func (r Requirement) String() string {
	var b strings.Builder
	switch {
	case !r.complement && len(r.values) == 0 && r.allowsAbsent:
		b.WriteString("DoesNotExist")
	case !r.complement && len(r.values) == 0:
		b.WriteString("no value")
	case !r.complement:
		fmt.Fprintf(&b, "In [%s]", strings.Join(r.values, " "))
		if r.allowsAbsent {
			b.WriteString(" or absent")
		}
	case len(r.values) > 0:
		if !r.allowsAbsent {
			b.WriteString("Exists, ")
		}
		fmt.Fprintf(&b, "NotIn [%s]", strings.Join(r.values, " "))
	case r.allowsAbsent && !r.hasGreaterThan && !r.hasLessThan:
		b.WriteString("any value")
	case !r.hasGreaterThan && !r.hasLessThan:
		b.WriteString("Exists")
	}
	for _, bound := range []struct {
		set  bool
		name string
		n    int64
	}{{r.hasGreaterThan, "Gt", r.greaterThan}, {r.hasLessThan, "Lt", r.lessThan}} {
		if !bound.set {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", bound.name, bound.n)
	}
	return b.String()
}

// NodeSelectorRequirements expresses r as node selector terms' requirements (ANDed), for writing
// a planned node's requirements onto a Machine.
func (r Requirement) NodeSelectorRequirements() []v1.NodeSelectorRequirement {
	var out []v1.NodeSelectorRequirement
	add := func(op v1.NodeSelectorOperator, values ...string) {
		out = append(out, v1.NodeSelectorRequirement{Key: r.Key, Operator: op, Values: values})
	}
	switch {
	case !r.complement && len(r.values) > 0 && r.allowsAbsent:
		// "In [...] or absent" summarises candidate instance types some of which lack the label
		// (local NVMe, GPUs). No single node selector requirement says it, and In alone would
		// refuse the types without the label; the Machine's instance type list bounds the launch.
	case !r.complement && len(r.values) == 0:
		add(v1.NodeSelectorOpDoesNotExist)
	case !r.complement:
		add(v1.NodeSelectorOpIn, slices.Clone(r.values)...)
	default:
		if len(r.values) > 0 {
			add(v1.NodeSelectorOpNotIn, slices.Clone(r.values)...)
		}
		if !r.allowsAbsent && len(r.values) == 0 && !r.hasGreaterThan && !r.hasLessThan {
			add(v1.NodeSelectorOpExists)
		}
		if r.hasGreaterThan {
			add(v1.NodeSelectorOpGt, strconv.FormatInt(r.greaterThan, 10))
		}
		if r.hasLessThan {
			add(v1.NodeSelectorOpLt, strconv.FormatInt(r.lessThan, 10))
		}
	}
	return out
}

func sortedUnique(values []string) []string {
	out := slices.Clone(values)
	slices.Sort(out)
	return slices.Compact(out)
}

func intersectSorted(a, b []string) []string {
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(a) <= 4 {
		// A handful of values against a long list (one instance type name against hundreds):
		// binary search beats a merge.
		var out []string
		for _, v := range a {
			if _, found := slices.BinarySearch(b, v); found {
				out = append(out, v)
			}
		}
		return out
	}
	var out []string
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := strings.Compare(a[i], b[j]); {
		case c == 0:
			out = append(out, a[i])
			i, j = i+1, j+1
		case c < 0:
			i++
		default:
			j++
		}
	}
	return out
}

func subtractSorted(a, b []string) []string {
	if len(b) == 0 {
		return a // values are never mutated in place, so sharing is safe
	}
	var out []string
	for _, v := range a {
		if _, found := slices.BinarySearch(b, v); !found {
			out = append(out, v)
		}
	}
	return out
}

func unionSorted(a, b []string) []string {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	out := make([]string, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}
