package consolidation

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kerf-autoscaler/kerf/pkg/podutil"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// The simulations of one pass differ only in which nodes are gone, yet each hands Solve the whole
// cluster. When no pod anywhere has (anti-)affinity or topology spread, a bound pod matters to
// Solve only through the room it takes, its host ports and its volumes, so each node is shown
// with its plain pods folded into a smaller allocatable: Solve's work then grows with the nodes,
// not with every pod of the cluster.

// needsPods reports whether Solve must see pod itself, not only the room it takes.
func needsPods(pod *v1.Pod) bool {
	if scheduling.UsesHostPorts(pod) {
		return true
	}
	for _, vol := range pod.Spec.Volumes {
		if vol.PersistentVolumeClaim != nil || vol.Ephemeral != nil {
			return true
		}
	}
	return false
}

// interacts reports whether pod constrains or is counted by other pods' placement rules.
func interacts(pod *v1.Pod) bool {
	a := pod.Spec.Affinity
	return len(pod.Spec.TopologySpreadConstraints) > 0 || (a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil))
}

// anyInteracts reports whether a pod of the cluster has affinity, anti-affinity or spread.
func anyInteracts(nodes []scheduling.Node) bool {
	for i := range nodes {
		for _, pod := range nodes[i].Pods {
			if interacts(pod) {
				return true
			}
		}
	}
	return false
}

// folded returns n as Solve needs to see it: its plain pods replaced by one pod requesting what
// they request together, so the node is as full to Solve (and ranks the same) as with them.
func folded(n scheduling.Node) scheduling.Node {
	out := n
	out.Pods = nil
	sum := v1.ResourceList{}
	plain := int64(0)
	for _, pod := range n.Pods {
		if podutil.IsTerminal(pod) {
			continue
		}
		if needsPods(pod) {
			out.Pods = append(out.Pods, pod)
			continue
		}
		plain++
		for name, q := range scheduling.PodRequests(pod) {
			total := sum[name]
			total.Add(q)
			sum[name] = total
		}
	}
	if plain < 2 {
		return n
	}
	// The one pod stands for plain pods: the node's pod count keeps the others' places.
	out.Allocatable = n.Allocatable.DeepCopy()
	if left, ok := out.Allocatable[v1.ResourcePods]; ok {
		left.Sub(*resource.NewQuantity(plain-1, resource.DecimalSI))
		out.Allocatable[v1.ResourcePods] = left
	}
	out.Pods = append(out.Pods, &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kerf-consolidation", Name: "folded-" + n.Name},
		Spec:       v1.PodSpec{NodeName: n.Name, Containers: []v1.Container{{Name: "folded", Resources: v1.ResourceRequirements{Requests: sum}}}},
		Status:     v1.PodStatus{Phase: v1.PodRunning},
	})
	return out
}
