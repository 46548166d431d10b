package awsim

import (
	"context"
	"encoding/json"
	"net/http"
)

const (
	contentTypeJSON10 = "application/x-amz-json-1.0"
	contentTypeJSON11 = "application/x-amz-json-1.1"
)

// serveJSON dispatches the JSON-protocol services by their X-Amz-Target service name.
func (s *Server) serveJSON(rw http.ResponseWriter, r *http.Request, reqID, service, op string, body []byte) {
	var (
		out any
		err *apiError
		ct  = contentTypeJSON11
	)
	switch service {
	case "AmazonSQS":
		ct = contentTypeJSON10
		ctx := context.WithValue(r.Context(), endpointKey{}, endpointOf(r))
		out, err = s.world.sqsJSON(ctx, op, body)
	case "AmazonSSM":
		out, err = s.world.ssm(op, body)
	case "AWSPriceListService":
		out, err = s.world.pricing(op, body)
	default:
		err = sender(codeUnknownOperation, "Unknown service %s", service)
	}
	if err != nil {
		writeError(rw, protoJSON, reqID, service, err)
		return
	}
	writeJSON(rw, reqID, ct, out)
}

// decodeJSON reads a JSON request body; an empty body is an empty object.
func decodeJSON(body []byte, v any) *apiError {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return sender(codeSerialization, "Start of structure or map found where not expected, or the body is not JSON: %v", err)
	}
	return nil
}

func unknownOperation(op string) *apiError {
	return sender(codeUnknownOperation, "Unknown operation %s", op)
}
