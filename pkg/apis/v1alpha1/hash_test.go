package v1alpha1_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
)

// hashedTemplate sets every field of the spec, so each case changes one that was already set.
// (launchTemplate excludes some of them in the CRD; the hash does not care.)
func hashedTemplate() *v1alpha1.AWSNodeTemplate {
	return &v1alpha1.AWSNodeTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
		Spec: v1alpha1.AWSNodeTemplateSpec{
			SubnetSelector:        map[string]string{"karpenter.sh/discovery": "prod"},
			SecurityGroupSelector: map[string]string{"karpenter.sh/discovery": "prod"},
			AMISelector:           map[string]string{"aws-ids": "ami-0123456789abcdef0"},
			AMIFamily:             ptr.To(v1alpha1.AMIFamilyAL2023),
			UserData:              ptr.To("echo hello"),
			Context:               ptr.To("cr-0123"),
			InstanceProfile:       ptr.To("KarpenterNodeInstanceProfile"),
			Tags:                  map[string]string{"team": "a", "cost-center": "42"},
			LaunchTemplate:        ptr.To("my-template"),
			MetadataOptions:       &v1alpha1.MetadataOptions{HTTPTokens: ptr.To("required"), HTTPPutResponseHopLimit: ptr.To[int64](2)},
			BlockDeviceMappings: []*v1alpha1.BlockDeviceMapping{
				{DeviceName: ptr.To("/dev/xvda"), EBS: &v1alpha1.BlockDevice{VolumeSize: ptr.To(resource.MustParse("20Gi")), VolumeType: ptr.To("gp3")}},
				{DeviceName: ptr.To("/dev/xvdb"), EBS: &v1alpha1.BlockDevice{VolumeSize: ptr.To(resource.MustParse("100Gi"))}},
			},
			DetailedMonitoring: ptr.To(false),
		},
		Status: v1alpha1.AWSNodeTemplateStatus{Subnets: []v1alpha1.Subnet{{ID: "subnet-1", Zone: "us-east-1a"}}},
	}
}

func TestNodeTemplateHash_StaticFieldsOnly(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*v1alpha1.AWSNodeTemplate)
		changes bool
	}{
		{"amiFamily", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.AMIFamily = ptr.To(v1alpha1.AMIFamilyBottlerocket) }, true},
		{"userData", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.UserData = ptr.To("echo bye") }, true},
		{"context", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.Context = nil }, true},
		{"instanceProfile", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.InstanceProfile = ptr.To("Other") }, true},
		{"a tag value", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.Tags["team"] = "b" }, true},
		{"a tag added", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.Tags["new"] = "x" }, true},
		{"launchTemplate", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.LaunchTemplate = ptr.To("other-template") }, true},
		{"metadataOptions", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.MetadataOptions.HTTPTokens = ptr.To("optional") }, true},
		{"a volume size", func(nt *v1alpha1.AWSNodeTemplate) {
			nt.Spec.BlockDeviceMappings[0].EBS.VolumeSize = ptr.To(resource.MustParse("40Gi"))
		}, true},
		{"a block device removed", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.BlockDeviceMappings = nt.Spec.BlockDeviceMappings[:1] }, true},
		{"detailedMonitoring", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.DetailedMonitoring = ptr.To(true) }, true},

		{"subnetSelector", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.SubnetSelector = map[string]string{"aws-ids": "subnet-1"} }, false},
		{"securityGroupSelector", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.SecurityGroupSelector["Name"] = "nodes" }, false},
		{"amiSelector", func(nt *v1alpha1.AWSNodeTemplate) { nt.Spec.AMISelector = nil }, false},
		{"status", func(nt *v1alpha1.AWSNodeTemplate) { nt.Status.Subnets = nil }, false},
		{"metadata", func(nt *v1alpha1.AWSNodeTemplate) { nt.Annotations = map[string]string{"x": "y"} }, false},
		{"a volume size written another way", func(nt *v1alpha1.AWSNodeTemplate) {
			nt.Spec.BlockDeviceMappings[0].EBS.VolumeSize = ptr.To(resource.MustParse("20480Mi"))
		}, false},
		{"tags rebuilt in another order", func(nt *v1alpha1.AWSNodeTemplate) {
			nt.Spec.Tags = map[string]string{"cost-center": "42", "team": "a"}
		}, false},
	}
	before := hashedTemplate().Hash()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nt := hashedTemplate()
			tc.change(nt)
			if after := nt.Hash(); (after != before) != tc.changes {
				t.Errorf("hash %s -> %s; want changed=%v", before, after, tc.changes)
			}
		})
	}
}

func TestNodeTemplateStaticFieldsDrifted_OnlyOnAHashOfThisVersion(t *testing.T) {
	nt := hashedTemplate()
	changed := hashedTemplate()
	changed.Spec.UserData = ptr.To("echo changed")
	tests := []struct {
		name        string
		annotations map[string]string
		want        bool
	}{
		{"launched from the template as it is", nt.HashAnnotations(), false},
		{"launched before a static field changed", changed.HashAnnotations(), true},
		{"no hash recorded", nil, false},
		{"Karpenter's hash, without Kerf's version", map[string]string{v1alpha1.NodeTemplateHashAnnotationKey: "1234567890"}, false},
		{"a hash of another version", map[string]string{v1alpha1.NodeTemplateHashAnnotationKey: changed.Hash(),
			v1alpha1.NodeTemplateHashVersionAnnotationKey: "v0"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := nt.StaticFieldsDrifted(tc.annotations); got != tc.want {
				t.Errorf("StaticFieldsDrifted(%v) = %v, want %v", tc.annotations, got, tc.want)
			}
		})
	}
}
