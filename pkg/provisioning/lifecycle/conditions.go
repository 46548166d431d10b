package lifecycle

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

// Condition reasons the controller writes. Each says, in a word, what a user waits for.
const (
	ReasonLaunched             = "Launched"
	ReasonLaunchFailed         = "LaunchFailed"
	ReasonInsufficientCapacity = "InsufficientCapacity"
	// EventInsufficientCapacityError is the reason of the Event on a Machine that found no
	// capacity, Karpenter v0.31's.
	EventInsufficientCapacityError = "InsufficientCapacityError"
	ReasonRegistered               = "Registered"
	ReasonNodeNotFound             = "NodeNotFound"
	ReasonRegistrationTimeout      = "RegistrationTimeout"
	ReasonInitialized              = "Initialized"
	ReasonNodeNotReady             = "NodeNotReady"
	ReasonStartupTaintsExist       = "StartupTaintsExist"
	ReasonEphemeralTaintsExist     = "EphemeralTaintsExist"
	ReasonResourceNotReady         = "ResourceNotRegistered"
	ReasonNotLaunched              = "NotLaunched"
	ReasonNotRegistered            = "NotRegistered"
	ReasonNotInitialized           = "NotInitialized"
	ReasonReady                    = "Ready"
)

// setCondition records a condition, moving its transition time only when its status changes.
func setCondition(machine *v1alpha5.Machine, now time.Time, conditionType string, status metav1.ConditionStatus, reason, message string) {
	v1alpha5.SetCondition(&machine.Status.Conditions, v1alpha5.Condition{
		Type:               conditionType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: machine.Generation,
		LastTransitionTime: metav1.NewTime(now),
	})
}

// isTrue reports whether the Machine has the condition with status True.
func isTrue(machine *v1alpha5.Machine, conditionType string) bool {
	return v1alpha5.IsConditionTrue(machine.Status.Conditions, conditionType)
}

// setReady sums up the lifecycle conditions: Ready is True once the Machine is launched,
// registered and initialized, and otherwise names the first step it waits for.
func setReady(machine *v1alpha5.Machine, now time.Time) {
	for _, step := range []struct{ conditionType, reason string }{
		{v1alpha5.MachineLaunched, ReasonNotLaunched},
		{v1alpha5.MachineRegistered, ReasonNotRegistered},
		{v1alpha5.MachineInitialized, ReasonNotInitialized},
	} {
		if isTrue(machine, step.conditionType) {
			continue
		}
		message := step.conditionType + " is not True"
		status := metav1.ConditionUnknown
		if c := v1alpha5.FindCondition(machine.Status.Conditions, step.conditionType); c != nil {
			message = c.Message
			if c.Status == metav1.ConditionFalse {
				status = metav1.ConditionFalse
			}
		}
		setCondition(machine, now, v1alpha5.MachineReady, status, step.reason, message)
		return
	}
	setCondition(machine, now, v1alpha5.MachineReady, metav1.ConditionTrue, ReasonReady, "")
}
