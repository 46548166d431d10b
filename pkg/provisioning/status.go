package provisioning

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/podutil"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// +kubebuilder:rbac:groups=karpenter.sh,resources=provisioners/status,verbs=patch

// StatusController keeps each Provisioner's status.resources at the summed capacity of its nodes
// and launching Machines, the figure `kubectl get provisioners` shows next to the limits, and
// exports the same pass as metrics: nodes, pods on them, and how much of each limit is used.
type StatusController struct {
	kube    client.Client
	metrics *Metrics
}

// NewStatusController returns the Provisioner status controller.
func NewStatusController(kube client.Client, metrics *Metrics) *StatusController {
	return &StatusController{kube: kube, metrics: metrics}
}

// Reconcile recomputes one Provisioner's usage.
func (c *StatusController) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	p := &v1alpha5.Provisioner{}
	if err := c.kube.Get(ctx, req.NamespacedName, p); err != nil {
		if client.IgnoreNotFound(err) == nil {
			c.metrics.forgetProvisioner(req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	owned := client.MatchingLabels{v1alpha5.ProvisionerNameLabelKey: p.Name}
	nodes, machines := &corev1.NodeList{}, &v1alpha5.MachineList{}
	if err := c.kube.List(ctx, nodes, owned); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing nodes of provisioner %s, %w", p.Name, err)
	}
	if err := c.kube.List(ctx, machines, owned); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing machines of provisioner %s, %w", p.Name, err)
	}
	pods, err := c.runningPods(ctx, nodes.Items)
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("counting pods of provisioner %s, %w", p.Name, err)
	}
	usage := state.ProvisionerUsage(nodes.Items, machines.Items)[p.Name]
	var limits corev1.ResourceList
	if p.Spec.Limits != nil {
		limits = p.Spec.Limits.Resources
	}
	c.metrics.setProvisioner(p.Name, len(nodes.Items), pods, usage, limits)
	if equality.Semantic.DeepEqual(usage, p.Status.Resources) {
		return reconcile.Result{}, nil
	}
	stored := p.DeepCopy()
	p.Status.Resources = usage
	if err := c.kube.Status().Patch(ctx, p, client.MergeFrom(stored)); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("patching status of provisioner %s, %w", p.Name, err))
	}
	return reconcile.Result{}, nil
}

// runningPods counts the pods bound to nodes that have not finished.
func (c *StatusController) runningPods(ctx context.Context, nodes []corev1.Node) (int, error) {
	count := 0
	for i := range nodes {
		pods := &corev1.PodList{}
		// Only counted, never kept or changed: no need to copy every pod out of the cache.
		if err := c.kube.List(ctx, pods, client.MatchingFields{state.PodNodeNameIndex: nodes[i].Name}, client.UnsafeDisableDeepCopy); err != nil {
			return 0, fmt.Errorf("listing pods on node %s, %w", nodes[i].Name, err)
		}
		for j := range pods.Items {
			if !podutil.IsTerminal(&pods.Items[j]) {
				count++
			}
		}
	}
	return count, nil
}

// Register reconciles a Provisioner whenever it, one of its Nodes or one of its Machines changes,
// or a pod binds to, finishes on or leaves one of its Nodes. The manager's cache must have
// state.AddIndexes.
func (c *StatusController) Register(ctx context.Context, mgr ctrl.Manager) error {
	toProvisioner := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return provisionerRequest(o.GetLabels())
	})
	podToProvisioner := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		pod, ok := o.(*corev1.Pod)
		if !ok || pod.Spec.NodeName == "" {
			return nil
		}
		node := &corev1.Node{}
		if err := c.kube.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node); err != nil {
			// A Node already gone took its pods out of the count when it went.
			return nil
		}
		return provisionerRequest(node.Labels)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("provisioning.status").
		For(&v1alpha5.Provisioner{}).
		Watches(&corev1.Node{}, toProvisioner).
		Watches(&v1alpha5.Machine{}, toProvisioner).
		Watches(&corev1.Pod{}, podToProvisioner, builder.WithPredicates(podCountChanged)).
		Complete(c)
}

func provisionerRequest(labels map[string]string) []reconcile.Request {
	if name := labels[v1alpha5.ProvisionerNameLabelKey]; name != "" {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
	}
	return nil
}

// podCountChanged passes the pod events that change how many pods run on a node: a bound pod
// appearing or going, a pod binding, and a bound pod finishing.
var podCountChanged = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return boundPod(e.Object) },
	DeleteFunc: func(e event.DeleteEvent) bool { return boundPod(e.Object) },
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, oldOK := e.ObjectOld.(*corev1.Pod)
		pod, ok := e.ObjectNew.(*corev1.Pod)
		return oldOK && ok && pod.Spec.NodeName != "" &&
			(old.Spec.NodeName != pod.Spec.NodeName || podutil.IsTerminal(old) != podutil.IsTerminal(pod))
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}

func boundPod(o client.Object) bool {
	pod, ok := o.(*corev1.Pod)
	return ok && pod.Spec.NodeName != ""
}
