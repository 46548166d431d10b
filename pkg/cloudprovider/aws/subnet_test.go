package aws_test

import (
	"sort"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
)

// subnetFacts is awsim's network as DescribeSubnets reports it.
type subnetFacts struct {
	private, public map[string]ec2types.Subnet // by zone
}

func (e *launchEnv) subnetFacts() subnetFacts {
	e.t.Helper()
	out, err := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{})
	if err != nil {
		e.t.Fatal(err)
	}
	f := subnetFacts{private: map[string]ec2types.Subnet{}, public: map[string]ec2types.Subnet{}}
	for _, s := range out.Subnets {
		zone := awssdk.ToString(s.AvailabilityZone)
		private := false
		for _, tg := range s.Tags {
			private = private || awssdk.ToString(tg.Key) == "karpenter.sh/discovery"
		}
		if private {
			f.private[zone] = s
		} else {
			f.public[zone] = s
		}
	}
	return f
}

func subnetTemplate(selector map[string]string) *v1alpha1.AWSNodeTemplate {
	nt := defaultNodeTemplate(v1alpha1.AMIFamilyAL2023)
	nt.Spec.SubnetSelector = selector
	return nt
}

func TestSubnets_SelectorsByTagWildcardAndID(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	facts := e.subnetFacts()
	a, b := awssdk.ToString(facts.private["us-east-1a"].SubnetId), awssdk.ToString(facts.public["us-east-1b"].SubnetId)
	tests := []struct {
		name     string
		selector map[string]string
		want     int
		wantIDs  []string
	}{
		{"tag value selects the cluster's private subnets", map[string]string{"karpenter.sh/discovery": testCluster}, 3, nil},
		{"star matches any value of the tag", map[string]string{"kubernetes.io/role/elb": "*"}, 3, nil},
		{"wildcard inside a value", map[string]string{"Name": testCluster + "-*"}, 6, nil},
		{"aws-ids takes a comma-separated list", map[string]string{"aws-ids": a + ", " + b}, 2, []string{a, b}},
		{"tags are ANDed", map[string]string{"Name": "*", "kubernetes.io/role/internal-elb": "1"}, 3, nil},
	}
	p := aws.NewSubnetProvider(e.ec2, e.clock)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			subnets, err := p.List(e.ctx, subnetTemplate(tc.selector))
			if err != nil {
				t.Fatal(err)
			}
			if len(subnets) != tc.want {
				t.Errorf("got %d subnets %+v, want %d", len(subnets), subnets, tc.want)
			}
			if tc.wantIDs != nil {
				sort.Strings(tc.wantIDs)
				for i, s := range subnets {
					if s.ID != tc.wantIDs[i] {
						t.Errorf("subnet %d = %s, want %s", i, s.ID, tc.wantIDs[i])
					}
				}
			}
		})
	}
	if _, err := p.List(e.ctx, subnetTemplate(map[string]string{"no-such-tag": "x"})); err == nil {
		t.Errorf("a selector matching nothing succeeded")
	}
}

func TestSubnets_ZonalChoiceHasMostFreeAddressesCountingLaunchesInFlight(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	facts := e.subnetFacts()
	p := aws.NewSubnetProvider(e.ec2, e.clock)
	nt := subnetTemplate(map[string]string{"Name": testCluster + "-*"}) // private and public per zone
	zonal, err := p.ZonalSubnets(e.ctx, nt)
	if err != nil {
		t.Fatal(err)
	}
	private, public := facts.private["us-east-1a"], facts.public["us-east-1a"]
	if len(zonal) != 3 || zonal["us-east-1a"].ID != awssdk.ToString(private.SubnetId) {
		t.Fatalf("zonal %+v, want the larger private subnet in each of 3 zones", zonal)
	}
	// Launch into the private subnet until it has fewer free addresses than the public one.
	gap := int(awssdk.ToInt32(private.AvailableIpAddressCount) - awssdk.ToInt32(public.AvailableIpAddressCount))
	for i := 0; i <= gap; i++ {
		p.MarkLaunched(awssdk.ToString(private.SubnetId))
	}
	if zonal, _ = p.ZonalSubnets(e.ctx, nt); zonal["us-east-1a"].ID != awssdk.ToString(public.SubnetId) {
		t.Errorf("after %d launches in flight chose %s, want the public subnet %s", gap+1, zonal["us-east-1a"].ID, awssdk.ToString(public.SubnetId))
	}
	if zonal["us-east-1b"].ID != awssdk.ToString(facts.private["us-east-1b"].SubnetId) {
		t.Errorf("launches in us-east-1a moved the choice in us-east-1b")
	}
	// The refresh after NetworkTTL reports the real count (none of those launches happened).
	e.clock.Step(aws.NetworkTTL)
	if zonal, _ = p.ZonalSubnets(e.ctx, nt); zonal["us-east-1a"].ID != awssdk.ToString(private.SubnetId) {
		t.Errorf("after the refresh chose %s, want the private subnet again", zonal["us-east-1a"].ID)
	}
}

func TestSubnets_CachedForNetworkTTL(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	p := aws.NewSubnetProvider(e.ec2, e.clock)
	nt := subnetTemplate(map[string]string{"team": "ml"})
	if _, err := p.List(e.ctx, nt); err == nil {
		t.Fatal("no subnet is tagged team=ml yet")
	}
	facts := e.subnetFacts()
	id := awssdk.ToString(facts.private["us-east-1c"].SubnetId)
	if _, err := e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{id},
		Tags: []ec2types.Tag{{Key: awssdk.String("team"), Value: awssdk.String("ml")}}}); err != nil {
		t.Fatal(err)
	}
	subnets, err := p.List(e.ctx, nt)
	if err != nil || len(subnets) != 1 || subnets[0].ID != id || subnets[0].Zone != "us-east-1c" {
		t.Fatalf("List = %+v, %v", subnets, err)
	}
	// Untagging is seen only after the TTL.
	if _, err := e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{id},
		Tags: []ec2types.Tag{{Key: awssdk.String("team"), Value: awssdk.String("web")}}}); err != nil {
		t.Fatal(err)
	}
	if subnets, _ = p.List(e.ctx, nt); len(subnets) != 1 {
		t.Errorf("cached answer lost before NetworkTTL")
	}
	e.clock.Step(aws.NetworkTTL)
	if _, err := p.List(e.ctx, nt); err == nil {
		t.Errorf("after NetworkTTL the retagged subnet still matches")
	}
}
