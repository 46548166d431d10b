package cloudprovider

import (
	"errors"
	"fmt"
)

// InsufficientCapacityError means no requested offering could be launched. The provisioner marks
// Offerings unavailable and plans around them in the next batch.
type InsufficientCapacityError struct {
	// Offerings that failed for lack of capacity, when the cloud said which.
	Offerings []UnavailableOffering
	err       error
}

// UnavailableOffering names one pool that had no capacity.
type UnavailableOffering struct {
	InstanceType, Zone, CapacityType string
}

// NewInsufficientCapacityError wraps err; offerings may be empty.
func NewInsufficientCapacityError(err error, offerings ...UnavailableOffering) error {
	return &InsufficientCapacityError{Offerings: offerings, err: err}
}

func (e *InsufficientCapacityError) Error() string {
	return fmt.Sprintf("insufficient capacity, %v", e.err)
}

func (e *InsufficientCapacityError) Unwrap() error { return e.err }

// IsInsufficientCapacityError reports whether err, or an error it wraps, is one.
func IsInsufficientCapacityError(err error) bool {
	var target *InsufficientCapacityError
	return errors.As(err, &target)
}

// IgnoreInsufficientCapacityError returns nil for such errors and err otherwise.
func IgnoreInsufficientCapacityError(err error) error {
	if IsInsufficientCapacityError(err) {
		return nil
	}
	return err
}

// MachineNotFoundError means the instance behind a Machine does not exist (any more).
type MachineNotFoundError struct {
	err error
}

// NewMachineNotFoundError wraps err.
func NewMachineNotFoundError(err error) error { return &MachineNotFoundError{err: err} }

func (e *MachineNotFoundError) Error() string { return fmt.Sprintf("machine not found, %v", e.err) }

func (e *MachineNotFoundError) Unwrap() error { return e.err }

// IsMachineNotFoundError reports whether err, or an error it wraps, is one.
func IsMachineNotFoundError(err error) bool {
	var target *MachineNotFoundError
	return errors.As(err, &target)
}

// IgnoreMachineNotFoundError returns nil for such errors and err otherwise, for deletes that may
// repeat.
func IgnoreMachineNotFoundError(err error) error {
	if IsMachineNotFoundError(err) {
		return nil
	}
	return err
}
