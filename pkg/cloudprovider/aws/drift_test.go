package aws_test

import (
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
)

// editNodeTemplate changes the AWSNodeTemplate the provider reads, as a user's kubectl edit.
func (e *launchEnv) editNodeTemplate(change func(*v1alpha1.AWSNodeTemplate)) {
	e.t.Helper()
	kube := e.opts.KubeClient.(client.Client)
	nt := &v1alpha1.AWSNodeTemplate{}
	if err := kube.Get(e.ctx, types.NamespacedName{Name: e.nodeTp.Name}, nt); err != nil {
		e.t.Fatal(err)
	}
	change(nt)
	if err := kube.Update(e.ctx, nt); err != nil {
		e.t.Fatal(err)
	}
}

// securityGroupIDs are awsim's groups by name.
func (e *launchEnv) securityGroupIDs() map[string]string {
	e.t.Helper()
	out, err := e.ec2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		e.t.Fatal(err)
	}
	ids := map[string]string{}
	for _, g := range out.SecurityGroups {
		ids[awssdk.ToString(g.GroupName)] = awssdk.ToString(g.GroupId)
	}
	return ids
}

// otherSubnets are the IDs of the cluster's private subnets but the one given.
func (e *launchEnv) otherSubnets(subnetID string) string {
	e.t.Helper()
	var ids []string
	for _, s := range e.subnetFacts().private {
		if id := awssdk.ToString(s.SubnetId); id != subnetID {
			ids = append(ids, id)
		}
	}
	return strings.Join(ids, ",")
}

func TestIsDrifted_ReasonOfWhatChangedSinceTheLaunch(t *testing.T) {
	userData := func(e *launchEnv, _ *v1alpha5.Machine) {
		e.editNodeTemplate(func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.UserData = awssdk.String("echo changed") })
	}
	newRelease := func(e *launchEnv, _ *v1alpha5.Machine) {
		e.srv.World.RollAMIs()
		e.clock.Step(aws.AMIsTTL)
	}
	groups := func(pick func(ids map[string]string) string) func(*launchEnv, *v1alpha5.Machine) {
		return func(e *launchEnv, _ *v1alpha5.Machine) {
			ids := pick(e.securityGroupIDs())
			e.editNodeTemplate(func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.SecurityGroupSelector = map[string]string{"aws-ids": ids} })
		}
	}
	clusterSG := func(ids map[string]string) string { return ids["eks-cluster-sg-"+testCluster] }
	subnets := func(pick func(e *launchEnv, instanceSubnet string) string) func(*launchEnv, *v1alpha5.Machine) {
		return func(e *launchEnv, m *v1alpha5.Machine) {
			ids := pick(e, e.instance(m.Status.ProviderID).SubnetID)
			e.editNodeTemplate(func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.SubnetSelector = map[string]string{"aws-ids": ids} })
		}
	}
	both := func(changes ...func(*launchEnv, *v1alpha5.Machine)) func(*launchEnv, *v1alpha5.Machine) {
		return func(e *launchEnv, m *v1alpha5.Machine) {
			for _, change := range changes {
				change(e, m)
			}
		}
	}
	tests := []struct {
		name   string
		change func(e *launchEnv, launched *v1alpha5.Machine)
		want   cloudprovider.DriftReason
	}{
		{"nothing changed", func(*launchEnv, *v1alpha5.Machine) {}, ""},
		{"a new AMI release", newRelease, cloudprovider.DriftAMI},
		{"amiSelector picks another image", func(e *launchEnv, _ *v1alpha5.Machine) {
			other := e.param("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/nvidia/recommended/image_id")
			e.editNodeTemplate(func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.AMISelector = map[string]string{"aws-ids": other} })
		}, cloudprovider.DriftAMI},
		{"a security group added to the selection", groups(func(ids map[string]string) string {
			return clusterSG(ids) + "," + ids["default"]
		}), cloudprovider.DriftSecurityGroup},
		{"another security group selected", groups(func(ids map[string]string) string { return ids["default"] }), cloudprovider.DriftSecurityGroup},
		{"the same security group selected by ID", groups(clusterSG), ""},
		{"the instance's subnet no longer selected", subnets(func(e *launchEnv, own string) string { return e.otherSubnets(own) }),
			cloudprovider.DriftSubnet},
		{"the instance's subnet selected by ID", subnets(func(_ *launchEnv, own string) string { return own }), ""},
		{"a static field of the template changed", userData, cloudprovider.DriftNodeTemplate},
		{"a tag of the template changed", func(e *launchEnv, _ *v1alpha5.Machine) {
			e.editNodeTemplate(func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.Tags = map[string]string{"team": "b"} })
		}, cloudprovider.DriftNodeTemplate},
		{"a static field changed, Machine launched before hashes were recorded", both(userData, func(_ *launchEnv, m *v1alpha5.Machine) {
			delete(m.Annotations, v1alpha1.NodeTemplateHashAnnotationKey)
		}), ""},
		{"a static field changed, Machine carries Karpenter's hash", both(userData, func(_ *launchEnv, m *v1alpha5.Machine) {
			m.Annotations[v1alpha1.NodeTemplateHashAnnotationKey] = "12345"
			delete(m.Annotations, v1alpha1.NodeTemplateHashVersionAnnotationKey)
		}), ""},
		{"image and static fields changed: the image is reported", both(userData, newRelease), cloudprovider.DriftAMI},
		{"groups and subnet changed: the groups are reported", both(
			subnets(func(e *launchEnv, own string) string { return e.otherSubnets(own) }),
			groups(func(ids map[string]string) string { return ids["default"] })), cloudprovider.DriftSecurityGroup},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
			launched := e.create(newMachine("default-drift", onDemand()))
			if reason, err := e.cp.IsDrifted(e.ctx, launched); err != nil || reason != "" {
				t.Fatalf("just launched: drift reason %q, err %v; want none", reason, err)
			}
			tc.change(e, launched)
			if reason, err := e.cp.IsDrifted(e.ctx, launched); err != nil || reason != tc.want {
				t.Errorf("drift reason %q, err %v; want %q", reason, err, tc.want)
			}
		})
	}
}

