package awsim

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// run launches n on-demand instances of a type in the first zone with a tag.
func (e *env) run(t *testing.T, typ string, n int32, tags ...ec2types.Tag) []string {
	t.Helper()
	ami, _ := e.srv.World.Parameter("/aws/service/eks/optimized-ami/1.30/amazon-linux-2/recommended/image_id")
	if typ[1] == '6' && typ[2] == 'g' {
		ami, _ = e.srv.World.Parameter("/aws/service/eks/optimized-ami/1.30/amazon-linux-2-arm64/recommended/image_id")
	}
	in := &ec2.RunInstancesInput{ImageId: aws.String(ami), InstanceType: ec2types.InstanceType(typ), MinCount: aws.Int32(n), MaxCount: aws.Int32(n)}
	if len(tags) > 0 {
		in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: tags}}
	}
	out, err := e.ec2.RunInstances(e.ctx, in)
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	var ids []string
	for _, i := range out.Instances {
		ids = append(ids, aws.ToString(i.InstanceId))
	}
	return ids
}

func sdkTag(k, v string) ec2types.Tag { return ec2types.Tag{Key: aws.String(k), Value: aws.String(v)} }

func sdkFilter(name string, values ...string) ec2types.Filter {
	return ec2types.Filter{Name: aws.String(name), Values: values}
}

func describeIDs(t *testing.T, e *env, in *ec2.DescribeInstancesInput) []string {
	t.Helper()
	var ids []string
	pager := ec2.NewDescribeInstancesPaginator(e.ec2, in)
	for pager.HasMorePages() {
		out, err := pager.NextPage(e.ctx)
		if err != nil {
			t.Fatalf("DescribeInstances: %v", err)
		}
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				ids = append(ids, aws.ToString(i.InstanceId))
			}
		}
	}
	return ids
}

func TestDescribeInstances_Filters(t *testing.T) {
	e := start(t, Options{})
	a := e.run(t, "m5.large", 2, sdkTag("karpenter.sh/provisioner-name", "default"), sdkTag("team", "a"))
	b := e.run(t, "c5.large", 1, sdkTag("karpenter.sh/provisioner-name", "gpu"))
	c := e.run(t, "m6g.large", 1)
	if _, err := e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: c}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		filters []ec2types.Filter
		want    int
	}{
		{"tag key matches any value", []ec2types.Filter{sdkFilter("tag-key", "karpenter.sh/provisioner-name")}, 3},
		{"tag value must match", []ec2types.Filter{sdkFilter("tag:karpenter.sh/provisioner-name", "gpu")}, 1},
		{"tag wildcard", []ec2types.Filter{sdkFilter("tag:karpenter.sh/provisioner-name", "def*")}, 2},
		{"filters are ANDed", []ec2types.Filter{sdkFilter("tag-key", "karpenter.sh/provisioner-name"), sdkFilter("instance-type", "c5.large")}, 1},
		{"values are ORed", []ec2types.Filter{sdkFilter("instance-type", "c5.large", "m6g.large")}, 2},
		{"state name", []ec2types.Filter{sdkFilter("instance-state-name", "pending", "running")}, 3},
		{"terminating excluded by state", []ec2types.Filter{sdkFilter("instance-state-name", "shutting-down")}, 1},
		{"instance id", []ec2types.Filter{sdkFilter("instance-id", b[0])}, 1},
		{"no match", []ec2types.Filter{sdkFilter("tag:team", "b")}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := describeIDs(t, e, &ec2.DescribeInstancesInput{Filters: tc.filters}); len(got) != tc.want {
				t.Errorf("got %d instances %v, want %d", len(got), got, tc.want)
			}
		})
	}
	if got := describeIDs(t, e, &ec2.DescribeInstancesInput{InstanceIds: a}); len(got) != 2 {
		t.Errorf("by IDs: got %v", got)
	}
}

func TestDescribeInstances_PaginatesWithoutLosingInstances(t *testing.T) {
	e := start(t, Options{})
	want := map[string]bool{}
	for i := 0; i < 3; i++ {
		for _, id := range e.run(t, "m5.large", 9) {
			want[id] = true
		}
	}
	pages := 0
	got := map[string]bool{}
	pager := ec2.NewDescribeInstancesPaginator(e.ec2, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	for pager.HasMorePages() {
		out, err := pager.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				got[aws.ToString(i.InstanceId)] = true
			}
		}
	}
	if len(got) != len(want) || pages != 6 {
		t.Errorf("got %d instances over %d pages, want %d over 6", len(got), pages, len(want))
	}
}

