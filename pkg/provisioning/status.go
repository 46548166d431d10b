package provisioning

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// +kubebuilder:rbac:groups=karpenter.sh,resources=provisioners/status,verbs=patch

// StatusController keeps each Provisioner's status.resources at the summed capacity of its nodes
// and launching Machines, the figure `kubectl get provisioners` shows next to the limits.
type StatusController struct {
	kube client.Client
}

// NewStatusController returns the Provisioner status controller.
func NewStatusController(kube client.Client) *StatusController {
	return &StatusController{kube: kube}
}

// Reconcile recomputes one Provisioner's usage.
func (c *StatusController) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	p := &v1alpha5.Provisioner{}
	if err := c.kube.Get(ctx, req.NamespacedName, p); err != nil {
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
	usage := state.ProvisionerUsage(nodes.Items, machines.Items)[p.Name]
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

// Register reconciles a Provisioner whenever it, one of its Nodes or one of its Machines changes.
func (c *StatusController) Register(mgr ctrl.Manager) error {
	toProvisioner := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if name := o.GetLabels()[v1alpha5.ProvisionerNameLabelKey]; name != "" {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
		}
		return nil
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("provisioning.status").
		For(&v1alpha5.Provisioner{}).
		Watches(&corev1.Node{}, toProvisioner).
		Watches(&v1alpha5.Machine{}, toProvisioner).
		Complete(c)
}