func TestCreate_RecordsTheNodeTemplateHashOnTheMachine(t *testing.T) {
	nt := defaultNodeTemplate(v1alpha1.AMIFamilyAL2023)
	nt.Spec.UserData = awssdk.String("echo hello")
	e := newLaunchEnv(t, nt, map[string]float64{"c5.large": 0.085})
	m := newMachine("default-hash", onDemand())
	m.Annotations = map[string]string{"example.com/owner": "team-a"}
	launched := e.create(m)
	for k, want := range map[string]string{
		v1alpha1.NodeTemplateHashAnnotationKey:        nt.Hash(),
		v1alpha1.NodeTemplateHashVersionAnnotationKey: v1alpha1.NodeTemplateHashVersion,
		"example.com/owner":                           "team-a",
	} {
		if got := launched.Annotations[k]; got != want {
			t.Errorf("annotation %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := m.Annotations[v1alpha1.NodeTemplateHashAnnotationKey]; ok {
		t.Errorf("Create annotated its argument")
	}
}

func TestIsDrifted_UserLaunchTemplateOnlyByStaticFields(t *testing.T) {
	nt := defaultNodeTemplate(v1alpha1.AMIFamilyAL2023)
	nt.Spec.SecurityGroupSelector = nil
	nt.Spec.LaunchTemplate = awssdk.String("my-nodes")
	e := newLaunchEnv(t, nt, map[string]float64{"c5.large": 0.085})
	image := e.param("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id")
	if _, err := e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: awssdk.String("my-nodes"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: awssdk.String(image)}}); err != nil {
		t.Fatal(err)
	}
	launched := e.create(newMachine("default-own", onDemand()))
	e.srv.World.RollAMIs()
	e.clock.Step(aws.AMIsTTL)
	if reason, err := e.cp.IsDrifted(e.ctx, launched); err != nil || reason != "" {
		t.Errorf("after an AMI release: drift reason %q, err %v; want none, the image is the launch template's", reason, err)
	}
	e.editNodeTemplate(func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.Tags = map[string]string{"team": "b"} })
	if reason, err := e.cp.IsDrifted(e.ctx, launched); err != nil || reason != cloudprovider.DriftNodeTemplate {
		t.Errorf("after a tag changed: drift reason %q, err %v; want %s", reason, err, cloudprovider.DriftNodeTemplate)
	}
}
