package cloudprovider

import (
	"errors"
	"fmt"
	"testing"
)

func TestTypedErrors_SurviveWrappingAndAreIgnoredOnlyByTheirOwnHelper(t *testing.T) {
	cause := errors.New("InsufficientInstanceCapacity")
	ice := fmt.Errorf("launching machine default-x7k2p, %w", NewInsufficientCapacityError(cause, UnavailableOffering{"m5.large", "us-east-1a", "spot"}))
	notFound := fmt.Errorf("deleting machine default-x7k2p, %w", NewMachineNotFoundError(errors.New("InvalidInstanceID.NotFound")))
	other := errors.New("throttled")

	for _, tc := range []struct {
		name                 string
		err                  error
		isICE, isNotFound    bool
		ignoredICE, ignoredN error
	}{
		{name: "insufficient capacity", err: ice, isICE: true, ignoredICE: nil, ignoredN: ice},
		{name: "not found", err: notFound, isNotFound: true, ignoredICE: notFound, ignoredN: nil},
		{name: "other", err: other, ignoredICE: other, ignoredN: other},
		{name: "nil", err: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsInsufficientCapacityError(tc.err); got != tc.isICE {
				t.Errorf("IsInsufficientCapacityError = %v, want %v", got, tc.isICE)
			}
			if got := IsMachineNotFoundError(tc.err); got != tc.isNotFound {
				t.Errorf("IsMachineNotFoundError = %v, want %v", got, tc.isNotFound)
			}
			if got := IgnoreInsufficientCapacityError(tc.err); got != tc.ignoredICE {
				t.Errorf("IgnoreInsufficientCapacityError = %v, want %v", got, tc.ignoredICE)
			}
			if got := IgnoreMachineNotFoundError(tc.err); got != tc.ignoredN {
				t.Errorf("IgnoreMachineNotFoundError = %v, want %v", got, tc.ignoredN)
			}
		})
	}
	var target *InsufficientCapacityError
	if !errors.As(ice, &target) || len(target.Offerings) != 1 || target.Offerings[0].Zone != "us-east-1a" {
		t.Errorf("the failed offerings are lost through wrapping: %+v", target)
	}
	if want := "launching machine default-x7k2p, insufficient capacity, InsufficientInstanceCapacity"; ice.Error() != want {
		t.Errorf("error reads %q, want %q", ice.Error(), want)
	}
}
