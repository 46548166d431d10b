package aws

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
)

// MaxInstanceTypes caps the instance types one launch offers EC2 Fleet: enough choice to ride
// out capacity shortages, few enough that the request stays small and the price bounded.
const MaxInstanceTypes = 60

// LaunchRequest is one instance to launch with EC2 Fleet.
type LaunchRequest struct {
	// MachineName names the Machine, for tags, errors and finding the instance again.
	MachineName string
	// ClientToken makes the launch idempotent; the Machine's UID.
	ClientToken string
	// CapacityType is spot or on-demand.
	CapacityType string
	// Overrides are the pools EC2 may pick from.
	Overrides []FleetOverride
	// Tags for the instance.
	Tags map[string]string
	// Context is the node template's spec.context, passed to CreateFleet as is.
	Context string
}

// FleetOverride is one pool: an instance type in a subnet, launched from a template.
type FleetOverride struct {
	LaunchTemplate LaunchTemplate
	// ImageID is the template's image, reported back on the launched instance.
	ImageID      string
	InstanceType string
	SubnetID     string
	Zone         string
}

// Launch implements InstanceProvider: one instant fleet for exactly one instance. EC2 tries the
// pools in the order of the allocation strategy and reports every pool that failed; when none
// launched and every failure was for capacity, the error is an InsufficientCapacityError naming
// the offerings, so provisioning plans around them. When one launched after others ran out, the
// instance names those in UnavailableOfferings.
//
// EC2 answers a client token it has seen with that request's instances, even once they are
// terminated, so a Machine whose instance was terminated before its provider ID was recorded
// would be handed the dead instance again. Launch checks the instance it is answered with and,
// when it is shutting down or terminated, launches again under a token derived from the dead
// instance; see renewedToken.
func (p *DefaultInstanceProvider) Launch(ctx context.Context, req LaunchRequest) (*Instance, error) {
	token := req.ClientToken
	for renewals := 0; ; renewals++ {
		inst, err := p.launchOnce(ctx, req)
		if err != nil {
			return nil, err
		}
		state, err := p.stateOf(ctx, inst.ID)
		if err != nil {
			return nil, fmt.Errorf("checking launched instance %s, %w", inst.ID, err)
		}
		if state != string(ec2types.InstanceStateNameShuttingDown) && state != string(ec2types.InstanceStateNameTerminated) {
			return inst, nil
		}
		if renewals == maxTokenRenewals {
			return nil, fmt.Errorf("creating fleet, client token %s answers with instance %s, which is %s", req.ClientToken, inst.ID, state)
		}
		log.FromContext(ctx).Info("client token answers with a terminated instance, launching under a new token",
			"Machine", klog.KRef("", req.MachineName), "instanceID", inst.ID, "state", state)
		req.ClientToken = renewedToken(token, inst.ID)
	}
}

// maxTokenRenewals bounds the launches of one Create past instances found dead: each was
// terminated between its launch and this Create, which does not happen many times in a row.
const maxTokenRenewals = 3

// spentToken ends a client token derived from one whose fleet launched nothing.
const spentToken = "spent"

// maxClientTokenLength is EC2's limit on a client token.
const maxClientTokenLength = 64

// renewedToken is the client token that launches again for token once deadID, the instance it
// launched, is gone. It depends only on the two, so a repeated Create (a restart, a lost status
// write) is answered with the same dead instance, derives the same token and finds the same
// new instance: the launch stays idempotent.
func renewedToken(token, deadID string) string {
	if t := token + "/" + deadID; len(t) <= maxClientTokenLength {
		return t
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(token)) // hash writes never fail
	return fmt.Sprintf("%016x/%s", h.Sum64(), deadID)
}

// stateOf is the state EC2 describes the instance in, "" while it does not describe it yet (EC2
// is eventually consistent: a new instance may not be described for a moment).
func (p *DefaultInstanceProvider) stateOf(ctx context.Context, id string) (string, error) {
	out, err := call(ctx, p.retry, func() (*ec2.DescribeInstancesOutput, error) {
		return p.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	})
	if errorCode(err) == codeInstanceNotFound {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("describing instance %s, %w", id, err)
	}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			if aws.ToString(inst.InstanceId) == id && inst.State != nil {
				return string(inst.State.Name), nil
			}
		}
	}
	return "", nil
}

