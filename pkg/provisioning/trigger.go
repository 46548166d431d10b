package provisioning

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
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

// ChangeTrigger opens a batch when something other than a pod changes what a Solve could do: a
// Provisioner is created or its spec changes, or a Machine that never got a Node goes away (no
// capacity for its launch, no Node in time). Its pods are still pending, and no pod event would
// say so.
type ChangeTrigger struct {
	batcher *Batcher
}

// NewChangeTrigger returns a ChangeTrigger feeding batcher.
func NewChangeTrigger(batcher *Batcher) *ChangeTrigger {
	return &ChangeTrigger{batcher: batcher}
}

// Reconcile triggers the batcher; the watches' predicates decided it was worth it.
func (t *ChangeTrigger) Reconcile(context.Context, reconcile.Request) (reconcile.Result, error) {
	t.batcher.Trigger()
	return reconcile.Result{}, nil
}

// Register watches Provisioners and Machines.
func (t *ChangeTrigger) Register(mgr ctrl.Manager) error {
	specChanged := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return true },
		UpdateFunc:  func(e event.UpdateEvent) bool { return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	// The Snapshot leaves a deleting Machine out, so its pods can be planned again as soon as
	// deletion starts; the final removal triggers too, in case the first one raced the cache.
	unregisteredGone := predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetDeletionTimestamp() == nil && e.ObjectNew.GetDeletionTimestamp() != nil && !registered(e.ObjectNew)
		},
		DeleteFunc:  func(e event.DeleteEvent) bool { return !registered(e.Object) },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("provisioning.changetrigger").
		For(&v1alpha5.Provisioner{}, builder.WithPredicates(specChanged)).
		Watches(&v1alpha5.Machine{}, &handler.EnqueueRequestForObject{}, builder.WithPredicates(unregisteredGone)).
		Complete(t)
}

// registered reports whether a Machine's Node came: once it did, the Machine's pods are the Node's.
func registered(o client.Object) bool {
	machine, ok := o.(*v1alpha5.Machine)
	return ok && v1alpha5.IsConditionTrue(machine.Status.Conditions, v1alpha5.MachineRegistered)
}
