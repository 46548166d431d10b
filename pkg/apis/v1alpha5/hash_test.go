package v1alpha5_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

// hashedProvisioner sets every field of the spec, static and behavioural, so each case changes
// one that was already set.
func hashedProvisioner() *v1alpha5.Provisioner {
	return &v1alpha5.Provisioner{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Annotations: map[string]string{"a": "b"}},
		Spec: v1alpha5.ProvisionerSpec{
			Annotations: map[string]string{"example.com/owner": "team-a", "example.com/cost": "42"},
			Labels:      map[string]string{"team": "a", "tier": "web"},
			Taints: []corev1.Taint{
				{Key: "dedicated", Value: "web", Effect: corev1.TaintEffectNoSchedule},
				{Key: "spot", Effect: corev1.TaintEffectPreferNoSchedule},
			},
			StartupTaints: []corev1.Taint{{Key: "node.cilium.io/agent-not-ready", Effect: corev1.TaintEffectNoExecute}},
			KubeletConfiguration: &v1alpha5.KubeletConfiguration{MaxPods: ptr.To[int32](58), ClusterDNS: []string{"10.0.0.10", "10.0.0.11"},
				SystemReserved: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
			ProviderRef:            &v1alpha5.MachineTemplateRef{Name: "default"},
			Requirements:           []v1alpha5.NodeSelectorRequirement{{Key: "karpenter.sh/capacity-type", Operator: corev1.NodeSelectorOpIn, Values: []string{"spot"}}},
			TTLSecondsUntilExpired: ptr.To[int64](3600),
			Limits:                 &v1alpha5.Limits{Resources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100")}},
			Weight:                 ptr.To[int32](10),
			Consolidation:          &v1alpha5.Consolidation{Enabled: ptr.To(true)},
		},
	}
}

func TestProvisionerHash_StaticFieldsOnly(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*v1alpha5.ProvisionerSpec)
		changes bool
	}{
		{"an annotation value", func(s *v1alpha5.ProvisionerSpec) { s.Annotations["example.com/owner"] = "team-b" }, true},
		{"an annotation added", func(s *v1alpha5.ProvisionerSpec) { s.Annotations["example.com/new"] = "x" }, true},
		{"a label value", func(s *v1alpha5.ProvisionerSpec) { s.Labels["team"] = "b" }, true},
		{"a label removed", func(s *v1alpha5.ProvisionerSpec) { delete(s.Labels, "tier") }, true},
		{"a taint value", func(s *v1alpha5.ProvisionerSpec) { s.Taints[0].Value = "batch" }, true},
		{"a taint effect", func(s *v1alpha5.ProvisionerSpec) { s.Taints[1].Effect = corev1.TaintEffectNoSchedule }, true},
		{"a taint removed", func(s *v1alpha5.ProvisionerSpec) { s.Taints = s.Taints[:1] }, true},
		{"a startup taint added", func(s *v1alpha5.ProvisionerSpec) {
			s.StartupTaints = append(s.StartupTaints, corev1.Taint{Key: "gpu-not-ready", Effect: corev1.TaintEffectNoSchedule})
		}, true},
		{"startup taints removed", func(s *v1alpha5.ProvisionerSpec) { s.StartupTaints = nil }, true},
		{"kubelet maxPods", func(s *v1alpha5.ProvisionerSpec) { s.KubeletConfiguration.MaxPods = ptr.To[int32](110) }, true},
		{"kubelet systemReserved", func(s *v1alpha5.ProvisionerSpec) {
			s.KubeletConfiguration.SystemReserved[corev1.ResourceMemory] = resource.MustParse("2Gi")
		}, true},
		{"kubelet clusterDNS order", func(s *v1alpha5.ProvisionerSpec) {
			s.KubeletConfiguration.ClusterDNS = []string{"10.0.0.11", "10.0.0.10"}
		}, true},
		{"kubelet configuration removed", func(s *v1alpha5.ProvisionerSpec) { s.KubeletConfiguration = nil }, true},
		{"providerRef name", func(s *v1alpha5.ProvisionerSpec) { s.ProviderRef.Name = "gpu" }, true},
		{"inline provider instead of providerRef", func(s *v1alpha5.ProvisionerSpec) {
			s.ProviderRef = nil
			s.Provider = &runtime.RawExtension{Raw: []byte(`{"subnetSelector":{"karpenter.sh/discovery":"c"}}`)}
		}, true},

		{"requirements", func(s *v1alpha5.ProvisionerSpec) { s.Requirements[0].Values = []string{"on-demand"} }, false},
		{"requirements removed", func(s *v1alpha5.ProvisionerSpec) { s.Requirements = nil }, false},
		{"ttlSecondsUntilExpired", func(s *v1alpha5.ProvisionerSpec) { s.TTLSecondsUntilExpired = ptr.To[int64](7200) }, false},
		{"ttlSecondsAfterEmpty", func(s *v1alpha5.ProvisionerSpec) { s.TTLSecondsAfterEmpty = ptr.To[int64](30) }, false},
		{"limits", func(s *v1alpha5.ProvisionerSpec) { s.Limits.Resources[corev1.ResourceCPU] = resource.MustParse("200") }, false},
		{"weight", func(s *v1alpha5.ProvisionerSpec) { s.Weight = ptr.To[int32](50) }, false},
		{"consolidation", func(s *v1alpha5.ProvisionerSpec) { s.Consolidation.Enabled = ptr.To(false) }, false},

		{"taints reordered", func(s *v1alpha5.ProvisionerSpec) { s.Taints[0], s.Taints[1] = s.Taints[1], s.Taints[0] }, false},
		{"annotations emptied", func(s *v1alpha5.ProvisionerSpec) { s.Annotations = map[string]string{} }, true},
		{"providerRef kind and apiVersion spelled out as their defaults", func(s *v1alpha5.ProvisionerSpec) {
			s.ProviderRef.Kind, s.ProviderRef.APIVersion = "AWSNodeTemplate", "karpenter.k8s.aws/v1alpha1"
		}, false},
		{"a quantity written another way", func(s *v1alpha5.ProvisionerSpec) {
			s.KubeletConfiguration.SystemReserved[corev1.ResourceMemory] = resource.MustParse("1024Mi")
		}, false},
	}
	before := hashedProvisioner().Hash()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := hashedProvisioner()
			tc.change(&p.Spec)
			if after := p.Hash(); (after != before) != tc.changes {
				t.Errorf("hash %s -> %s; want changed=%v", before, after, tc.changes)
			}
		})
	}
}

