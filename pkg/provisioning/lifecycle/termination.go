package lifecycle

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
)

// finalize terminates the instance of a deleted Machine, then lets the Machine go. An instance
// that is already gone counts as terminated, so this is safe to repeat.
func (c *Controller) finalize(ctx context.Context, machine *v1alpha5.Machine) error {
	if !controllerutil.ContainsFinalizer(machine, v1alpha5.TerminationFinalizer) {
		return nil
	}
	if err := cloudprovider.IgnoreMachineNotFoundError(c.cloudProvider.Delete(ctx, machine)); err != nil {
		return fmt.Errorf("terminating machine %s, %w", machine.Name, err)
	}
	stored := machine.DeepCopy()
	controllerutil.RemoveFinalizer(machine, v1alpha5.TerminationFinalizer)
	if err := c.kubeClient.Patch(ctx, machine, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing finalizer from machine %s, %w", machine.Name, err)
	}
	reason := c.metrics.finalized(machine)
	log.FromContext(ctx).Info("terminated machine", "providerID", machine.Status.ProviderID, "reason", reason)
	return nil
}
