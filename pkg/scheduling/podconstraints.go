package scheduling

import (
	"fmt"
	"slices"
	"strconv"

	v1 "k8s.io/api/core/v1"
)

// PodRequirements returns the node requirements a pod insists on: its nodeSelector ANDed with each
// term of its required node affinity. A node must meet any one of the returned alternatives; a
// pod without affinity terms has exactly one. A malformed term (Gt with a word) is an error.
func PodRequirements(pod *v1.Pod) ([]Requirements, error) {
	base := RequirementsFromLabels(pod.Spec.NodeSelector)
	aff := pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return []Requirements{base}, nil
	}
	terms := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	var out []Requirements
	for i, term := range terms {
		reqs, err := RequirementsFromNodeSelector(term.MatchExpressions)
		if err != nil {
			return nil, fmt.Errorf("required node affinity term %d, %w", i, err)
		}
		// matchFields can only name metadata.name, which no new node has yet.
		for _, f := range term.MatchFields {
			r, err := NewRequirement(LabelHostname, f.Operator, f.Values...)
			if err != nil {
				return nil, fmt.Errorf("required node affinity term %d, %w", i, err)
			}
			reqs = reqs.With(r)
		}
		out = append(out, base.Intersect(reqs))
	}
	if len(out) == 0 {
		// An empty term list matches no node, as in the kube-scheduler.
		return []Requirements{base.With(In(LabelHostname))}, nil
	}
	return out, nil
}

// weightedRequirements is one preferred node affinity term.
type weightedRequirements struct {
	weight int32
	reqs   Requirements
}

// preferredNodeRequirements returns the pod's preferred node affinity terms, heaviest first.
func preferredNodeRequirements(pod *v1.Pod) ([]weightedRequirements, error) {
	aff := pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil {
		return nil, nil
	}
	var out []weightedRequirements
	for i, term := range aff.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		reqs, err := RequirementsFromNodeSelector(term.Preference.MatchExpressions)
		if err != nil {
			return nil, fmt.Errorf("preferred node affinity term %d, %w", i, err)
		}
		out = append(out, weightedRequirements{weight: term.Weight, reqs: reqs})
	}
	slices.SortStableFunc(out, func(a, b weightedRequirements) int { return int(b.weight) - int(a.weight) })
	return out, nil
}

// hostPort is a port a pod binds on its node.
type hostPort struct {
	ip       string
	protocol v1.Protocol
	port     int32
}

func (p hostPort) conflicts(o hostPort) bool {
	if p.port != o.port || p.protocol != o.protocol {
		return false
	}
	return p.ip == o.ip || p.ip == "0.0.0.0" || o.ip == "0.0.0.0"
}

func (p hostPort) String() string {
	return p.ip + ":" + strconv.Itoa(int(p.port)) + "/" + string(p.protocol)
}

// UsesHostPorts reports whether any container of the pod, init containers included, binds a host
// port: such a pod conflicts with others on the same node.
func UsesHostPorts(pod *v1.Pod) bool { return len(podHostPorts(pod)) > 0 }

// podHostPorts lists the host ports of every container, init containers included.
func podHostPorts(pod *v1.Pod) []hostPort {
	var out []hostPort
	add := func(cs []v1.Container) {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := hostPort{ip: p.HostIP, protocol: p.Protocol, port: p.HostPort}
				if hp.ip == "" {
					hp.ip = "0.0.0.0"
				}
				if hp.protocol == "" {
					hp.protocol = v1.ProtocolTCP
				}
				out = append(out, hp)
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	return out
}

func portsConflict(used, wanted []hostPort) (hostPort, bool) {
	for _, w := range wanted {
		for _, u := range used {
			if w.conflicts(u) {
				return w, true
			}
		}
	}
	return hostPort{}, false
}

func podKey(pod *v1.Pod) PodKey { return PodKey{Namespace: pod.Namespace, Name: pod.Name} }
