package lifecycle

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

// liveness deletes a Machine whose Node has not registered within the registration TTL, so the
// pods planned onto it are planned again and the instance is terminated. The TTL runs from the
// MachineLaunched condition's last transition: from the launch, or for a Machine whose launch keeps
// failing with retryable errors, from its first failure.
func (c *Controller) liveness(ctx context.Context, s *scope) (phaseResult, error) {
	machine := s.machine
	if isTrue(machine, v1alpha5.MachineRegistered) {
		return phaseResult{}, nil
	}
	launched := v1alpha5.FindCondition(machine.Status.Conditions, v1alpha5.MachineLaunched)
	if launched == nil {
		return phaseResult{}, nil
	}
	waited := c.clock.Since(launched.LastTransitionTime.Time)
	if waited < c.registrationTTL {
		return phaseResult{requeueAfter: c.registrationTTL - waited}, nil
	}
	c.recorder.Eventf(machine, nil, corev1.EventTypeWarning, ReasonRegistrationTimeout, "Delete",
		"Deleting machine, no node registered within %s", c.registrationTTL)
	log.FromContext(ctx).Info("deleting machine, no node registered in time",
		"providerID", machine.Status.ProviderID, "registrationTTL", c.registrationTTL)
	return phaseResult{stop: true}, c.delete(ctx, machine, TerminationReasonLiveness)
}
