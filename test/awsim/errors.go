package awsim

import (
	"fmt"
	"net/http"
)

// AWS error codes awsim returns, in one place. Names and HTTP statuses follow the EC2, SQS, SSM
// and Pricing API references: client mistakes are 400, throttling is 503, and EC2's capacity
// errors are server errors (500) exactly as EC2 reports them.
const (
	// Common to every protocol.
	codeMissingAuthenticationToken = "MissingAuthenticationToken"
	codeInvalidAction              = "InvalidAction"
	codeMissingParameter           = "MissingParameter"
	codeInvalidParameterValue      = "InvalidParameterValue"
	codeInvalidParameterCombo      = "InvalidParameterCombination"
	codeRequestLimitExceeded       = "RequestLimitExceeded"
	codeInternalError              = "InternalError"
	codeThrottling                 = "ThrottlingException"
	codeMissingAction              = "MissingAction"
	codeDryRunOperation            = "DryRunOperation"
	codeUnknownOperation           = "UnknownOperationException"
	codeSerialization              = "SerializationException"

	// EC2.
	codeInvalidPaginationToken        = "InvalidPaginationToken"
	codeInvalidInstanceIDNotFound     = "InvalidInstanceID.NotFound"
	codeInvalidInstanceIDMalformed    = "InvalidInstanceID.Malformed"
	codeInvalidSubnetIDNotFound       = "InvalidSubnetID.NotFound"
	codeInvalidGroupNotFound          = "InvalidGroup.NotFound"
	codeInvalidAMIIDNotFound          = "InvalidAMIID.NotFound"
	codeInvalidAMIIDMalformed         = "InvalidAMIID.Malformed"
	codeInvalidID                     = "InvalidID"
	codeInvalidLaunchTemplateIDNF     = "InvalidLaunchTemplateId.NotFound"
	codeInvalidLaunchTemplateIDMalf   = "InvalidLaunchTemplateId.Malformed"
	codeInvalidLaunchTemplateNameNF   = "InvalidLaunchTemplateName.NotFoundException"
	codeInvalidLaunchTemplateNameDup  = "InvalidLaunchTemplateName.AlreadyExistsException"
	codeInvalidLaunchTemplateNameMalf = "InvalidLaunchTemplateName.MalformedException"
	codeInvalidLaunchTemplateVersion  = "InvalidLaunchTemplateId.VersionNotFound"
	codeInvalidInstanceType           = "InvalidInstanceType"
	codeIdempotentParameterMismatch   = "IdempotentParameterMismatch"
	codeInsufficientInstanceCapacity  = "InsufficientInstanceCapacity"
	codeVcpuLimitExceeded             = "VcpuLimitExceeded"
	codeMaxSpotInstanceCountExceeded  = "MaxSpotInstanceCountExceeded"
	codeUnsupported                   = "Unsupported"
	codeUnsupportedOperation          = "UnsupportedOperation"
	codeSpotMaxPriceTooLow            = "SpotMaxPriceTooLow"
	codeInsufficientFreeAddresses     = "InsufficientFreeAddressesInSubnet"

	// SQS (JSON protocol __type shapes; the query code goes in X-Amzn-Query-Error).
	codeSQSQueueDoesNotExist    = "QueueDoesNotExist"
	codeSQSQueueNameExists      = "QueueNameExists"
	codeSQSReceiptHandleInvalid = "ReceiptHandleIsInvalid"
	codeSQSInvalidAttributeName = "InvalidAttributeName"
	codeSQSMessageNotInflight   = "MessageNotInflight"

	// SSM.
	codeSSMParameterNotFound = "ParameterNotFound"
	codeSSMValidation        = "ValidationException"

	// Pricing.
	codePricingInvalidParameter = "InvalidParameterException"
	codePricingNotFound         = "NotFoundException"
	codePricingInvalidNextToken = "InvalidNextTokenException"
)

// sqsQueryCode maps an SQS JSON error shape to the legacy query error code that the JSON
// protocol also reports (X-Amzn-Query-Error) and the query protocol reports as Code.
func sqsQueryCode(code string) string {
	switch code {
	case codeSQSQueueDoesNotExist:
		return "AWS.SimpleQueueService.NonExistentQueue"
	case codeSQSQueueNameExists:
		return "QueueAlreadyExists"
	case codeSQSMessageNotInflight:
		return "AWS.SimpleQueueService.MessageNotInflight"
	}
	return code
}

// apiError is an error as AWS reports it: a code, a message and an HTTP status.
type apiError struct {
	Code    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// sender builds a client (400) error.
func sender(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// server builds a server-side (500) error, used where AWS itself reports one.
func server(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusInternalServerError}
}

func missingParameter(name string) *apiError {
	return sender(codeMissingParameter, "The request must contain the parameter %s", name)
}

func invalidValue(name, value string) *apiError {
	return sender(codeInvalidParameterValue, "Value (%s) for parameter %s is invalid.", value, name)
}

// throttled is the throttling error of each protocol family: EC2 answers 503
// RequestLimitExceeded, the JSON services 400 ThrottlingException.
func throttled(p protocol) *apiError {
	if p == protoEC2 {
		return &apiError{Code: codeRequestLimitExceeded, Message: "Request limit exceeded.", Status: http.StatusServiceUnavailable}
	}
	return &apiError{Code: codeThrottling, Message: "Rate exceeded", Status: http.StatusBadRequest}
}
