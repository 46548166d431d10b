package provisioning

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// StartupController measures how long pods waited for capacity: from the kube-scheduler marking a
// pod unschedulable to the pod binding to one of a Provisioner's nodes.
//
// It counts the pods a user would say Kerf provisioned for: the ones the pod trigger batches (see
// state.IsProvisionable) that then bound to a Node carrying a Provisioner's label. A pod that
// found room on a node Kerf does not own, or bound without ever waiting, tells nothing about Kerf
// and is left out. Whether Kerf's own Plan placed the pod is not recorded on the pod, and a pod
// may well land on a different Kerf node than the one nominated; either way it waited for Kerf.
//
// The binding is seen as one watch event, from unschedulable to bound, which happens once per
// pod, so each pod is observed once; a pod that bound while the controller was not running is
// not observed. Between that event and the reconcile that looks up the Node, the pod's two
// timestamps wait in a map, so memory is bounded by the work queue, not by the cluster's pods.
type StartupController struct {
	kube    client.Client
	clock   clock.Clock
	metrics *Metrics

	mu    sync.Mutex
	bound map[types.NamespacedName]binding
}

// binding is one pod's wait: since it was marked unschedulable, until it bound to node.
type binding struct {
	node   string
	waited time.Duration
}

// NewStartupController returns the pod startup controller.
func NewStartupController(kube client.Client, clk clock.Clock, metrics *Metrics) *StartupController {
	return &StartupController{kube: kube, clock: clk, metrics: metrics, bound: map[types.NamespacedName]binding{}}
}

// Reconcile observes a pod's wait if the node it bound to is a Provisioner's.
func (c *StartupController) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	c.mu.Lock()
	b, ok := c.bound[req.NamespacedName]
	c.mu.Unlock()
	if !ok {
		return reconcile.Result{}, nil
	}
	node := &corev1.Node{}
	err := c.kube.Get(ctx, client.ObjectKey{Name: b.node}, node)
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("getting node %s of pod %s, %w", b.node, req.NamespacedName, err)
	}
	c.mu.Lock()
	delete(c.bound, req.NamespacedName)
	c.mu.Unlock()
	if err != nil {
		log.FromContext(ctx).V(1).Info("pod bound to a node that is gone, leaving its startup unmeasured", "Pod", klog.KRef(req.Namespace, req.Name), "Node", klog.KRef("", b.node))
		return reconcile.Result{}, nil
	}
	if provisioner := node.Labels[v1alpha5.ProvisionerNameLabelKey]; provisioner != "" {
		c.metrics.observePodStartup(provisioner, b.waited)
	}
	return reconcile.Result{}, nil
}

// Register watches pods for the update that binds an unschedulable one.
func (c *StartupController) Register(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("provisioning.podstartup").
		Watches(&corev1.Pod{}, handler.Funcs{UpdateFunc: c.onUpdate}).
		Complete(c)
}

func (c *StartupController) onUpdate(_ context.Context, e event.UpdateEvent, queue workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	old, oldOK := e.ObjectOld.(*corev1.Pod)
	pod, ok := e.ObjectNew.(*corev1.Pod)
	if oldOK && ok && old.Status.Phase != corev1.PodRunning && pod.Status.Phase == corev1.PodRunning {
		c.metrics.podStartupTime.Observe(c.clock.Since(pod.CreationTimestamp.Time).Seconds())
	}
	if !oldOK || !ok || !state.IsProvisionable(old) || pod.Spec.NodeName == "" {
		return
	}
	key := client.ObjectKeyFromObject(pod)
	c.mu.Lock()
	c.bound[key] = binding{node: pod.Spec.NodeName, waited: startupDuration(old, pod, c.clock.Now())}
	c.mu.Unlock()
	queue.Add(reconcile.Request{NamespacedName: key})
}

// startupDuration is the time from old being marked unschedulable (or created, when the
// scheduler left no transition time) to pod being scheduled (or now, likewise).
func startupDuration(old, pod *corev1.Pod, now time.Time) time.Duration {
	since := old.CreationTimestamp.Time
	if c := state.PodScheduled(old); c != nil && !c.LastTransitionTime.IsZero() {
		since = c.LastTransitionTime.Time
	}
	until := now
	if c := state.PodScheduled(pod); c != nil && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
		until = c.LastTransitionTime.Time
	}
	return until.Sub(since)
}
