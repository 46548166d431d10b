package termination

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestClassify_DecidesWhatTheDrainDoesWithEachPod(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pod := func(mutate func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		mutate(p)
		return p
	}
	deleting := func(at time.Time) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: at} }
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want podClass
	}{
		{"ordinary", pod(func(*corev1.Pod) {}), evictable},
		{"system-cluster-critical", pod(func(p *corev1.Pod) { p.Spec.PriorityClassName = "system-cluster-critical" }), critical},
		{"system-node-critical", pod(func(p *corev1.Pod) { p.Spec.PriorityClassName = "system-node-critical" }), critical},
		{"do-not-evict", pod(func(p *corev1.Pod) { p.Annotations = map[string]string{"karpenter.sh/do-not-evict": "true"} }), blocking},
		{"safe-to-evict false", pod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
		}), blocking},
		{"safe-to-evict true", pod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}
		}), evictable},
		{"critical and do-not-evict", pod(func(p *corev1.Pod) {
			p.Spec.PriorityClassName = "system-node-critical"
			p.Annotations = map[string]string{"karpenter.sh/do-not-evict": "true"}
		}), blocking},
		{"succeeded", pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), ignored},
		{"failed", pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), ignored},
		{"terminating", pod(deleting(now.Add(20 * time.Second))), terminating},
		{"stuck terminating past its deadline", pod(deleting(now.Add(-2 * time.Minute))), ignored},
		{"mirror", pod(func(p *corev1.Pod) { p.Annotations = map[string]string{"kubernetes.io/config.mirror": "x"} }), ignored},
		{"daemonset", pod(func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "ds", Controller: ptr(true)}}
		}), ignored},
		{"owned by a replicaset", pod(func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs", Controller: ptr(true)}}
		}), evictable},
		{"tolerates the cordon", pod(func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists}}
		}), ignored},
		{"tolerates everything", pod(func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		}), ignored},
		{"tolerates another NoSchedule taint", pod(func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		}), evictable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.pod, now); got != tc.want {
				t.Errorf("classify = %d, want %d", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
