package awsim

import (
	"context"
	"net/http"
)

// ec2Handler runs one EC2 action and returns the response body (a struct with xml tags).
type ec2Handler func(ctx context.Context, p params) (any, *apiError)

// ec2Actions lists the EC2 actions awsim implements; any other is InvalidAction.
func (s *Server) ec2Actions() map[string]ec2Handler {
	w := s.world
	return map[string]ec2Handler{
		"DescribeAvailabilityZones":     w.describeAvailabilityZones,
		"DescribeSubnets":               w.describeSubnets,
		"DescribeSecurityGroups":        w.describeSecurityGroups,
		"DescribeImages":                w.describeImages,
		"DescribeInstanceTypes":         w.describeInstanceTypes,
		"DescribeInstanceTypeOfferings": w.describeInstanceTypeOfferings,
		"DescribeSpotPriceHistory":      w.describeSpotPriceHistory,
		"CreateLaunchTemplate":          w.createLaunchTemplate,
		"DescribeLaunchTemplates":       w.describeLaunchTemplates,
		"DeleteLaunchTemplate":          w.deleteLaunchTemplate,
		"CreateFleet":                   w.createFleet,
		"RunInstances":                  w.runInstances,
		"DescribeInstances":             w.describeInstances,
		"TerminateInstances":            w.terminateInstances,
		"CreateTags":                    w.createTags,
	}
}

func (s *Server) serveEC2(rw http.ResponseWriter, ctx context.Context, reqID, action string, p params) {
	h, ok := s.ec2Actions()[action]
	if !ok {
		writeError(rw, protoEC2, reqID, "", sender(codeInvalidAction, "The action %s is not valid for this web service.", action))
		return
	}
	if dry, _ := p.boolean("DryRun"); dry {
		// EC2 answers a permitted dry run with this error, never by acting.
		writeError(rw, protoEC2, reqID, "", &apiError{Code: codeDryRunOperation,
			Message: "Request would have succeeded, but DryRun flag is set.", Status: http.StatusPreconditionFailed})
		return
	}
	// Each action sees the world at one instant: due transitions first, then the action.
	w := s.world
	w.mu.Lock()
	w.advanceLocked()
	body, err := h(ctx, p)
	w.mu.Unlock()
	if err != nil {
		writeError(rw, protoEC2, reqID, "", err)
		return
	}
	writeEC2(rw, action, reqID, body)
}

// xmlTag is EC2's <item><key/><value/></item> tag shape.
type xmlTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func xmlTags(tags []tag) []xmlTag {
	out := make([]xmlTag, len(tags))
	for i, t := range tags {
		out[i] = xmlTag{Key: t.Key, Value: t.Value}
	}
	return out
}
