package aws_test

import (
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
)

func TestSecurityGroups_ByTagIDAndName(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	out, err := e.ec2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{} // name -> ID
	for _, g := range out.SecurityGroups {
		ids[awssdk.ToString(g.GroupName)] = awssdk.ToString(g.GroupId)
	}
	clusterSG, defaultSG := ids["eks-cluster-sg-"+testCluster], ids["default"]
	tests := []struct {
		name     string
		selector map[string]string
		want     []string
	}{
		{"discovery tag", map[string]string{"karpenter.sh/discovery": testCluster}, []string{clusterSG}},
		{"cluster ownership tag with a star", map[string]string{"kubernetes.io/cluster/" + testCluster: "*"}, []string{clusterSG}},
		{"aws-ids", map[string]string{"aws-ids": defaultSG}, []string{defaultSG}},
		{"aws-ids, two of them", map[string]string{"aws-ids": defaultSG + "," + clusterSG}, []string{clusterSG, defaultSG}},
		{"Name matches the group name of an untagged group", map[string]string{"Name": "default"}, []string{defaultSG}},
		{"Name matches the Name tag", map[string]string{"Name": "eks-cluster-sg-" + testCluster}, []string{clusterSG}},
	}
	p := aws.NewSecurityGroupProvider(e.ec2, e.clock)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nt := defaultNodeTemplate(v1alpha1.AMIFamilyAL2023)
			nt.Spec.SecurityGroupSelector = tc.selector
			groups, err := p.List(e.ctx, nt)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, g := range groups {
				got[g.ID] = true
			}
			if len(groups) != len(tc.want) {
				t.Fatalf("got %+v, want %v", groups, tc.want)
			}
			for _, id := range tc.want {
				if !got[id] {
					t.Errorf("missing %s in %+v", id, groups)
				}
			}
		})
	}
	nt := defaultNodeTemplate(v1alpha1.AMIFamilyAL2023)
	nt.Spec.SecurityGroupSelector = map[string]string{"nothing": "here"}
	if _, err := p.List(e.ctx, nt); err == nil {
		t.Errorf("a selector matching nothing succeeded")
	}
}
