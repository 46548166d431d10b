package termination

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kerf-autoscaler/kerf/pkg/podutil"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

const (
	// stuckTerminatingAfter is how long past its deletion deadline a terminating pod is still
	// waited for. A pod whose kubelet cannot confirm its end would otherwise hold the node forever.
	stuckTerminatingAfter = time.Minute
)

// podClass is what the drain does with one pod.
type podClass int

const (
	// ignored pods are not evicted and not waited for: DaemonSet and mirror pods, finished
	// pods, pods that tolerate the unschedulable taint (they would come straight back), pods
	// stuck terminating on a kubelet that no longer answers.
	ignored podClass = iota
	// terminating pods are already going; the drain waits for them.
	terminating
	// blocking pods opted out of eviction; the drain waits for them to finish on their own.
	blocking
	// evictable pods are evicted in the first wave.
	evictable
	// critical pods are evicted in the second wave, once the first is gone.
	critical
)

// classify says what the drain does with pod at now.
func classify(pod *corev1.Pod, now time.Time) podClass {
	switch {
	case podutil.IsTerminal(pod):
		return ignored
	case pod.DeletionTimestamp != nil:
		if now.After(pod.DeletionTimestamp.Add(stuckTerminatingAfter)) {
			return ignored
		}
		return terminating
	case podutil.IsMirror(pod), podutil.IsOwnedByDaemonSet(pod), toleratesUnschedulable(pod):
		return ignored
	case podutil.DoNotEvict(pod):
		return blocking
	case isCritical(pod):
		return critical
	default:
		return evictable
	}
}

// isCritical reports whether the pod runs with one of the two system priority classes; those go
// last, as a careful operator would drain.
func isCritical(pod *corev1.Pod) bool {
	return pod.Spec.PriorityClassName == "system-cluster-critical" || pod.Spec.PriorityClassName == "system-node-critical"
}

// toleratesUnschedulable reports whether the pod tolerates the taint the node lifecycle controller
// puts on a cordoned node; such a pod would be scheduled right back.
func toleratesUnschedulable(pod *corev1.Pod) bool {
	taint := corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	_, untolerated := scheduling.FirstUntolerated(pod.Spec.Tolerations, []corev1.Taint{taint}, false)
	return !untolerated
}
