package state

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/kerf-autoscaler/kerf/pkg/podutil"
)

// IsProvisionable reports whether Kerf should find room for the pod: the kube-scheduler tried and
// could not place it, and nothing else will. A pod with status.nominatedNodeName has a place: it
// is preempting lower-priority pods on that node, or Kerf's batch gate hinted the node it was
// planned onto; the kube-scheduler clears the name when the pod fits nowhere.
func IsProvisionable(pod *corev1.Pod) bool {
	return pod.Spec.NodeName == "" &&
		pod.Status.NominatedNodeName == "" &&
		pod.DeletionTimestamp == nil &&
		!podutil.IsTerminal(pod) &&
		markedUnschedulable(pod) &&
		// DaemonSet pods are planned as overhead on every new node; they never drive a launch.
		!podutil.IsOwnedByDaemonSet(pod) &&
		!podutil.IsMirror(pod)
}

func markedUnschedulable(pod *corev1.Pod) bool {
	c := PodScheduled(pod)
	return c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
}

// PodScheduled returns the pod's PodScheduled condition, nil when the scheduler has not written one.
func PodScheduled(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodScheduled {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}
