package scheduling

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// PodRequests is what a pod asks a node for, as the kube-scheduler computes it: the larger of the
// sum of its containers (plus restartable init containers, which run alongside them as sidecars)
// and the largest single init container (plus the sidecars started before it), plus the pod's
// overhead, plus one "pods". A container limit without a request counts as the request, as the API
// server defaults it.
func PodRequests(pod *v1.Pod) v1.ResourceList {
	running := v1.ResourceList{}
	for i := range pod.Spec.Containers {
		addInto(running, containerRequests(&pod.Spec.Containers[i]))
	}
	sidecars := v1.ResourceList{}
	initPeak := v1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		requests := containerRequests(c)
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			addInto(sidecars, requests)
			// A sidecar must fit alongside the sidecars before it while later init containers run.
			maxInto(initPeak, sidecars)
			continue
		}
		maxInto(initPeak, AddResources(requests, sidecars))
	}
	addInto(running, sidecars)
	maxInto(running, initPeak)
	addInto(running, pod.Spec.Overhead)
	pods := running[v1.ResourcePods]
	pods.Add(*resource.NewQuantity(1, resource.DecimalSI))
	running[v1.ResourcePods] = pods
	return running
}

func containerRequests(c *v1.Container) v1.ResourceList {
	out := v1.ResourceList{}
	for name, q := range c.Resources.Limits {
		out[name] = q.DeepCopy()
	}
	for name, q := range c.Resources.Requests {
		out[name] = q.DeepCopy()
	}
	return out
}

// AddResources sums resource lists.
func AddResources(lists ...v1.ResourceList) v1.ResourceList {
	out := v1.ResourceList{}
	for _, l := range lists {
		addInto(out, l)
	}
	return out
}

// SubtractResources returns a - b for each resource in a, floored at zero.
func SubtractResources(a, b v1.ResourceList) v1.ResourceList {
	out := v1.ResourceList{}
	for name, q := range a {
		v := q.DeepCopy()
		if sub, ok := b[name]; ok {
			v.Sub(sub)
		}
		if v.Sign() < 0 {
			v = *resource.NewQuantity(0, q.Format)
		}
		out[name] = v
	}
	return out
}

// Fits reports whether requests fit within available, naming the first resource (by name) that
// does not. A resource missing from available counts as zero, so a pod asking for nvidia.com/gpu
// fits no machine without GPUs.
func Fits(requests, available v1.ResourceList) (v1.ResourceName, bool) {
	for _, rn := range sortedKeys(requests) {
		q := requests[rn]
		if q.Sign() <= 0 {
			continue
		}
		if have, ok := available[rn]; !ok || have.Cmp(q) < 0 {
			return rn, false
		}
	}
	return "", true
}

func addInto(dst, src v1.ResourceList) {
	for name, q := range src {
		v := dst[name]
		v.Add(q)
		dst[name] = v
	}
}

func maxInto(dst, src v1.ResourceList) {
	for name, q := range src {
		if v, ok := dst[name]; !ok || v.Cmp(q) < 0 {
			dst[name] = q.DeepCopy()
		}
	}
}
