package lifecycle

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
)

// launch creates the Machine's instance once. The cloud provider is idempotent on the Machine's
// UID, so repeating Create after a lost status write finds the same instance instead of launching
// another.
func (c *Controller) launch(ctx context.Context, s *scope) (phaseResult, error) {
	machine := s.machine
	if machine.Status.ProviderID != "" {
		c.launches.Delete(string(machine.UID))
		return phaseResult{}, nil
	}
	if replay, ok := c.launches.Get(string(machine.UID)); ok {
		// Launched by this process; the Machine read here predates the status write.
		c.record(machine, replay.(*v1alpha5.Machine))
		return phaseResult{}, nil
	}
	launched, err := c.cloudProvider.Create(ctx, machine)
	if err != nil {
		var ice *cloudprovider.InsufficientCapacityError
		c.metrics.launchFailed(machine, err)
		if errors.As(err, &ice) {
			return phaseResult{stop: true}, c.insufficientCapacity(ctx, machine, ice)
		}
		setCondition(machine, c.clock.Now(), v1alpha5.MachineLaunched, metav1.ConditionFalse, ReasonLaunchFailed, err.Error())
		c.recorder.Eventf(machine, nil, corev1.EventTypeWarning, ReasonLaunchFailed, "Launch", "Launching failed, retrying: %s", err)
		return phaseResult{}, fmt.Errorf("launching machine %s, %w", machine.Name, err)
	}
	c.launches.SetDefault(string(machine.UID), launched)
	c.record(machine, launched)
	c.metrics.launchSucceeded(machine)
	log.FromContext(ctx).Info("launched machine",
		"providerID", machine.Status.ProviderID,
		"instanceType", machine.Labels[v1alpha5.LabelInstanceType],
		"zone", machine.Labels[v1alpha5.LabelTopologyZone],
		"capacityType", machine.Labels[v1alpha5.CapacityTypeLabelKey])
	return phaseResult{}, nil
}

// record writes what the cloud launched onto the Machine: its labels, annotations, provider ID
// and resources, and the Launched condition.
func (c *Controller) record(machine, launched *v1alpha5.Machine) {
	if machine.Labels == nil {
		machine.Labels = map[string]string{}
	}
	for k, v := range launched.Labels {
		machine.Labels[k] = v
	}
	// The cloud's annotations (the node template's hash) go onto the Machine, and from there to
	// the Node, for drift to compare.
	if len(launched.Annotations) > 0 && machine.Annotations == nil {
		machine.Annotations = map[string]string{}
	}
	for k, v := range launched.Annotations {
		machine.Annotations[k] = v
	}
	machine.Status.ProviderID = launched.Status.ProviderID
	machine.Status.Capacity = launched.Status.Capacity
	machine.Status.Allocatable = launched.Status.Allocatable
	setCondition(machine, c.clock.Now(), v1alpha5.MachineLaunched, metav1.ConditionTrue, ReasonLaunched, "")
}

// insufficientCapacity records the offerings that had no capacity and deletes the Machine, so the
// next batch plans its pods onto offerings that still have some.
func (c *Controller) insufficientCapacity(ctx context.Context, machine *v1alpha5.Machine, ice *cloudprovider.InsufficientCapacityError) error {
	for _, o := range ice.Offerings {
		c.unavailable.MarkUnavailable(ctx, o.InstanceType, o.Zone, o.CapacityType)
	}
	setCondition(machine, c.clock.Now(), v1alpha5.MachineLaunched, metav1.ConditionFalse, ReasonInsufficientCapacity, ice.Error())
	c.recorder.Eventf(machine, nil, corev1.EventTypeWarning, EventInsufficientCapacityError, "Launch",
		"Deleting machine, no capacity in %d offering(s): %s", len(ice.Offerings), ice)
	log.FromContext(ctx).Info("deleting machine, insufficient capacity", "offerings", len(ice.Offerings), "error", ice.Error())
	return c.delete(ctx, machine, TerminationReasonInsufficientCapacity)
}
