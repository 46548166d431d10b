package disruption

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/podutil"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// EmptinessName is the emptiness marker's name in logs.
const EmptinessName = "emptiness"

// Emptiness keeps the karpenter.sh/emptiness-timestamp annotation of Kerf's nodes true: set when
// a node of a Provisioner with ttlSecondsAfterEmpty has no pod but DaemonSet ones, removed as
// soon as a pod lands on it. The disruption pass deletes nodes whose timestamp is older than the
// TTL.
type Emptiness struct {
	kube  client.Client
	clock clock.Clock
}

// NewEmptiness wires the marker; kube reads from the cache with state's indexes.
func NewEmptiness(kube client.Client, clk clock.Clock) *Emptiness {
	return &Emptiness{kube: kube, clock: clk}
}

// Register adds the marker to the manager: it looks at a Node whenever it or one of its pods
// changes.
func (e *Emptiness) Register(mgr manager.Manager) error {
	err := ctrl.NewControllerManagedBy(mgr).
		Named(EmptinessName).
		For(&corev1.Node{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			pod, ok := o.(*corev1.Pod)
			if !ok || pod.Spec.NodeName == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: pod.Spec.NodeName}}}
		})).
		// Setting or clearing ttlSecondsAfterEmpty changes whether each of its nodes is watched.
		Watches(&v1alpha5.Provisioner{}, handler.EnqueueRequestsFromMapFunc(e.nodesOf)).
		Complete(e)
	if err != nil {
		return fmt.Errorf("building %s controller, %w", EmptinessName, err)
	}
	return nil
}

// nodesOf maps a Provisioner to its nodes.
func (e *Emptiness) nodesOf(ctx context.Context, o client.Object) []reconcile.Request {
	var nodes corev1.NodeList
	if err := e.kube.List(ctx, &nodes, client.MatchingLabels{v1alpha5.ProvisionerNameLabelKey: o.GetName()}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(nodes.Items))
	for _, n := range nodes.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Name: n.Name}})
	}
	return out
}

// Reconcile sets or clears one Node's emptiness timestamp.
func (e *Emptiness) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	n := &corev1.Node{}
	if err := e.kube.Get(ctx, req.NamespacedName, n); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if n.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	watched, err := e.watched(ctx, n)
	if err != nil {
		return reconcile.Result{}, err
	}
	empty := false
	if watched {
		if empty, err = e.empty(ctx, n); err != nil {
			return reconcile.Result{}, err
		}
	}
	_, marked := n.Annotations[v1alpha5.EmptinessTimestampAnnotationKey]
	if empty == marked {
		return reconcile.Result{}, nil
	}
	patch := client.MergeFrom(n.DeepCopy())
	if empty {
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[v1alpha5.EmptinessTimestampAnnotationKey] = e.clock.Now().UTC().Format(time.RFC3339)
	} else {
		delete(n.Annotations, v1alpha5.EmptinessTimestampAnnotationKey)
	}
	if err := e.kube.Patch(ctx, n, patch); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	return reconcile.Result{}, nil
}

// watched reports whether the node's emptiness matters: an initialized node of a Provisioner
// that sets ttlSecondsAfterEmpty.
func (e *Emptiness) watched(ctx context.Context, n *corev1.Node) (bool, error) {
	name := n.Labels[v1alpha5.ProvisionerNameLabelKey]
	if name == "" || n.Labels[v1alpha5.LabelNodeInitialized] != "true" {
		return false, nil
	}
	p := &v1alpha5.Provisioner{}
	if err := e.kube.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return p.Spec.TTLSecondsAfterEmpty != nil, nil
}

// empty reports whether no pod but DaemonSet, mirror, finished or leaving ones is bound to n.
func (e *Emptiness) empty(ctx context.Context, n *corev1.Node) (bool, error) {
	var pods corev1.PodList
	if err := e.kube.List(ctx, &pods, client.MatchingFields{state.PodNodeNameIndex: n.Name}); err != nil {
		return false, fmt.Errorf("listing pods of node %s, %w", n.Name, err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp == nil && !podutil.IsTerminal(p) && !podutil.IsMirror(p) && !podutil.IsOwnedByDaemonSet(p) {
			return false, nil
		}
	}
	return true, nil
}
