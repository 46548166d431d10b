package aws

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/smithy-go"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// AWS error codes Kerf reacts to, in one place, grouped by what Kerf does about them.
const (
	// Capacity: the pool had nothing to give; the offering is marked unavailable and the
	// launch is retried elsewhere.
	codeInsufficientInstanceCapacity = "InsufficientInstanceCapacity"
	codeMaxSpotInstanceCountExceeded = "MaxSpotInstanceCountExceeded"
	codeVcpuLimitExceeded            = "VcpuLimitExceeded"
	codeUnfulfillableCapacity        = "UnfulfillableCapacity"
	codeUnsupported                  = "Unsupported"
	codeInsufficientFreeAddresses    = "InsufficientFreeAddressesInSubnet"
	codeSpotMaxPriceTooLow           = "SpotMaxPriceTooLow"

	// Throttling: retried with backoff.
	codeRequestLimitExceeded = "RequestLimitExceeded"
	codeThrottling           = "Throttling"
	codeThrottlingException  = "ThrottlingException"
	codeTooManyRequests      = "TooManyRequestsException"
	codeRequestThrottled     = "RequestThrottled" // SQS's own

	// Unauthorized: the node role or controller policy is wrong; retrying will not help.
	codeUnauthorizedOperation = "UnauthorizedOperation"
	codeAuthFailure           = "AuthFailure"
	codeAccessDenied          = "AccessDenied"
	codeAccessDeniedException = "AccessDeniedException"

	// Not found.
	codeInstanceNotFound           = "InvalidInstanceID.NotFound"
	codeLaunchTemplateNameNotFound = "InvalidLaunchTemplateName.NotFoundException"
	codeLaunchTemplateIDNotFound   = "InvalidLaunchTemplateId.NotFound"
	codeAMINotFound                = "InvalidAMIID.NotFound"
	codeSubnetNotFound             = "InvalidSubnetID.NotFound"
	codeGroupNotFound              = "InvalidGroup.NotFound"
	codeParameterNotFound          = "ParameterNotFound"

	// Invalid parameter: a bug or a bad AWSNodeTemplate.
	codeInvalidParameterValue       = "InvalidParameterValue"
	codeInvalidParameterCombination = "InvalidParameterCombination"
	codeInvalidParameter            = "InvalidParameter"
	codeMissingParameter            = "MissingParameter"
	codeIdempotentParameterMismatch = "IdempotentParameterMismatch"

	// Conflict: someone (often this process before a restart) made it first.
	codeLaunchTemplateNameExists = "InvalidLaunchTemplateName.AlreadyExistsException"
)

// ErrorClass is what kind of failure an AWS error code reports.
type ErrorClass int

const (
	ErrorClassOther ErrorClass = iota
	ErrorClassCapacity
	ErrorClassThrottling
	ErrorClassUnauthorized
	ErrorClassNotFound
	ErrorClassInvalidParameter
)

func (c ErrorClass) String() string {
	names := []string{"other", "capacity", "throttling", "unauthorized", "not-found", "invalid-parameter"}
	if int(c) < 0 || int(c) >= len(names) {
		return fmt.Sprintf("ErrorClass(%d)", int(c))
	}
	return names[c]
}

// ClassifyCode maps an AWS error code to its class.
func ClassifyCode(code string) ErrorClass {
	switch code {
	case codeInsufficientInstanceCapacity, codeMaxSpotInstanceCountExceeded, codeVcpuLimitExceeded,
		codeUnfulfillableCapacity, codeUnsupported, codeInsufficientFreeAddresses, codeSpotMaxPriceTooLow:
		return ErrorClassCapacity
	case codeRequestLimitExceeded, codeThrottling, codeThrottlingException, codeTooManyRequests, codeRequestThrottled:
		return ErrorClassThrottling
	case codeUnauthorizedOperation, codeAuthFailure, codeAccessDenied, codeAccessDeniedException:
		return ErrorClassUnauthorized
	case codeInstanceNotFound, codeLaunchTemplateNameNotFound, codeLaunchTemplateIDNotFound, codeAMINotFound,
		codeSubnetNotFound, codeGroupNotFound, codeParameterNotFound:
		return ErrorClassNotFound
	case codeInvalidParameterValue, codeInvalidParameterCombination, codeInvalidParameter, codeMissingParameter,
		codeIdempotentParameterMismatch:
		return ErrorClassInvalidParameter
	}
	return ErrorClassOther
}

// Classify returns the class of an error returned by an SDK call (ErrorClassOther for errors
// that are not AWS API errors, such as a cancelled context).
func Classify(err error) ErrorClass {
	return ClassifyCode(errorCode(err))
}

// errorCode is the AWS error code of err, "" when err is not an API error.
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// isLaunchTemplateNotFound reports whether err says a launch template it named does not exist:
// by ID when Kerf named its own template, by name when the node template names the user's.
func isLaunchTemplateNotFound(err error) bool {
	code := errorCode(err)
	return code == codeLaunchTemplateIDNotFound || code == codeLaunchTemplateNameNotFound
}

// IsNotFound reports whether err is an AWS "does not exist" error.
func IsNotFound(err error) bool { return err != nil && Classify(err) == ErrorClassNotFound }

// retrier repeats throttled calls with exponential backoff measured on an injected clock. The
// SDK's own retryer does the same in production; Kerf adds its own layer so that a burst of
// throttling during a launch costs a delay, never a failed Machine, and so tests (where the SDK
// retries are off) can exercise it without sleeping.
type retrier struct {
	clock    clock.Clock
	base     time.Duration
	max      time.Duration
	attempts int
}

// Defaults of the throttling backoff: 5 attempts, 200ms doubling to at most 5s.
const (
	defaultThrottleAttempts = 5
	defaultThrottleBase     = 200 * time.Millisecond
	maxThrottleBackoff      = 5 * time.Second
)

func newRetrier(clk clock.Clock, attempts int, base time.Duration) retrier {
	if attempts <= 0 {
		attempts = defaultThrottleAttempts
	}
	if base <= 0 {
		base = defaultThrottleBase
	}
	return retrier{clock: clk, base: base, max: maxThrottleBackoff, attempts: attempts}
}

// do runs fn until it succeeds, fails with an error that is not throttling, or runs out of
// attempts (returning the last throttling error).
func (r retrier) do(ctx context.Context, fn func() error) error {
	delay := r.base
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || Classify(err) != ErrorClassThrottling || attempt >= r.attempts {
			return err
		}
		log.FromContext(ctx).V(1).Info("retrying throttled AWS call", "attempt", attempt, "backoff", delay, "code", errorCode(err))
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-r.clock.After(delay):
		}
		delay = min(2*delay, r.max)
	}
}

// call runs one SDK call through the retrier and returns its output.
func call[T any](ctx context.Context, r retrier, fn func() (T, error)) (T, error) {
	var out T
	err := r.do(ctx, func() error {
		var err error
		out, err = fn()
		return err
	})
	return out, err
}
