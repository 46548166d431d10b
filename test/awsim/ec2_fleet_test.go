package awsim

import (
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// fleetInput builds an instant fleet over the given types in every cluster subnet.
func (e *env) fleetInput(t *testing.T, ltID string, capacityType ec2types.DefaultTargetCapacityType, count int32, types ...string) *ec2.CreateFleetInput {
	t.Helper()
	subnets, err := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:karpenter.sh/discovery"), Values: []string{"kerf"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var overrides []ec2types.FleetLaunchTemplateOverridesRequest
	for _, typ := range types {
		for _, s := range subnets.Subnets {
			overrides = append(overrides, ec2types.FleetLaunchTemplateOverridesRequest{InstanceType: ec2types.InstanceType(typ), SubnetId: s.SubnetId})
		}
	}
	return &ec2.CreateFleetInput{
		Type: ec2types.FleetTypeInstant,
		LaunchTemplateConfigs: []ec2types.FleetLaunchTemplateConfigRequest{{
			LaunchTemplateSpecification: &ec2types.FleetLaunchTemplateSpecificationRequest{LaunchTemplateId: aws.String(ltID), Version: aws.String("$Latest")},
			Overrides:                   overrides,
		}},
		TargetCapacitySpecification: &ec2types.TargetCapacitySpecificationRequest{TotalTargetCapacity: aws.Int32(count), DefaultTargetCapacityType: capacityType},
		SpotOptions:                 &ec2types.SpotOptionsRequest{AllocationStrategy: ec2types.SpotAllocationStrategyLowestPrice},
		OnDemandOptions:             &ec2types.OnDemandOptionsRequest{AllocationStrategy: ec2types.FleetOnDemandAllocationStrategyLowestPrice},
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
			Tags: []ec2types.Tag{{Key: aws.String("karpenter.sh/provisioner-name"), Value: aws.String("default")}}}},
	}
}

func fleetInstanceIDs(out *ec2.CreateFleetOutput) []string {
	var ids []string
	for _, fi := range out.Instances {
		ids = append(ids, fi.InstanceIds...)
	}
	sort.Strings(ids)
	return ids
}

func TestCreateFleet_LowestPriceLaunchesCheapestPoolAndTags(t *testing.T) {
	e := start(t, Options{})
	lt := e.launchTemplate(t, "kerf-default")
	out, err := e.ec2.CreateFleet(e.ctx, e.fleetInput(t, lt, ec2types.DefaultTargetCapacityTypeOnDemand, 3, "m5.xlarge", "m5.large", "c5.large"))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 0 || len(out.Instances) != 1 || len(out.Instances[0].InstanceIds) != 3 {
		t.Fatalf("want 3 instances from one pool and no errors, got %+v errors %+v", out.Instances, out.Errors)
	}
	fi := out.Instances[0]
	if fi.InstanceType != "c5.large" || fi.Lifecycle != ec2types.InstanceLifecycleOnDemand {
		t.Errorf("lowest-price on-demand picked %s/%s, want c5.large (0.085) on-demand", fi.InstanceType, fi.Lifecycle)
	}
	desc, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: fi.InstanceIds})
	if err != nil {
		t.Fatal(err)
	}
	inst := desc.Reservations[0].Instances[0]
	if inst.State.Name != ec2types.InstanceStateNameRunning || aws.ToInt32(inst.State.Code) != 16 {
		t.Errorf("boot delay 0: state %s, want running", inst.State.Name)
	}
	tags := map[string]string{}
	for _, tg := range inst.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags["karpenter.sh/provisioner-name"] != "default" || tags["aws:ec2:fleet-id"] != aws.ToString(out.FleetId) {
		t.Errorf("instance tags %v, want the fleet's tag specification and aws:ec2:fleet-id", tags)
	}
	if aws.ToString(inst.PrivateDnsName) == "" || aws.ToString(inst.Placement.AvailabilityZone) == "" || inst.InstanceLifecycle != "" {
		t.Errorf("instance lacks DNS name or zone, or claims a lifecycle: %+v", inst)
	}
}