// launchOnce is one CreateFleet under req's client token.
func (p *DefaultInstanceProvider) launchOnce(ctx context.Context, req LaunchRequest) (*Instance, error) {
	if len(req.Overrides) == 0 {
		return nil, fmt.Errorf("creating fleet, no instance type and subnet to launch")
	}
	createFleet := func(req LaunchRequest) (*ec2.CreateFleetOutput, error) {
		input := fleetInput(req)
		return call(ctx, p.retry, func() (*ec2.CreateFleetOutput, error) { return p.ec2.CreateFleet(ctx, input) })
	}
	out, err := createFleet(req)
	if errorCode(err) == codeIdempotentParameterMismatch {
		// The token was used by an earlier attempt whose request differed (prices or
		// availability moved between retries); that attempt's instance is the answer.
		inst, findErr := p.GetByMachine(ctx, req.MachineName)
		if findErr == nil {
			return inst, nil
		}
		if !cloudprovider.IsMachineNotFoundError(findErr) {
			return nil, errors.Join(fmt.Errorf("creating fleet, %w", err), findErr)
		}
		// That attempt launched nothing (its launch template was gone, its pools were empty),
		// and EC2 answers its token with that failure forever: launch under a token derived
		// from it, once. A repeat of this Create finds the instance by its tags, as above.
		if !strings.HasSuffix(req.ClientToken, "/"+spentToken) {
			req.ClientToken = renewedToken(req.ClientToken, spentToken)
			out, err = createFleet(req)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("creating fleet, %w", err)
	}
	for _, fi := range out.Instances {
		if len(fi.InstanceIds) == 0 {
			continue
		}
		inst := launchedInstance(req, fi)
		// EC2 may have tried cheaper pools first; they are as empty as if nothing had launched.
		inst.UnavailableOfferings = capacityFailures(req, out.Errors)
		return inst, nil
	}
	return nil, fleetError(req, out.Errors)
}

func fleetInput(req LaunchRequest) *ec2.CreateFleetInput {
	var configs []ec2types.FleetLaunchTemplateConfigRequest
	index := map[string]int{}
	for _, o := range req.Overrides {
		key := o.LaunchTemplate.ID + "/" + o.LaunchTemplate.Name
		i, ok := index[key]
		if !ok {
			i = len(configs)
			index[key] = i
			spec := &ec2types.FleetLaunchTemplateSpecificationRequest{Version: aws.String("$Latest")}
			if o.LaunchTemplate.ID != "" {
				spec.LaunchTemplateId = aws.String(o.LaunchTemplate.ID)
			} else {
				// A template the user named in the node template; Kerf never learned its ID.
				spec.LaunchTemplateName = aws.String(o.LaunchTemplate.Name)
			}
			configs = append(configs, ec2types.FleetLaunchTemplateConfigRequest{LaunchTemplateSpecification: spec})
		}
		configs[i].Overrides = append(configs[i].Overrides, ec2types.FleetLaunchTemplateOverridesRequest{
			InstanceType: ec2types.InstanceType(o.InstanceType), SubnetId: aws.String(o.SubnetID)})
	}
	capacityType := ec2types.DefaultTargetCapacityTypeOnDemand
	if req.CapacityType == v1alpha5.CapacityTypeSpot {
		capacityType = ec2types.DefaultTargetCapacityTypeSpot
	}
	var fleetContext *string
	if req.Context != "" {
		fleetContext = aws.String(req.Context)
	}
	return &ec2.CreateFleetInput{
		Type:                  ec2types.FleetTypeInstant,
		Context:               fleetContext,
		ClientToken:           aws.String(req.ClientToken),
		LaunchTemplateConfigs: configs,
		TargetCapacitySpecification: &ec2types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity: aws.Int32(1), DefaultTargetCapacityType: capacityType},
		// Spot: the cheapest among the pools least likely to be interrupted. On-demand: the
		// cheapest, since on-demand is not interrupted.
		SpotOptions:     &ec2types.SpotOptionsRequest{AllocationStrategy: ec2types.SpotAllocationStrategyPriceCapacityOptimized},
		OnDemandOptions: &ec2types.OnDemandOptionsRequest{AllocationStrategy: ec2types.FleetOnDemandAllocationStrategyLowestPrice},
		// The fleet carries the instance's tags too: Karpenter v0.31's IAM policy allows CreateFleet
		// only with the cluster and Provisioner tags on every resource it creates.
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: ec2Tags(req.Tags)},
			{ResourceType: ec2types.ResourceTypeFleet, Tags: ec2Tags(req.Tags)}},
	}
}

