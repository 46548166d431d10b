package lifecycle

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// terminationPoll is how soon a deleted Machine looks again at an instance it terminated, until
// the cloud reports it shutting down or gone.
const terminationPoll = 2 * time.Second

// launchedAt is when the Machine's launch was recorded; false while it has not launched.
func launchedAt(machine *v1alpha5.Machine) (time.Time, bool) {
	launched := v1alpha5.FindCondition(machine.Status.Conditions, v1alpha5.MachineLaunched)
	if launched == nil || launched.Status != metav1.ConditionTrue {
		return time.Time{}, false
	}
	return launched.LastTransitionTime.Time, true
}

// describeLag is how long after a launch EC2 may still answer that the instance does not exist
// (its API is eventually consistent; seconds in practice). Past it, "not found" means gone; a
// longer lag leaves the instance to garbage collection.
const describeLag = 10 * time.Second

// finalize lets a deleted Machine go the way every node leaves: its Node is deleted and drained
// by the termination controller (which terminates the instance), and only once the Node is gone
// and the cloud reports the instance going or gone is the finalizer removed. A Machine whose Node
// never registered terminates its instance directly. Every step is safe to repeat.
func (c *Controller) finalize(ctx context.Context, machine *v1alpha5.Machine) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(machine, v1alpha5.TerminationFinalizer) {
		return reconcile.Result{}, nil
	}
	if machine.Status.ProviderID != "" {
		node, err := state.NodeForProviderID(ctx, c.kubeClient, machine.Status.ProviderID)
		if err != nil {
			return reconcile.Result{}, fmt.Errorf("finalizing machine %s, %w", machine.Name, err)
		}
		if node != nil {
			if node.DeletionTimestamp.IsZero() {
				if err := c.kubeClient.Delete(ctx, node); client.IgnoreNotFound(err) != nil {
					return reconcile.Result{}, fmt.Errorf("deleting node %s of machine %s, %w", node.Name, machine.Name, err)
				}
				log.FromContext(ctx).Info("deleted the node of a deleted machine", "Node", klog.KObj(node))
			}
			// The Node's removal wakes this Machine through the Node watch; the requeue only
			// covers a missed event.
			return reconcile.Result{RequeueAfter: time.Minute}, nil
		}
	}
	err := c.cloudProvider.Delete(ctx, machine)
	if err == nil {
		return reconcile.Result{RequeueAfter: terminationPoll}, nil
	}
	if !cloudprovider.IsMachineNotFoundError(err) {
		return reconcile.Result{}, fmt.Errorf("terminating machine %s, %w", machine.Name, err)
	}
	if at, ok := launchedAt(machine); ok && c.clock.Since(at) < describeLag {
		// EC2 may not describe an instance launched a moment ago: "not found" then means "not yet",
		// and letting the Machine go would leave the instance running untracked.
		return reconcile.Result{RequeueAfter: terminationPoll}, nil
	}
	stored := machine.DeepCopy()
	controllerutil.RemoveFinalizer(machine, v1alpha5.TerminationFinalizer)
	if err := c.kubeClient.Patch(ctx, machine, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, fmt.Errorf("removing finalizer from machine %s, %w", machine.Name, err)
	}
	reason := c.metrics.finalized(machine)
	log.FromContext(ctx).Info("terminated machine", "providerID", machine.Status.ProviderID, "reason", reason)
	return reconcile.Result{}, nil
}
