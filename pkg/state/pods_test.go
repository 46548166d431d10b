package state

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func unschedulable(mutate func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable},
		}},
	}
	if mutate != nil {
		mutate(pod)
	}
	return pod
}

func TestIsProvisionable(t *testing.T) {
	now := metav1.Now()
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"marked unschedulable by the scheduler", unschedulable(nil), true},
		{"not yet tried by the scheduler", unschedulable(func(p *corev1.Pod) { p.Status.Conditions = nil }), false},
		{"scheduling gated", unschedulable(func(p *corev1.Pod) { p.Status.Conditions[0].Reason = corev1.PodReasonSchedulingGated }), false},
		{"bound", unschedulable(func(p *corev1.Pod) { p.Spec.NodeName = "n1" }), false},
		{"finished", unschedulable(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), false},
		{"being deleted", unschedulable(func(p *corev1.Pod) { p.DeletionTimestamp = &now }), false},
		{"owned by a DaemonSet", unschedulable(func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "ds", Controller: ptr.To(true)}}
		}), false},
		{"owned by a ReplicaSet", unschedulable(func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs", Controller: ptr.To(true)}}
		}), true},
		{"nominated by preemption", unschedulable(func(p *corev1.Pod) { p.Status.NominatedNodeName = "n1" }), false},
		{"static", unschedulable(func(p *corev1.Pod) { p.Annotations = map[string]string{"kubernetes.io/config.mirror": "x"} }), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsProvisionable(tc.pod); got != tc.want {
				t.Errorf("IsProvisionable = %v, want %v", got, tc.want)
			}
		})
	}
}