func TestCreateFleet_ClientTokenReturnsSameInstances(t *testing.T) {
	e := start(t, Options{})
	lt := e.launchTemplate(t, "kerf-default")
	in := e.fleetInput(t, lt, ec2types.DefaultTargetCapacityTypeSpot, 2, "m5.large")
	in.ClientToken = aws.String("machine-default-abcde")
	first, err := e.ec2.CreateFleet(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.ec2.CreateFleet(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := fleetInstanceIDs(first), fleetInstanceIDs(again); len(a) != 2 || len(b) != 2 || a[0] != b[0] || a[1] != b[1] {
		t.Errorf("repeat with the same token launched %v, first call %v", b, a)
	}
	if n := len(e.srv.World.Instances()); n != 2 {
		t.Errorf("world holds %d instances after a repeated token, want 2", n)
	}
	in.TargetCapacitySpecification.TotalTargetCapacity = aws.Int32(5)
	_, err = e.ec2.CreateFleet(e.ctx, in)
	if code := errorCode(t, err); code != "IdempotentParameterMismatch" {
		t.Errorf("same token, different request: got %q, want IdempotentParameterMismatch", code)
	}
}

func TestCreateFleet_InsufficientCapacityFallsBackAndReportsError(t *testing.T) {
	e := start(t, Options{})
	lt := e.launchTemplate(t, "kerf-default")
	in := e.fleetInput(t, lt, ec2types.DefaultTargetCapacityTypeSpot, 1, "m5.large", "m5.xlarge")
	// Find the cheapest spot pool, then exhaust it.
	probe, err := e.ec2.CreateFleet(e.ctx, in)
	if err != nil || len(probe.Instances) != 1 {
		t.Fatalf("probe fleet: %v %+v", err, probe)
	}
	cheapest := probe.Instances[0]
	zone := aws.ToString(cheapest.LaunchTemplateAndOverrides.Overrides.AvailabilityZone)
	e.srv.World.SetCapacity(string(cheapest.InstanceType), zone, "spot", 0)

	// The SDK writes its generated ClientToken into the input; a reused input is a retry.
	in.ClientToken = nil
	out, err := e.ec2.CreateFleet(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 1 || aws.ToString(out.Errors[0].ErrorCode) != "InsufficientInstanceCapacity" || out.Errors[0].Lifecycle != ec2types.InstanceLifecycleSpot {
		t.Fatalf("want one spot InsufficientInstanceCapacity error, got %+v", out.Errors)
	}
	if ov := out.Errors[0].LaunchTemplateAndOverrides.Overrides; ov.InstanceType != cheapest.InstanceType || aws.ToString(ov.AvailabilityZone) != zone {
		t.Errorf("error names %s/%s, want the exhausted pool %s/%s", ov.InstanceType, aws.ToString(ov.AvailabilityZone), cheapest.InstanceType, zone)
	}
	if len(out.Instances) != 1 || len(out.Instances[0].InstanceIds) != 1 {
		t.Fatalf("want the next cheapest pool to launch, got %+v", out.Instances)
	}
	if o := out.Instances[0].LaunchTemplateAndOverrides.Overrides; o.InstanceType == cheapest.InstanceType && aws.ToString(o.AvailabilityZone) == zone {
		t.Errorf("launched into the exhausted pool")
	}

	// Every pool empty: no instances, an error per pool tried.
	for _, typ := range []string{"m5.large", "m5.xlarge"} {
		for _, z := range e.srv.World.Zones() {
			e.srv.World.SetCapacity(typ, z, "spot", 0)
		}
	}
	in.ClientToken = nil
	none, err := e.ec2.CreateFleet(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(none.Instances) != 0 || len(none.Errors) != 6 {
		t.Errorf("all pools empty: %d instance groups, %d errors; want 0 and 6", len(none.Instances), len(none.Errors))
	}
}

func TestCreateFleet_AllocationStrategies(t *testing.T) {
	tests := []struct {
		name     string
		strategy ec2types.SpotAllocationStrategy
		limit    int // capacity of the cheapest pool
		want     func(t *testing.T, out *ec2.CreateFleetOutput, cheapest string)
	}{
		{name: "lowest-price fills from the cheapest pool", strategy: ec2types.SpotAllocationStrategyLowestPrice, limit: -1,
			want: func(t *testing.T, out *ec2.CreateFleetOutput, cheapest string) {
				if len(out.Instances) != 1 || poolOf(out.Instances[0]) != cheapest {
					t.Errorf("got pools %v, want only %s", pools(out), cheapest)
				}
			}},
		{name: "price-capacity-optimized skips a pool too shallow for the request", strategy: ec2types.SpotAllocationStrategyPriceCapacityOptimized, limit: 2,
			want: func(t *testing.T, out *ec2.CreateFleetOutput, cheapest string) {
				if len(out.Errors) != 0 || len(out.Instances) != 1 || poolOf(out.Instances[0]) == cheapest {
					t.Errorf("got pools %v errors %d, want one deeper pool and no errors", pools(out), len(out.Errors))
				}
			}},
		{name: "capacity-optimized prefers unlimited pools over a limited cheap one", strategy: ec2types.SpotAllocationStrategyCapacityOptimized, limit: 10,
			want: func(t *testing.T, out *ec2.CreateFleetOutput, cheapest string) {
				if len(out.Instances) != 1 || poolOf(out.Instances[0]) == cheapest {
					t.Errorf("got pools %v, want an unlimited pool", pools(out))
				}
			}},
		{name: "diversified spreads across pools", strategy: ec2types.SpotAllocationStrategyDiversified, limit: -1,
			want: func(t *testing.T, out *ec2.CreateFleetOutput, _ string) {
				if len(out.Instances) != 4 {
					t.Errorf("got pools %v, want 4 different pools", pools(out))
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, Options{})
			lt := e.launchTemplate(t, "kerf-default")
			in := e.fleetInput(t, lt, ec2types.DefaultTargetCapacityTypeSpot, 4, "m5.large", "m5.xlarge", "c5.large")
			in.SpotOptions.AllocationStrategy = tc.strategy
			cheapest := e.cheapestSpotPool(t, "m5.large", "m5.xlarge", "c5.large")
			if tc.limit >= 0 {
				typ, zone := splitPool(cheapest)
				e.srv.World.SetCapacity(typ, zone, "spot", tc.limit)
			}
			out, err := e.ec2.CreateFleet(e.ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(fleetInstanceIDs(out)); n != 4 {
				t.Fatalf("launched %d, want 4", n)
			}
			tc.want(t, out, cheapest)
		})
	}
}

func TestCreateFleet_UnofferedZoneIsUnsupportedError(t *testing.T) {
	e := start(t, Options{})
	lt := e.launchTemplate(t, "kerf-default")
	var missing string
	for _, typ := range e.srv.World.catalog.types {
		if !offeredIn(e.srv.World.opts.Seed, typ.Name, 2) && typ.Arch == "amd64" {
			missing = typ.Name
			break
		}
	}
	in := e.fleetInput(t, lt, ec2types.DefaultTargetCapacityTypeOnDemand, 1, missing)
	in.LaunchTemplateConfigs[0].Overrides = in.LaunchTemplateConfigs[0].Overrides[2:3] // the third zone only
	out, err := e.ec2.CreateFleet(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Instances) != 0 || len(out.Errors) == 0 || aws.ToString(out.Errors[0].ErrorCode) != "Unsupported" {
		t.Errorf("%s in the third zone: instances %+v errors %+v; want Unsupported", missing, out.Instances, out.Errors)
	}
}

func TestCreateFleet_BootDelayKeepsInstancesPendingUntilClockMoves(t *testing.T) {
	e := start(t, Options{BootDelay: 45 * time.Second})
	lt := e.launchTemplate(t, "kerf-default")
	out, err := e.ec2.CreateFleet(e.ctx, e.fleetInput(t, lt, ec2types.DefaultTargetCapacityTypeOnDemand, 1, "m5.large"))
	if err != nil {
		t.Fatal(err)
	}
	ids := fleetInstanceIDs(out)
	state := func() ec2types.InstanceStateName {
		d, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		if err != nil {
			t.Fatal(err)
		}
		return d.Reservations[0].Instances[0].State.Name
	}
	if s := state(); s != ec2types.InstanceStateNamePending {
		t.Fatalf("right after launch: %s, want pending", s)
	}
	e.clock.Step(44 * time.Second)
	if s := state(); s != ec2types.InstanceStateNamePending {
		t.Fatalf("before the boot delay: %s, want pending", s)
	}
	e.clock.Step(time.Second)
	if s := state(); s != ec2types.InstanceStateNameRunning {
		t.Fatalf("after the boot delay: %s, want running", s)
	}
}

func (e *env) cheapestSpotPool(t *testing.T, types ...string) string {
	t.Helper()
	var its []ec2types.InstanceType
	for _, typ := range types {
		its = append(its, ec2types.InstanceType(typ))
	}
	out, err := e.ec2.DescribeSpotPriceHistory(e.ctx, &ec2.DescribeSpotPriceHistoryInput{InstanceTypes: its})
	if err != nil {
		t.Fatal(err)
	}
	best, bestPrice := "", 1e9
	for _, p := range out.SpotPriceHistory {
		var f float64
		_, _ = fmtSscan(aws.ToString(p.SpotPrice), &f)
		if f < bestPrice {
			best, bestPrice = string(p.InstanceType)+"@"+aws.ToString(p.AvailabilityZone), f
		}
	}
	return best
}

func poolOf(fi ec2types.CreateFleetInstance) string {
	return string(fi.InstanceType) + "@" + aws.ToString(fi.LaunchTemplateAndOverrides.Overrides.AvailabilityZone)
}

func pools(out *ec2.CreateFleetOutput) []string {
	var ps []string
	for _, fi := range out.Instances {
		ps = append(ps, poolOf(fi))
	}
	return ps
}

func splitPool(p string) (string, string) {
	for i := range p {
		if p[i] == '@' {
			return p[:i], p[i+1:]
		}
	}
	return p, ""
}

func TestCreateFleet_OnDemandPrioritizedFollowsPriorityOverPrice(t *testing.T) {
	e := start(t, Options{})
	lt := e.launchTemplate(t, "kerf-default")
	in := e.fleetInput(t, lt, ec2types.DefaultTargetCapacityTypeOnDemand, 2, "c5.large", "m5.2xlarge")
	for i := range in.LaunchTemplateConfigs[0].Overrides {
		o := &in.LaunchTemplateConfigs[0].Overrides[i]
		if o.InstanceType == "m5.2xlarge" {
			o.Priority = aws.Float64(0)
		} else {
			o.Priority = aws.Float64(1)
		}
	}
	in.OnDemandOptions.AllocationStrategy = ec2types.FleetOnDemandAllocationStrategyPrioritized
	out, err := e.ec2.CreateFleet(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Instances) != 1 || out.Instances[0].InstanceType != "m5.2xlarge" {
		t.Errorf("prioritized picked %v, want the priority-0 m5.2xlarge over the cheaper c5.large", pools(out))
	}
}

func TestCreateFleet_MixedTargetsSplitOnDemandAndSpot(t *testing.T) {
	e := start(t, Options{})
	lt := e.launchTemplate(t, "kerf-default")
	in := e.fleetInput(t, lt, ec2types.DefaultTargetCapacityTypeSpot, 5, "m5.large")
	in.TargetCapacitySpecification.OnDemandTargetCapacity = aws.Int32(2)
	out, err := e.ec2.CreateFleet(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	n := map[ec2types.InstanceLifecycle]int{}
	for _, fi := range out.Instances {
		n[fi.Lifecycle] += len(fi.InstanceIds)
	}
	if n[ec2types.InstanceLifecycleOnDemand] != 2 || n[ec2types.InstanceLifecycleSpot] != 3 {
		t.Errorf("lifecycles %v, want 2 on-demand and 3 spot", n)
	}
}
