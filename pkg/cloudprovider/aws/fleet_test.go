package aws_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
)

// fleetRecorder passes every call to the real client and keeps the CreateFleet requests, so a
// test can read what Kerf asked EC2 for.
type fleetRecorder struct {
	aws.EC2API
	mu     sync.Mutex
	fleets []*ec2.CreateFleetInput
}

func (r *fleetRecorder) CreateFleet(ctx context.Context, in *ec2.CreateFleetInput, opts ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	r.mu.Lock()
	r.fleets = append(r.fleets, in)
	r.mu.Unlock()
	return r.EC2API.CreateFleet(ctx, in, opts...)
}

// catalogTypes returns n x86_64 catalog types without accelerators, priced so the order of
// the list is the order of price.
func (e *launchEnv) catalogTypes(n int) map[string]float64 {
	e.t.Helper()
	prices := map[string]float64{}
	pages := ec2.NewDescribeInstanceTypesPaginator(e.ec2, &ec2.DescribeInstanceTypesInput{})
	var names []string
	for pages.HasMorePages() {
		out, err := pages.NextPage(e.ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, it := range out.InstanceTypes {
			x86 := false
			for _, a := range it.ProcessorInfo.SupportedArchitectures {
				x86 = x86 || a == ec2types.ArchitectureTypeX8664
			}
			if x86 && it.GpuInfo == nil && it.InferenceAcceleratorInfo == nil && it.NeuronInfo == nil && !awssdk.ToBool(it.BareMetal) {
				names = append(names, string(it.InstanceType))
			}
		}
	}
	sort.Strings(names)
	if len(names) < n {
		e.t.Fatalf("catalog has %d x86 types, want %d", len(names), n)
	}
	for i, name := range names[:n] {
		prices[name] = 0.01 * float64(i+1)
	}
	return prices
}

func TestCreate_FleetRequestOffersTheSixtyCheapestTypesPerSubnet(t *testing.T) {
	probe := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	prices := probe.catalogTypes(70)
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), prices)
	rec := &fleetRecorder{EC2API: e.ec2}
	e.opts.EC2 = rec
	cp, err := aws.NewCloudProvider(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range prices {
		names = append(names, n)
	}
	m := newMachine("default-sixty", in(v1alpha5.CapacityTypeLabelKey, "spot", "on-demand"), in(v1alpha5.LabelInstanceType, names...))
	if _, err := cp.Create(e.ctx, m); err != nil {
		t.Fatal(err)
	}
	if len(rec.fleets) != 1 {
		t.Fatalf("%d CreateFleet calls, want 1", len(rec.fleets))
	}
	in := rec.fleets[0]
	if in.Type != ec2types.FleetTypeInstant || awssdk.ToInt32(in.TargetCapacitySpecification.TotalTargetCapacity) != 1 ||
		in.TargetCapacitySpecification.DefaultTargetCapacityType != ec2types.DefaultTargetCapacityTypeSpot {
		t.Errorf("fleet %s for %d %s, want instant for 1 spot", in.Type, awssdk.ToInt32(in.TargetCapacitySpecification.TotalTargetCapacity),
			in.TargetCapacitySpecification.DefaultTargetCapacityType)
	}
	if in.SpotOptions.AllocationStrategy != ec2types.SpotAllocationStrategyPriceCapacityOptimized ||
		in.OnDemandOptions.AllocationStrategy != ec2types.FleetOnDemandAllocationStrategyLowestPrice {
		t.Errorf("strategies %s / %s", in.SpotOptions.AllocationStrategy, in.OnDemandOptions.AllocationStrategy)
	}
	if awssdk.ToString(in.ClientToken) != string(m.UID) {
		t.Errorf("client token %q, want the Machine UID %q", awssdk.ToString(in.ClientToken), m.UID)
	}
	offered := map[string]map[string]bool{} // type -> subnets
	for _, cfg := range in.LaunchTemplateConfigs {
		for _, o := range cfg.Overrides {
			typ := string(o.InstanceType)
			if offered[typ] == nil {
				offered[typ] = map[string]bool{}
			}
			offered[typ][awssdk.ToString(o.SubnetId)] = true
		}
	}
	if len(offered) != aws.MaxInstanceTypes {
		t.Errorf("offered %d instance types, want %d", len(offered), aws.MaxInstanceTypes)
	}
	for name, price := range prices {
		if cheap := price <= 0.01*aws.MaxInstanceTypes+1e-9; cheap != (offered[name] != nil) {
			t.Errorf("%s at %.2f: offered=%v", name, price, offered[name] != nil)
		}
	}
	for typ, subnets := range offered {
		if len(subnets) > 3 {
			t.Errorf("%s offered in %d subnets, want at most one per zone", typ, len(subnets))
		}
	}
}

func TestCreate_ZoneRequirementNarrowsTheSubnets(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085, "m5.large": 0.096})
	for i := range 3 {
		launched := e.create(newMachine(fmt.Sprintf("default-zone-%d", i), onDemand(), in(v1alpha5.LabelTopologyZone, "us-east-1b")))
		if z := e.instance(launched.Status.ProviderID).Zone; z != "us-east-1b" {
			t.Errorf("launched in %s, want us-east-1b", z)
		}
	}
}

func TestClassify_GroupsAWSErrorCodes(t *testing.T) {
	tests := []struct {
		code string
		want aws.ErrorClass
	}{
		{"InsufficientInstanceCapacity", aws.ErrorClassCapacity},
		{"MaxSpotInstanceCountExceeded", aws.ErrorClassCapacity},
		{"InsufficientFreeAddressesInSubnet", aws.ErrorClassCapacity},
		{"RequestLimitExceeded", aws.ErrorClassThrottling},
		{"ThrottlingException", aws.ErrorClassThrottling},
		{"UnauthorizedOperation", aws.ErrorClassUnauthorized},
		{"AccessDeniedException", aws.ErrorClassUnauthorized},
		{"InvalidInstanceID.NotFound", aws.ErrorClassNotFound},
		{"ParameterNotFound", aws.ErrorClassNotFound},
		{"InvalidParameterValue", aws.ErrorClassInvalidParameter},
		{"IdempotentParameterMismatch", aws.ErrorClassInvalidParameter},
		{"SomethingNew", aws.ErrorClassOther},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			err := fmt.Errorf("creating fleet, %w", &smithy.GenericAPIError{Code: tc.code, Message: "m"})
			if got := aws.Classify(err); got != tc.want {
				t.Errorf("Classify(%s) = %s, want %s", tc.code, got, tc.want)
			}
		})
	}
	if got := aws.Classify(errors.New("dial tcp: connection refused")); got != aws.ErrorClassOther {
		t.Errorf("a transport error classified as %s", got)
	}
}

func TestCreate_UnauthorizedIsNotInsufficientCapacity(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	e.srv.World.SetFault("CreateFleet", awsimFault("UnauthorizedOperation"))
	_, err := e.cp.Create(e.ctx, newMachine("default-denied", onDemand()))
	if err == nil || aws.Classify(err) != aws.ErrorClassUnauthorized {
		t.Errorf("err = %v, want an unauthorized error", err)
	}
}