func TestTerminateInstances_ShutsDownThenTerminatesAndFreesAddress(t *testing.T) {
	e := start(t, Options{})
	subnetIPs := func() int32 {
		out, err := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{sdkFilter("availability-zone", "us-east-1a"), sdkFilter("tag-key", "karpenter.sh/discovery")}})
		if err != nil || len(out.Subnets) != 1 {
			t.Fatalf("DescribeSubnets: %v %+v", err, out)
		}
		return aws.ToInt32(out.Subnets[0].AvailableIpAddressCount)
	}
	before := subnetIPs()
	ids := e.run(t, "m5.large", 3)
	if got := subnetIPs(); got != before-3 {
		t.Errorf("after 3 launches: %d free addresses, want %d", got, before-3)
	}
	out, err := e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: ids[:1]})
	if err != nil {
		t.Fatal(err)
	}
	sc := out.TerminatingInstances[0]
	if sc.PreviousState.Name != ec2types.InstanceStateNameRunning || sc.CurrentState.Name != ec2types.InstanceStateNameShuttingDown {
		t.Errorf("state change %s -> %s, want running -> shutting-down", sc.PreviousState.Name, sc.CurrentState.Name)
	}
	e.clock.Step(shutdownDuration)
	d, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: ids[:1]})
	if err != nil {
		t.Fatal(err)
	}
	inst := d.Reservations[0].Instances[0]
	if inst.State.Name != ec2types.InstanceStateNameTerminated || aws.ToString(inst.StateReason.Code) != "Client.UserInitiatedShutdown" {
		t.Errorf("after shutdown: %s (%v), want terminated by the user", inst.State.Name, inst.StateReason)
	}
	if got := subnetIPs(); got != before-2 {
		t.Errorf("after one termination: %d free addresses, want %d", got, before-2)
	}
	e.clock.Step(terminatedVisibility)
	_, err = e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: ids[:1]})
	if code := errorCode(t, err); code != "InvalidInstanceID.NotFound" {
		t.Errorf("an hour after termination: %q, want InvalidInstanceID.NotFound", code)
	}
}

// Drift compares an instance's subnet and security groups with the node template's selection, so
// they must read as EC2 gives them: the launch's groups, or the VPC's default group when it named
// none; and nothing once the instance is terminated and its network interface gone.
func TestDescribeInstances_SubnetAndSecurityGroupsAsEC2ReportsThem(t *testing.T) {
	e := start(t, Options{})
	groups, err := e.ec2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{} // name -> ID
	for _, g := range groups.SecurityGroups {
		ids[aws.ToString(g.GroupName)] = aws.ToString(g.GroupId)
	}
	subnets, err := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{sdkFilter("availability-zone", "us-east-1b"), sdkFilter("tag-key", "karpenter.sh/discovery")}})
	if err != nil || len(subnets.Subnets) != 1 {
		t.Fatalf("DescribeSubnets: %v", err)
	}
	subnet := aws.ToString(subnets.Subnets[0].SubnetId)
	ami, _ := e.srv.World.Parameter("/aws/service/eks/optimized-ami/1.30/amazon-linux-2/recommended/image_id")
	out, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(ami), InstanceType: "m5.large", MinCount: aws.Int32(1),
		MaxCount: aws.Int32(1), SubnetId: aws.String(subnet), SecurityGroupIds: []string{ids["eks-cluster-sg-kerf"], ids["default"]}})
	if err != nil {
		t.Fatal(err)
	}
	named := aws.ToString(out.Instances[0].InstanceId)
	unnamed := e.run(t, "m5.large", 1)[0]

	describe := func(id string) ec2types.Instance {
		t.Helper()
		d, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil || len(d.Reservations) != 1 || len(d.Reservations[0].Instances) != 1 {
			t.Fatalf("DescribeInstances(%s): %v", id, err)
		}
		return d.Reservations[0].Instances[0]
	}
	groupsOf := func(inst ec2types.Instance) []string {
		var out []string
		for _, g := range inst.SecurityGroups {
			out = append(out, aws.ToString(g.GroupId)+"/"+aws.ToString(g.GroupName))
		}
		return out
	}
	for _, tc := range []struct {
		id, subnet string
		groups     []string
	}{
		{named, subnet, []string{ids["eks-cluster-sg-kerf"] + "/eks-cluster-sg-kerf", ids["default"] + "/default"}},
		{unnamed, "", []string{ids["default"] + "/default"}},
	} {
		inst := describe(tc.id)
		if got := groupsOf(inst); !reflect.DeepEqual(got, tc.groups) {
			t.Errorf("%s: security groups %v, want %v", tc.id, got, tc.groups)
		}
		if got := aws.ToString(inst.SubnetId); got == "" || (tc.subnet != "" && got != tc.subnet) || aws.ToString(inst.VpcId) == "" {
			t.Errorf("%s: subnet %q in VPC %q, want %q in the cluster VPC", tc.id, got, aws.ToString(inst.VpcId), tc.subnet)
		}
	}
	if got := describeIDs(t, e, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{sdkFilter("instance.group-id", ids["eks-cluster-sg-kerf"])}}); !reflect.DeepEqual(got, []string{named}) {
		t.Errorf("instances in the cluster group %v, want %s", got, named)
	}

	if _, err := e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{named}}); err != nil {
		t.Fatal(err)
	}
	if inst := describe(named); len(inst.SecurityGroups) != 2 || aws.ToString(inst.SubnetId) != subnet {
		t.Errorf("shutting down: groups %v subnet %q, want them kept until terminated", groupsOf(inst), aws.ToString(inst.SubnetId))
	}
	e.clock.Step(shutdownDuration)
	inst := describe(named)
	if len(inst.SecurityGroups) != 0 || inst.SubnetId != nil || inst.VpcId != nil || inst.PrivateIpAddress != nil {
		t.Errorf("terminated: groups %v subnet %v VPC %v address %v, want none", groupsOf(inst), inst.SubnetId, inst.VpcId, inst.PrivateIpAddress)
	}
	if got := describeIDs(t, e, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{sdkFilter("subnet-id", subnet)}}); len(got) != 0 {
		t.Errorf("instances in subnet %s after the only one there terminated: %v, want none", subnet, got)
	}
}

