package state_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

func req(key string, op corev1.NodeSelectorOperator, values ...string) v1alpha5.NodeSelectorRequirement {
	return v1alpha5.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func TestProvisioner_AppliesAWSDefaultsOnlyToKeysTheUserLeftOpen(t *testing.T) {
	in, notIn, gt := corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn, corev1.NodeSelectorOpGt
	for _, tc := range []struct {
		name         string
		requirements []v1alpha5.NodeSelectorRequirement
		labels       map[string]string
		want         string
	}{
		{
			name: "empty provisioner gets every default",
			want: "karpenter.k8s.aws/instance-category In [c m r]; karpenter.k8s.aws/instance-generation Gt 2; karpenter.sh/capacity-type In [on-demand]; karpenter.sh/provisioner-name In [default]; kubernetes.io/arch In [amd64]; kubernetes.io/os In [linux]",
		},
		{
			name: "the seed manifest keeps what it says and gains only os linux",
			requirements: []v1alpha5.NodeSelectorRequirement{
				req(v1alpha5.LabelInstanceFamily, notIn, "a1", "c1", "c3", "inf1", "t3", "t2"),
				req(v1alpha5.LabelInstanceGeneration, gt, "2"),
				req(v1alpha5.LabelArch, in, "amd64"),
				req(v1alpha5.CapacityTypeLabelKey, in, "on-demand", "spot"),
			},
			want: "karpenter.k8s.aws/instance-family NotIn [a1 c1 c3 inf1 t2 t3]; karpenter.k8s.aws/instance-generation Gt 2; karpenter.sh/capacity-type In [on-demand spot]; karpenter.sh/provisioner-name In [default]; kubernetes.io/arch In [amd64]; kubernetes.io/os In [linux]",
		},
		{
			name:         "naming instance types drops the category and generation defaults",
			requirements: []v1alpha5.NodeSelectorRequirement{req(v1alpha5.LabelInstanceType, in, "t3.micro")},
			want:         "karpenter.sh/capacity-type In [on-demand]; karpenter.sh/provisioner-name In [default]; kubernetes.io/arch In [amd64]; kubernetes.io/os In [linux]; node.kubernetes.io/instance-type In [t3.micro]",
		},
		{
			name:   "a label pins its key like a requirement",
			labels: map[string]string{v1alpha5.CapacityTypeLabelKey: "spot", v1alpha5.LabelArch: "arm64"},
			want:   "karpenter.k8s.aws/instance-category In [c m r]; karpenter.k8s.aws/instance-generation Gt 2; karpenter.sh/capacity-type In [spot]; karpenter.sh/provisioner-name In [default]; kubernetes.io/arch In [arm64]; kubernetes.io/os In [linux]",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v1alpha5.ProvisionerSpec{Requirements: tc.requirements, Labels: tc.labels}}
			view, err := state.Provisioner(p, nil, nil, aws.DefaultRequirements)
			if err != nil {
				t.Fatal(err)
			}
			effective := view.Requirements.Intersect(scheduling.RequirementsFromLabels(view.Labels)).WithDefaults(view.Defaults)
			if diff := cmp.Diff(tc.want, effective.String()); diff != "" {
				t.Errorf("effective requirements (-want +got):\n%s", diff)
			}
			if len(p.Spec.Requirements) != len(tc.requirements) {
				t.Error("defaults were written back into the user's object")
			}
		})
	}
}

func TestProvisioner_CarriesWeightTaintsLimitsAndUsage(t *testing.T) {
	taint := corev1.Taint{Key: "karpenter", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000")}
	usage := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("12")}
	p := &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "gpu"}, Spec: v1alpha5.ProvisionerSpec{
		Weight: ptr.To[int32](50), Taints: []corev1.Taint{taint}, Limits: &v1alpha5.Limits{Resources: limits},
	}}
	view, err := state.Provisioner(p, nil, usage, nil)
	if err != nil {
		t.Fatal(err)
	}
	if view.Weight != 50 || !cmp.Equal(view.Taints, []corev1.Taint{taint}) || !cmp.Equal(view.Limits, limits) || !cmp.Equal(view.Usage, usage) {
		t.Errorf("view %+v lost the weight, taints, limits or usage", view)
	}
	if view.Labels[v1alpha5.ProvisionerNameLabelKey] != "gpu" {
		t.Errorf("nodes would not carry the provisioner-name label: %v", view.Labels)
	}
}

func TestProvisioner_RefusesARequirementTheAPIWouldHaveRefused(t *testing.T) {
	p := &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: v1alpha5.ProvisionerSpec{
		Requirements: []v1alpha5.NodeSelectorRequirement{req(v1alpha5.LabelInstanceCPU, corev1.NodeSelectorOpGt, "lots")},
	}}
	if _, err := state.Provisioner(p, nil, nil, nil); err == nil {
		t.Error("a Gt requirement on a non-integer was accepted")
	}
}

// A v0.31 manifest may require the deprecated beta labels, which v0.31 read as their
// replacements: so does Kerf, and nodes get the labels pods select on today.
func TestProvisioner_ReadsDeprecatedBetaKeysAsTheirReplacements(t *testing.T) {
	p := &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "v031"}, Spec: v1alpha5.ProvisionerSpec{
		Requirements: []v1alpha5.NodeSelectorRequirement{
			req("beta.kubernetes.io/arch", corev1.NodeSelectorOpIn, "arm64"),
			req("failure-domain.beta.kubernetes.io/zone", corev1.NodeSelectorOpIn, "us-east-1b"),
			req("beta.kubernetes.io/instance-type", corev1.NodeSelectorOpIn, "m6g.large"),
		},
	}}
	view, err := state.Provisioner(p, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{v1alpha5.LabelArch: "arm64", v1alpha5.LabelTopologyZone: "us-east-1b", v1alpha5.LabelInstanceType: "m6g.large"} {
		if r, ok := view.Requirements.Get(key); !ok || !r.Has(want) || r.Has("other") {
			t.Errorf("requirement on %s: %v %v, want exactly %s", key, r, ok, want)
		}
	}
	if keys := view.Requirements.Keys(); len(keys) != 3 {
		t.Errorf("requirement keys %v, want only the replacements", keys)
	}
}
