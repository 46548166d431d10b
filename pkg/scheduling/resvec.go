package scheduling

import (
	"math"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// resourceDims numbers every resource name seen in one Solve, so that the hot path compares
// fixed-length integer vectors instead of maps of Quantities.
type resourceDims struct {
	names []v1.ResourceName
	index map[v1.ResourceName]int
}

func newResourceDims(lists []v1.ResourceList) resourceDims {
	seen := map[v1.ResourceName]bool{}
	for _, l := range lists {
		for name := range l {
			seen[name] = true
		}
	}
	d := resourceDims{names: sortedKeys(seen), index: map[v1.ResourceName]int{}}
	for i, n := range d.names {
		d.index[n] = i
	}
	return d
}

// resVec holds milli-units per dimension (cpu in millicores, memory in milli-bytes), exact for any
// Quantity a pod or node carries.
type resVec []int64

func (d resourceDims) vec(l v1.ResourceList) resVec {
	v := make(resVec, len(d.names))
	for name, q := range l {
		if i, ok := d.index[name]; ok {
			v[i] = q.MilliValue()
		}
	}
	return v
}

func (d resourceDims) list(v resVec) v1.ResourceList {
	out := v1.ResourceList{}
	for i, n := range v {
		if n != 0 {
			out[d.names[i]] = *resource.NewMilliQuantity(n, resource.DecimalSI)
		}
	}
	return out
}

// fitsWith reports whether used+add ≤ limit in every dimension, else the first dimension over.
func (used resVec) fitsWith(add, limit resVec) (int, bool) {
	for i := range add {
		if add[i] > 0 && used[i]+add[i] > limit[i] {
			return i, false
		}
	}
	return -1, true
}

func (v resVec) add(o resVec) {
	for i := range o {
		v[i] += o[i]
	}
}

func (v resVec) sub(o resVec) {
	for i := range o {
		v[i] -= o[i]
	}
}

func (v resVec) clone() resVec { return slices.Clone(v) }

func (v resVec) maxWith(o resVec) {
	for i := range o {
		v[i] = max(v[i], o[i])
	}
}

// unlimited returns a vector of the largest value in every dimension.
func unlimited(n int) resVec {
	v := make(resVec, n)
	for i := range v {
		v[i] = math.MaxInt64 / 4
	}
	return v
}