func TestCreateTags_AppliesToInstancesAndRefusesUnknownIDs(t *testing.T) {
	e := start(t, Options{})
	ids := e.run(t, "m5.large", 1, sdkTag("Name", "old"))
	_, err := e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: ids, Tags: []ec2types.Tag{sdkTag("Name", "new"), sdkTag("karpenter.sh/registered", "true")}})
	if err != nil {
		t.Fatal(err)
	}
	got := describeIDs(t, e, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{sdkFilter("tag:Name", "new"), sdkFilter("tag-key", "karpenter.sh/registered")}})
	if len(got) != 1 {
		t.Errorf("retagged instance not found by its new tags: %v", got)
	}
	_, err = e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: append(ids, "i-0123456789abcdef0"), Tags: []ec2types.Tag{sdkTag("x", "y")}})
	if code := errorCode(t, err); code != "InvalidInstanceID.NotFound" {
		t.Errorf("unknown ID: %q, want InvalidInstanceID.NotFound", code)
	}
	if n := len(describeIDs(t, e, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{sdkFilter("tag-key", "x")}})); n != 0 {
		t.Errorf("a failed CreateTags tagged %d instances, want none", n)
	}
}

func TestRunInstances_InsufficientCapacityAndIdempotency(t *testing.T) {
	e := start(t, Options{})
	e.srv.World.SetCapacity("m5.large", "us-east-1a", "on-demand", 2)
	ami, _ := e.srv.World.Parameter("/aws/service/eks/optimized-ami/1.30/amazon-linux-2/recommended/image_id")
	in := func(minN, maxN int32, token string) *ec2.RunInstancesInput {
		return &ec2.RunInstancesInput{ImageId: aws.String(ami), InstanceType: "m5.large", MinCount: aws.Int32(minN), MaxCount: aws.Int32(maxN),
			Placement: &ec2types.Placement{AvailabilityZone: aws.String("us-east-1a")}, ClientToken: aws.String(token)}
	}
	_, err := e.ec2.RunInstances(e.ctx, in(3, 3, "a"))
	if code := errorCode(t, err); code != "InsufficientInstanceCapacity" {
		t.Fatalf("min 3 of a pool with 2: %q, want InsufficientInstanceCapacity", code)
	}
	out, err := e.ec2.RunInstances(e.ctx, in(1, 5, "b"))
	if err != nil || len(out.Instances) != 2 {
		t.Fatalf("min 1 max 5 of a pool with 2: %v, %d instances; want 2", err, len(out.Instances))
	}
	again, err := e.ec2.RunInstances(e.ctx, in(1, 5, "b"))
	if err != nil || aws.ToString(again.ReservationId) != aws.ToString(out.ReservationId) {
		t.Errorf("same token: %v, reservation %s, want %s", err, aws.ToString(again.ReservationId), aws.ToString(out.ReservationId))
	}
	_, err = e.ec2.RunInstances(e.ctx, in(1, 4, "b"))
	if code := errorCode(t, err); code != "IdempotentParameterMismatch" {
		t.Errorf("same token, other counts: %q, want IdempotentParameterMismatch", code)
	}
}

