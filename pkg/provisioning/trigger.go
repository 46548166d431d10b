package provisioning

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// RBAC for provisioning: read what a Snapshot needs, create Machines, and explain on pods.
//
// +kubebuilder:rbac:groups="",resources=pods;nodes;namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims;persistentvolumes,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=daemonsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses;csinodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=karpenter.sh,resources=provisioners,verbs=get;list;watch
// +kubebuilder:rbac:groups=karpenter.sh,resources=machines,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// PodTrigger opens a batch when a pod the kube-scheduler could not place appears or changes.
type PodTrigger struct {
	kube    client.Client
	batcher *Batcher
}

// NewPodTrigger returns a PodTrigger feeding batcher.
func NewPodTrigger(kube client.Client, batcher *Batcher) *PodTrigger {
	return &PodTrigger{kube: kube, batcher: batcher}
}

// Reconcile triggers the batcher for a provisionable pod.
func (t *PodTrigger) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	pod := &corev1.Pod{}
	if err := t.kube.Get(ctx, req.NamespacedName, pod); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if state.IsProvisionable(pod) {
		t.batcher.Trigger()
	}
	return reconcile.Result{}, nil
}

// Register watches unbound pods.
func (t *PodTrigger) Register(mgr ctrl.Manager) error {
	unbound := predicate.NewPredicateFuncs(func(o client.Object) bool {
		pod, ok := o.(*corev1.Pod)
		return ok && pod.Spec.NodeName == ""
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("provisioning.podtrigger").
		For(&corev1.Pod{}, builder.WithPredicates(unbound)).
		Complete(t)
}