func TestProvisionerHash_IgnoresMapOrderAndEmptyValues(t *testing.T) {
	a, b := hashedProvisioner(), hashedProvisioner()
	// Maps built in another insertion order, and the metadata (not the spec) changed.
	b.Spec.Labels = map[string]string{"tier": "web", "team": "a"}
	b.Annotations = nil
	if a.Hash() != b.Hash() {
		t.Errorf("same spec hashed %s and %s", a.Hash(), b.Hash())
	}
	empty, absent := &v1alpha5.Provisioner{}, &v1alpha5.Provisioner{}
	empty.Spec.Labels, empty.Spec.Taints = map[string]string{}, []corev1.Taint{}
	if empty.Hash() != absent.Hash() {
		t.Errorf("empty labels and taints hash %s, absent ones %s; want the same", empty.Hash(), absent.Hash())
	}
	x := &v1alpha5.Provisioner{Spec: v1alpha5.ProvisionerSpec{Provider: &runtime.RawExtension{Raw: []byte(`{"a":1,"b":{"c":2,"d":3}}`)}}}
	y := &v1alpha5.Provisioner{Spec: v1alpha5.ProvisionerSpec{Provider: &runtime.RawExtension{Raw: []byte(`{"b":{"d":3,"c":2}, "a":1}`)}}}
	if x.Hash() != y.Hash() {
		t.Errorf("inline provider with reordered keys hashed %s and %s", x.Hash(), y.Hash())
	}
}

func TestProvisionerStaticFieldsDrifted_OnlyOnAHashOfThisVersion(t *testing.T) {
	p := hashedProvisioner()
	changed := hashedProvisioner()
	changed.Spec.Labels["team"] = "b"
	tests := []struct {
		name        string
		annotations map[string]string
		want        bool
	}{
		{"launched from the Provisioner as it is", p.HashAnnotations(), false},
		{"launched before a static field changed", changed.HashAnnotations(), true},
		{"no hash recorded (launched before Kerf recorded one)", map[string]string{"other": "x"}, false},
		{"Karpenter's hash, without Kerf's version", map[string]string{v1alpha5.ProvisionerHashAnnotationKey: "1234567890"}, false},
		{"a hash of another version", map[string]string{v1alpha5.ProvisionerHashAnnotationKey: changed.Hash(),
			v1alpha5.ProvisionerHashVersionAnnotationKey: "v0"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.StaticFieldsDrifted(tc.annotations); got != tc.want {
				t.Errorf("StaticFieldsDrifted(%v) = %v, want %v", tc.annotations, got, tc.want)
			}
		})
	}
}