func TestDescribeSubnetsAndSecurityGroups_ClusterDiscoveryTags(t *testing.T) {
	e := start(t, Options{ClusterName: "prod"})
	subnets, err := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{sdkFilter("tag:karpenter.sh/discovery", "prod")}})
	if err != nil {
		t.Fatal(err)
	}
	zones := map[string]bool{}
	for _, s := range subnets.Subnets {
		zones[aws.ToString(s.AvailabilityZone)] = true
		if aws.ToString(s.AvailabilityZoneId) == "" || aws.ToInt32(s.AvailableIpAddressCount) != 8187 {
			t.Errorf("subnet %s: zone ID %q, %d free addresses; want a zone ID and 8187 (/19 less 5)", aws.ToString(s.SubnetId), aws.ToString(s.AvailabilityZoneId), aws.ToInt32(s.AvailableIpAddressCount))
		}
	}
	if len(subnets.Subnets) != 3 || len(zones) != 3 {
		t.Errorf("discovery subnets: %d in %d zones, want 3 in 3", len(subnets.Subnets), len(zones))
	}
	all, _ := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{})
	if len(all.Subnets) != 6 {
		t.Errorf("all subnets: %d, want 6 (private and public)", len(all.Subnets))
	}
	byID, err := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{aws.ToString(subnets.Subnets[1].SubnetId)}})
	if err != nil || len(byID.Subnets) != 1 {
		t.Errorf("by ID: %v %d", err, len(byID.Subnets))
	}
	groups, err := e.ec2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{sdkFilter("tag:kubernetes.io/cluster/prod", "owned")}})
	if err != nil || len(groups.SecurityGroups) != 1 || aws.ToString(groups.SecurityGroups[0].GroupName) != "eks-cluster-sg-prod" {
		t.Errorf("cluster security group: %v %+v", err, groups)
	}
	zonesOut, err := e.ec2.DescribeAvailabilityZones(e.ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil || len(zonesOut.AvailabilityZones) != 3 || aws.ToString(zonesOut.AvailabilityZones[0].ZoneId) != "use1-az4" ||
		zonesOut.AvailabilityZones[0].State != ec2types.AvailabilityZoneStateAvailable {
		t.Errorf("zones: %v %+v", err, zonesOut)
	}
}

func TestLaunchTemplates_CreateDescribeDelete(t *testing.T) {
	e := start(t, Options{})
	id := e.launchTemplate(t, "kerf/default-abc")
	_, err := e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("kerf/default-abc"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{InstanceType: "m5.large"}})
	if code := errorCode(t, err); code != "InvalidLaunchTemplateName.AlreadyExistsException" {
		t.Errorf("duplicate name: %q", code)
	}
	out, err := e.ec2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{Filters: []ec2types.Filter{sdkFilter("launch-template-name", "kerf/*")}})
	if err != nil || len(out.LaunchTemplates) != 1 || aws.ToString(out.LaunchTemplates[0].LaunchTemplateId) != id ||
		aws.ToInt64(out.LaunchTemplates[0].LatestVersionNumber) != 1 {
		t.Fatalf("describe by name filter: %v %+v", err, out)
	}
	if _, err := e.ec2.DeleteLaunchTemplate(e.ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.ec2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"kerf/default-abc"}})
	if code := errorCode(t, err); code != "InvalidLaunchTemplateName.NotFoundException" {
		t.Errorf("describe deleted template: %q", code)
	}
}