func launchedInstance(req LaunchRequest, fi ec2types.CreateFleetInstance) *Instance {
	inst := &Instance{ID: fi.InstanceIds[0], Type: string(fi.InstanceType), CapacityType: v1alpha5.CapacityTypeOnDemand,
		State: string(ec2types.InstanceStateNamePending), Tags: req.Tags}
	if fi.Lifecycle == ec2types.InstanceLifecycleSpot {
		inst.CapacityType = v1alpha5.CapacityTypeSpot
	}
	if lto := fi.LaunchTemplateAndOverrides; lto != nil && lto.Overrides != nil {
		inst.SubnetID = aws.ToString(lto.Overrides.SubnetId)
		inst.Zone = aws.ToString(lto.Overrides.AvailabilityZone)
	}
	// Fill what the answer left out from the override we sent.
	for _, o := range req.Overrides {
		if o.InstanceType == inst.Type && (inst.SubnetID == "" || o.SubnetID == inst.SubnetID) {
			inst.SubnetID, inst.ImageID = o.SubnetID, o.ImageID
			if inst.Zone == "" {
				inst.Zone = o.Zone
			}
			break
		}
	}
	return inst
}

// fleetError explains a fleet that launched nothing.
func fleetError(req LaunchRequest, fleetErrors []ec2types.CreateFleetError) error {
	if len(fleetErrors) == 0 {
		return fmt.Errorf("creating fleet, no instance launched and no error reported")
	}
	codes := map[string]int{}
	var other error
	for _, e := range fleetErrors {
		code := aws.ToString(e.ErrorCode)
		codes[code]++
		if ClassifyCode(code) != ErrorClassCapacity && other == nil {
			// An API error, so callers classify it and react to its code as to the same code
			// failing the whole request (a launch template gone is reported either way).
			other = &smithy.GenericAPIError{Code: code, Message: aws.ToString(e.ErrorMessage)}
		}
	}
	summary := codeSummary(codes)
	if other != nil {
		return fmt.Errorf("creating fleet, %s, %w", summary, other)
	}
	return cloudprovider.NewInsufficientCapacityError(fmt.Errorf("creating fleet, %s", summary), capacityFailures(req, fleetErrors)...)
}

// capacityFailures are the offerings a fleet reported as out of capacity, sorted, each once.
func capacityFailures(req LaunchRequest, fleetErrors []ec2types.CreateFleetError) []cloudprovider.UnavailableOffering {
	zoneOf := map[string]string{}
	for _, o := range req.Overrides {
		zoneOf[o.SubnetID] = o.Zone
	}
	var offerings []cloudprovider.UnavailableOffering
	seen := map[cloudprovider.UnavailableOffering]bool{}
	for _, e := range fleetErrors {
		if ClassifyCode(aws.ToString(e.ErrorCode)) != ErrorClassCapacity {
			continue
		}
		o := cloudprovider.UnavailableOffering{CapacityType: string(e.Lifecycle)}
		if o.CapacityType == "" {
			o.CapacityType = req.CapacityType
		}
		if lto := e.LaunchTemplateAndOverrides; lto != nil && lto.Overrides != nil {
			o.InstanceType = string(lto.Overrides.InstanceType)
			o.Zone = aws.ToString(lto.Overrides.AvailabilityZone)
			if o.Zone == "" {
				o.Zone = zoneOf[aws.ToString(lto.Overrides.SubnetId)]
			}
		}
		if o.CapacityType != req.CapacityType || o.InstanceType == "" || seen[o] {
			continue // EC2 reports a bad override once per lifecycle; only ours was tried
		}
		seen[o] = true
		offerings = append(offerings, o)
	}
	sort.Slice(offerings, func(i, j int) bool {
		a, b := offerings[i], offerings[j]
		if a.InstanceType != b.InstanceType {
			return a.InstanceType < b.InstanceType
		}
		return a.Zone < b.Zone
	})
	return offerings
}

// codeSummary renders error codes with counts, e.g. "InsufficientInstanceCapacity (3)".
func codeSummary(codes map[string]int) string {
	var parts []string
	for code, n := range codes {
		if n > 1 {
			parts = append(parts, fmt.Sprintf("%s (%d)", code, n))
		} else {
			parts = append(parts, code)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
