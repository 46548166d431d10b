package podutil_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/podutil"
)

// The annotation is spelled out here to keep the package free of Kerf's API types; it must stay
// the one users write on their pods.
func TestDoNotEvictAnnotation_IsTheAPIsKey(t *testing.T) {
	if podutil.DoNotEvictAnnotation != v1alpha5.DoNotEvictPodAnnotationKey {
		t.Errorf("%q, want %q", podutil.DoNotEvictAnnotation, v1alpha5.DoNotEvictPodAnnotationKey)
	}
}

func TestPredicates_ClassifyPods(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		name                                 string
		pod                                  corev1.Pod
		terminal, mirror, daemon, doNotEvict bool
	}{
		{name: "plain", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}},
		{name: "succeeded", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, terminal: true},
		{name: "failed", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, terminal: true},
		{name: "mirror", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"kubernetes.io/config.mirror": "h"}}}, mirror: true},
		{name: "daemonset", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Controller: &yes}}}}, daemon: true},
		{name: "daemonset owner, not controller", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet"}}}}},
		{name: "do-not-evict", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{podutil.DoNotEvictAnnotation: "true"}}}, doNotEvict: true},
		{name: "safe-to-evict false", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{podutil.SafeToEvictAnnotation: "false"}}}, doNotEvict: true},
		{name: "safe-to-evict true", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{podutil.SafeToEvictAnnotation: "true"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &tc.pod
			if got := [4]bool{podutil.IsTerminal(p), podutil.IsMirror(p), podutil.IsOwnedByDaemonSet(p), podutil.DoNotEvict(p)}; got != [4]bool{tc.terminal, tc.mirror, tc.daemon, tc.doNotEvict} {
				t.Errorf("terminal, mirror, daemon, do-not-evict = %v, want %v", got, [4]bool{tc.terminal, tc.mirror, tc.daemon, tc.doNotEvict})
			}
		})
	}
}