func TestWorld_TenThousandInstancesAllListed(t *testing.T) {
	e := start(t, Options{})
	lt := e.launchTemplate(t, "kerf-default")
	in := e.fleetInput(t, lt, ec2types.DefaultTargetCapacityTypeSpot, 1000, "m5.large", "m5.xlarge", "c5.large")
	for i := 0; i < 10; i++ {
		in.ClientToken = aws.String(fmt.Sprint("bulk-", i))
		if _, err := e.ec2.CreateFleet(e.ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	ids := describeIDs(t, e, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{sdkFilter("tag:karpenter.sh/provisioner-name", "default"), sdkFilter("instance-state-name", "running")}, MaxResults: aws.Int32(1000)})
	if len(ids) != 10000 {
		t.Fatalf("got %d instances, want 10000", len(ids))
	}
	// Speed at this size is BenchmarkDescribeInstances_TenThousandInWorld's to judge.
}

func TestTerminatedInstancesDisappearAndOthersRemainInOrder(t *testing.T) {
	e := start(t, Options{})
	ids := e.run(t, "m5.large", 12)
	if _, err := e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: ids[:9]}); err != nil {
		t.Fatal(err)
	}
	e.clock.Step(shutdownDuration + terminatedVisibility)
	got := describeIDs(t, e, &ec2.DescribeInstancesInput{})
	if len(got) != 3 || got[0] != ids[9] || got[2] != ids[11] {
		t.Errorf("after the terminated expire: %v, want %v", got, ids[9:])
	}
}

func TestLaunchTemplates_StateShowsBlockDeviceMappingsAndRefusesBadSizes(t *testing.T) {
	e := start(t, Options{})
	ebs := func(size int32) *ec2types.LaunchTemplateEbsBlockDeviceRequest {
		return &ec2types.LaunchTemplateEbsBlockDeviceRequest{VolumeSize: aws.Int32(size), VolumeType: ec2types.VolumeTypeGp3,
			Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true), Iops: aws.Int32(3000), Throughput: aws.Int32(125)}
	}
	for _, tc := range []struct {
		name     string
		mappings []ec2types.LaunchTemplateBlockDeviceMappingRequest
		wantCode string
		want     []BlockDeviceMappingState
	}{
		{name: "root and data volume", mappings: []ec2types.LaunchTemplateBlockDeviceMappingRequest{
			{DeviceName: aws.String("/dev/xvda"), Ebs: ebs(20)}, {DeviceName: aws.String("/dev/xvdb"), Ebs: ebs(200)}},
			want: []BlockDeviceMappingState{
				{DeviceName: "/dev/xvda", VolumeSize: 20, VolumeType: "gp3", IOPS: 3000, Throughput: 125, Encrypted: true, DeleteOnTermination: true},
				{DeviceName: "/dev/xvdb", VolumeSize: 200, VolumeType: "gp3", IOPS: 3000, Throughput: 125, Encrypted: true, DeleteOnTermination: true}}},
		{name: "a zero size", mappings: []ec2types.LaunchTemplateBlockDeviceMappingRequest{{DeviceName: aws.String("/dev/xvda"), Ebs: ebs(0)}},
			wantCode: "InvalidParameterValue"},
		{name: "no device name", mappings: []ec2types.LaunchTemplateBlockDeviceMappingRequest{{Ebs: ebs(20)}}, wantCode: "MissingParameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("disks-" + strings.ReplaceAll(tc.name, " ", "-")),
				LaunchTemplateData: &ec2types.RequestLaunchTemplateData{BlockDeviceMappings: tc.mappings}})
			if code := errorCode(t, err); code != tc.wantCode {
				t.Fatalf("error code %q, want %q", code, tc.wantCode)
			}
			if tc.wantCode != "" {
				return
			}
			got := e.srv.World.State().TemplateData[aws.ToString(out.LaunchTemplate.LaunchTemplateId)].BlockDeviceMappings
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("state mappings %+v, want %+v", got, tc.want)
			}
		})
	}
}

