// Package podutil answers what kind of pod a pod is — finished, a mirror of a static pod, a
// DaemonSet's, opted out of eviction — the same way for provisioning, termination and
// consolidation. It imports nothing but the Kubernetes API types, so the pure packages
// (scheduling, consolidation) can use it too.
package podutil

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// DoNotEvictAnnotation opts a pod out of eviction (v1alpha5.DoNotEvictPodAnnotationKey,
	// spelled out so this package stays free of Kerf's API types).
	DoNotEvictAnnotation = "karpenter.sh/do-not-evict"
	// SafeToEvictAnnotation is Cluster Autoscaler's; "false" is honoured like do-not-evict so CA
	// users keep their annotations.
	SafeToEvictAnnotation = "cluster-autoscaler.kubernetes.io/safe-to-evict"
	// mirrorAnnotation marks the API server's copy of a static pod; the kubelet owns those.
	mirrorAnnotation = "kubernetes.io/config.mirror"
)

// IsTerminal reports whether the pod has finished and holds no resources.
func IsTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// IsMirror reports whether the pod is the API server's copy of a static pod.
func IsMirror(pod *corev1.Pod) bool { return pod.Annotations[mirrorAnnotation] != "" }

// IsOwnedByDaemonSet reports whether a DaemonSet controls the pod.
func IsOwnedByDaemonSet(pod *corev1.Pod) bool {
	owner := metav1.GetControllerOf(pod)
	return owner != nil && owner.Kind == "DaemonSet"
}

// DoNotEvict reports whether the pod opted out of eviction, with Karpenter's annotation or
// Cluster Autoscaler's.
func DoNotEvict(pod *corev1.Pod) bool {
	return pod.Annotations[DoNotEvictAnnotation] == "true" || pod.Annotations[SafeToEvictAnnotation] == "false"
}

// DoNotEvictReason names the annotation that keeps a DoNotEvict pod from being evicted, for
// Events and reasons.
func DoNotEvictReason(pod *corev1.Pod) string {
	if pod.Annotations[DoNotEvictAnnotation] == "true" {
		return DoNotEvictAnnotation + "=true"
	}
	return SafeToEvictAnnotation + "=false"
}