// A launch template's metadata options are EC2's: unset, IMDSv1 is allowed with one hop; a hop
// limit outside 1–64 or an unknown token mode is refused.
func TestLaunchTemplates_MetadataOptionsAsEC2KeepsAndRefusesThem(t *testing.T) {
	e := start(t, Options{})
	for _, tc := range []struct {
		name     string
		md       *ec2types.LaunchTemplateInstanceMetadataOptionsRequest
		wantCode string
		want     MetadataOptionsState
	}{
		{name: "unset", want: MetadataOptionsState{HTTPTokens: "optional", HopLimit: 1, HTTPEndpoint: "enabled", HTTPIPv6: "disabled"}},
		{name: "IMDSv2 two hops", md: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired,
			HttpPutResponseHopLimit: aws.Int32(2)}, want: MetadataOptionsState{HTTPTokens: "required", HopLimit: 2, HTTPEndpoint: "enabled", HTTPIPv6: "disabled"}},
		{name: "zero hops", md: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpPutResponseHopLimit: aws.Int32(0)}, wantCode: "InvalidParameterValue"},
		{name: "unknown tokens", md: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: "sometimes"}, wantCode: "InvalidParameterValue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("md-" + strings.ReplaceAll(tc.name, " ", "-")),
				LaunchTemplateData: &ec2types.RequestLaunchTemplateData{InstanceType: "m5.large", MetadataOptions: tc.md}})
			if code := errorCode(t, err); code != tc.wantCode {
				t.Fatalf("error code %q, want %q", code, tc.wantCode)
			}
			if tc.wantCode != "" {
				return
			}
			if got := e.srv.World.State().TemplateData[aws.ToString(out.LaunchTemplate.LaunchTemplateId)].MetadataOptions; got != tc.want {
				t.Errorf("metadata options %+v, want %+v", got, tc.want)
			}
		})
	}
}

// EC2 is eventually consistent: a new instance is unknown to DescribeInstances (by ID: an error;
// by filter: absent), TerminateInstances and CreateTags for a moment after the launch that
// returned its ID, then known to all of them.
func TestInstances_ANewInstanceIsUnknownForAMoment(t *testing.T) {
	e := start(t, Options{VisibilityDelay: 5 * time.Second})
	id := e.run(t, "m5.large", 1, ec2types.Tag{Key: aws.String("team"), Value: aws.String("a")})[0]
	visible := func() bool {
		t.Helper()
		_, byID := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		byFilter, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("tag:team"), Values: []string{"a"}}}})
		if err != nil {
			t.Fatal(err)
		}
		_, tagErr := e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("b"), Value: aws.String("c")}}})
		if code := errorCode(t, byID); (code == "") != (len(byFilter.Reservations) == 1) || (code == "") != (tagErr == nil) {
			t.Fatalf("describe by ID %q, by filter %d reservations, tag %v: the API disagrees with itself", code, len(byFilter.Reservations), tagErr)
		}
		return byID == nil
	}
	if visible() {
		t.Errorf("the instance is described at once, want unknown for a moment (seed 42 draws a lag above zero)")
	}
	if _, err := e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); errorCode(t, err) != "InvalidInstanceID.NotFound" {
		t.Errorf("terminating an instance EC2 does not know yet: %v, want InvalidInstanceID.NotFound", err)
	}
	if n := len(e.srv.World.Instances()); n != 1 {
		t.Errorf("the admin view holds %d instances, want the new one at once", n)
	}
	e.clock.Step(5 * time.Second)
	if !visible() {
		t.Errorf("the instance is unknown past the visibility delay")
	}
}

// The account's vCPU quotas hold per capacity type, with EC2's errors past them; terminated
// instances give their vCPUs back.
func TestInstances_VCPUQuotas(t *testing.T) {
	e := start(t, Options{OnDemandVCPULimit: 4, SpotVCPULimit: 2})
	ids := e.run(t, "m5.large", 2) // 4 on-demand vCPUs
	ami, _ := e.srv.World.Parameter("/aws/service/eks/optimized-ami/1.30/amazon-linux-2/recommended/image_id")
	launch := func(spot bool) error {
		in := &ec2.RunInstancesInput{ImageId: aws.String(ami), InstanceType: "m5.large", MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
		if spot {
			in.InstanceMarketOptions = &ec2types.InstanceMarketOptionsRequest{MarketType: ec2types.MarketTypeSpot}
		}
		_, err := e.ec2.RunInstances(e.ctx, in)
		return err
	}
	if code := errorCode(t, launch(false)); code != "VcpuLimitExceeded" {
		t.Errorf("on-demand past the quota: %q, want VcpuLimitExceeded", code)
	}
	if err := launch(true); err != nil {
		t.Errorf("spot within its own quota: %v", err)
	}
	if code := errorCode(t, launch(true)); code != "MaxSpotInstanceCountExceeded" {
		t.Errorf("spot past the quota: %q, want MaxSpotInstanceCountExceeded", code)
	}
	if _, err := e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: ids[:1]}); err != nil {
		t.Fatal(err)
	}
	e.clock.Step(time.Minute)
	if err := launch(false); err != nil {
		t.Errorf("on-demand after one terminated: %v", err)
	}
}
