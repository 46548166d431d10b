package apis_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

var env *kubeenv.Env

func TestMain(m *testing.M) { os.Exit(kubeenv.Run(m, &env)) }

// apply creates a manifest the way `kubectl apply` does, with the given field validation.
func apply(t *testing.T, manifest string, validation string, opts ...client.CreateOption) error {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatalf("decoding manifest: %v", err)
	}
	return client.WithFieldValidation(env.Client, client.FieldValidation(validation)).Create(context.Background(), u, opts...)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectRefused fails unless err is a refusal whose message contains every one of want.
func expectRefused(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want refused naming %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal does not name %q:\n%v", w, err)
		}
	}
}

// The seed manifest from a public EKS talk has four slips. The API server names each of them, in
// the order a user fixing them one by one meets them.
func TestSeedProvisioner_AsWrittenIsRefusedNamingEachSlip(t *testing.T) {
	asWritten := readFile(t, "testdata/provisioner-as-written.yaml")
	fieldsFixed := strings.NewReplacer("Values:", "values:", "value: [", "values: [").Replace(asWritten)
	named := strings.Replace(fieldsFixed, "\nspec:", "\nmetadata:\n  name: seed\nspec:", 1)

	for _, step := range []struct {
		name       string
		manifest   string
		validation string
		want       []string
	}{
		{"as written, strict", asWritten, metav1.FieldValidationStrict,
			[]string{`unknown field "spec.requirements[0].Values"`, `unknown field "spec.requirements[3].value"`}},
		{"as written, unknown fields dropped", named, metav1.FieldValidationIgnore, nil},
		{"field names fixed", fieldsFixed, metav1.FieldValidationStrict, []string{"metadata.name: Required value"}},
		{"named", named, metav1.FieldValidationStrict, []string{"spec.providerRef: Invalid value", "providerRef is required"}},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.want == nil {
				// What `kubectl apply --validate=false` would send: the misspelled fields vanish and
				// the requirements they belonged to are left without values.
				dropped := strings.NewReplacer("values: [a1", "Values: [a1", "values: [on-demand", "value: [on").Replace(step.manifest)
				err := apply(t, dropped, step.validation, client.DryRunAll)
				expectRefused(t, err, "spec.requirements[0].values", "spec.requirements[3].values", "operator NotIn needs its values", "operator In needs at least one value")
				return
			}
			expectRefused(t, apply(t, step.manifest, step.validation, client.DryRunAll), step.want...)
		})
	}
}

func TestSeedProvisioner_FixedIsAcceptedAndStoredAsWritten(t *testing.T) {
	ctx := context.Background()
	for _, path := range []string{"../../examples/awsnodetemplate.yaml", "../../examples/provisioner.yaml"} {
		if err := apply(t, readFile(t, path), metav1.FieldValidationStrict); err != nil {
			t.Fatalf("applying %s: %v", path, err)
		}
	}
	got := &v1alpha5.Provisioner{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "default"}, got); err != nil {
		t.Fatal(err)
	}
	want := v1alpha5.ProvisionerSpec{
		ProviderRef:   &v1alpha5.MachineTemplateRef{Name: "default"},
		Consolidation: &v1alpha5.Consolidation{Enabled: ptr.To(true)},
		Requirements: []v1alpha5.NodeSelectorRequirement{
			{Key: v1alpha5.LabelInstanceFamily, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"a1", "c1", "c3", "inf1", "t3", "t2"}},
			{Key: v1alpha5.LabelInstanceGeneration, Operator: corev1.NodeSelectorOpGt, Values: []string{"2"}},
			{Key: v1alpha5.LabelArch, Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}},
			{Key: v1alpha5.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand", "spot"}},
		},
		Taints:                 []corev1.Taint{{Key: "karpenter", Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		TTLSecondsUntilExpired: ptr.To[int64](2592000),
		Weight:                 ptr.To[int32](1),
	}
	// Nothing is defaulted into the user's object: cloud defaults apply when a Snapshot is built.
	if diff := cmp.Diff(want, got.Spec); diff != "" {
		t.Errorf("stored spec differs from the manifest (-want +got):\n%s", diff)
	}
}

func validProvisioner() *v1alpha5.Provisioner {
	return &v1alpha5.Provisioner{
		ObjectMeta: metav1.ObjectMeta{Name: "valid"},
		Spec: v1alpha5.ProvisionerSpec{
			ProviderRef: &v1alpha5.MachineTemplateRef{Name: "default"},
			Requirements: []v1alpha5.NodeSelectorRequirement{
				{Key: v1alpha5.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"spot"}},
			},
		},
	}
}

func validTemplate() *v1alpha1.AWSNodeTemplate {
	return &v1alpha1.AWSNodeTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "valid"},
		Spec: v1alpha1.AWSNodeTemplateSpec{
			SubnetSelector:        map[string]string{"karpenter.sh/discovery": "demo"},
			SecurityGroupSelector: map[string]string{"karpenter.sh/discovery": "demo"},
		},
	}
}

func requirement(key string, op corev1.NodeSelectorOperator, values ...string) v1alpha5.NodeSelectorRequirement {
	return v1alpha5.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func TestValidation_RefusesBadManifestsNamingTheField(t *testing.T) {
	gi := resource.MustParse
	for _, tc := range []struct {
		name        string
		provisioner func(*v1alpha5.Provisioner)
		template    func(*v1alpha1.AWSNodeTemplate)
		want        []string
	}{
		{name: "weight below 1", provisioner: func(p *v1alpha5.Provisioner) { p.Spec.Weight = ptr.To[int32](0) },
			want: []string{"spec.weight", "greater than or equal to 1"}},
		{name: "weight above 100", provisioner: func(p *v1alpha5.Provisioner) { p.Spec.Weight = ptr.To[int32](101) },
			want: []string{"spec.weight", "less than or equal to 100"}},
		{name: "ttlSecondsAfterEmpty with consolidation", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.TTLSecondsAfterEmpty = ptr.To[int64](30)
			p.Spec.Consolidation = &v1alpha5.Consolidation{Enabled: ptr.To(true)}
		}, want: []string{"spec.ttlSecondsAfterEmpty", "consolidation.enabled"}},
		{name: "negative ttlSecondsUntilExpired", provisioner: func(p *v1alpha5.Provisioner) { p.Spec.TTLSecondsUntilExpired = ptr.To[int64](-1) },
			want: []string{"spec.ttlSecondsUntilExpired", "greater than or equal to 0"}},
		{name: "negative ttlSecondsAfterEmpty", provisioner: func(p *v1alpha5.Provisioner) { p.Spec.TTLSecondsAfterEmpty = ptr.To[int64](-5) },
			want: []string{"spec.ttlSecondsAfterEmpty", "greater than or equal to 0"}},
		{name: "Gt with two values", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.Requirements = append(p.Spec.Requirements, requirement(v1alpha5.LabelInstanceGeneration, corev1.NodeSelectorOpGt, "2", "3"))
		}, want: []string{"spec.requirements[1].values", "exactly one integer"}},
		{name: "Lt with a non-integer", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.Requirements = append(p.Spec.Requirements, requirement(v1alpha5.LabelInstanceCPU, corev1.NodeSelectorOpLt, "many"))
		}, want: []string{"spec.requirements[1].values", "exactly one integer"}},
		{name: "a value that is not a label value", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.Requirements = append(p.Spec.Requirements, requirement("team", corev1.NodeSelectorOpIn, "ml", "a,team=admin"))
		}, want: []string{"spec.requirements[1].values[1]", "should match"}},
		{name: "In without values", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.Requirements = append(p.Spec.Requirements, requirement(v1alpha5.LabelArch, corev1.NodeSelectorOpIn))
		}, want: []string{"spec.requirements[1].values", "needs at least one value"}},
		{name: "Exists with values", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.Requirements = append(p.Spec.Requirements, requirement("example.com/team", corev1.NodeSelectorOpExists, "a"))
		}, want: []string{"spec.requirements[1].values", "take no values"}},
		{name: "unknown operator", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.Requirements = append(p.Spec.Requirements, requirement(v1alpha5.LabelArch, "Equals", "amd64"))
		}, want: []string{"spec.requirements[1].operator", `Unsupported value: "Equals"`}},
		{name: "requirement on hostname", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.Requirements = append(p.Spec.Requirements, requirement(v1alpha5.LabelHostname, corev1.NodeSelectorOpIn, "node-a"))
		}, want: []string{"spec.requirements[1].key", "reserved"}},
		{name: "requirement on provisioner-name", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.Requirements = append(p.Spec.Requirements, requirement(v1alpha5.ProvisionerNameLabelKey, corev1.NodeSelectorOpIn, "other"))
		}, want: []string{"spec.requirements[1].key", "karpenter.sh/provisioner-name is set by Kerf"}},
		{name: "label in kubernetes.io", provisioner: func(p *v1alpha5.Provisioner) { p.Spec.Labels = map[string]string{"kubernetes.io/team": "a"} },
			want: []string{"spec.labels", "reserved"}},
		{name: "label in a karpenter.sh subdomain", provisioner: func(p *v1alpha5.Provisioner) { p.Spec.Labels = map[string]string{"x.karpenter.sh/team": "a"} },
			want: []string{"spec.labels", "reserved"}},
		{name: "label provisioner-name", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.Labels = map[string]string{v1alpha5.ProvisionerNameLabelKey: "other"}
		}, want: []string{"spec.labels", "reserved"}},
		{name: "duplicate taints", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "a", Effect: corev1.TaintEffectNoSchedule}, {Key: "dedicated", Value: "b", Effect: corev1.TaintEffectNoSchedule}}
		}, want: []string{"spec.taints[1]", "Duplicate value"}},
		{name: "taint with unknown effect", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.StartupTaints = []corev1.Taint{{Key: "cni", Effect: "Sometimes"}}
		}, want: []string{"spec.startupTaints", "taint effect must be one of"}},
		{name: "inline provider, deprecated before v0.31", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.Provider, p.Spec.ProviderRef = &runtime.RawExtension{Raw: []byte(`{"subnetSelector":{"a":"b"}}`)}, nil
		}, want: []string{"spec.provider", "move its fields into an AWSNodeTemplate and name it in providerRef"}},
		{name: "providerRef to another kind", provisioner: func(p *v1alpha5.Provisioner) { p.Spec.ProviderRef.Kind = "EC2NodeClass" },
			want: []string{"spec.providerRef.kind", "must be AWSNodeTemplate"}},
		{name: "providerRef to another API version", provisioner: func(p *v1alpha5.Provisioner) { p.Spec.ProviderRef.APIVersion = "karpenter.k8s.aws/v1beta1" },
			want: []string{"spec.providerRef.apiVersion", "must be karpenter.k8s.aws/v1alpha1"}},
		{name: "neither provider nor providerRef", provisioner: func(p *v1alpha5.Provisioner) { p.Spec.ProviderRef = nil },
			want: []string{"spec.providerRef", "providerRef is required"}},
		{name: "image GC high below low", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.KubeletConfiguration = &v1alpha5.KubeletConfiguration{ImageGCHighThresholdPercent: ptr.To[int32](50), ImageGCLowThresholdPercent: ptr.To[int32](80)}
		}, want: []string{"spec.kubeletConfiguration.imageGCHighThresholdPercent", "greater than imageGCLowThresholdPercent"}},
		{name: "unknown eviction signal", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.KubeletConfiguration = &v1alpha5.KubeletConfiguration{EvictionHard: map[string]string{"memory.free": "5%"}}
		}, want: []string{"spec.kubeletConfiguration.evictionHard", "eviction signals"}},
		{name: "soft eviction without grace period", provisioner: func(p *v1alpha5.Provisioner) {
			p.Spec.KubeletConfiguration = &v1alpha5.KubeletConfiguration{EvictionSoft: map[string]string{"memory.available": "5%"}}
		}, want: []string{"spec.kubeletConfiguration.evictionSoftGracePeriod", "same signals"}},
		{name: "template without subnetSelector", template: func(n *v1alpha1.AWSNodeTemplate) { n.Spec.SubnetSelector = nil },
			want: []string{"spec.subnetSelector", "Required value"}},
		{name: "template without securityGroupSelector", template: func(n *v1alpha1.AWSNodeTemplate) { n.Spec.SecurityGroupSelector = nil },
			want: []string{"spec.securityGroupSelector", "required unless launchTemplate"}},
		{name: "Custom AMI family without amiSelector", template: func(n *v1alpha1.AWSNodeTemplate) { n.Spec.AMIFamily = ptr.To(v1alpha1.AMIFamilyCustom) },
			want: []string{"spec.amiSelector", "required when amiFamily is Custom"}},
		{name: "unknown AMI family", template: func(n *v1alpha1.AWSNodeTemplate) { n.Spec.AMIFamily = ptr.To("Windows2016") },
			want: []string{"spec.amiFamily", `Unsupported value: "Windows2016"`}},
		{name: "volume below 1Gi", template: func(n *v1alpha1.AWSNodeTemplate) {
			n.Spec.BlockDeviceMappings = []*v1alpha1.BlockDeviceMapping{{DeviceName: ptr.To("/dev/xvda"), EBS: &v1alpha1.BlockDevice{VolumeSize: ptr.To(gi("512Mi"))}}}
		}, want: []string{"spec.blockDeviceMappings[0].ebs.volumeSize", "between 1Gi and 64Ti"}},
		{name: "volume above 64Ti", template: func(n *v1alpha1.AWSNodeTemplate) {
			n.Spec.BlockDeviceMappings = []*v1alpha1.BlockDeviceMapping{{EBS: &v1alpha1.BlockDevice{VolumeSize: ptr.To(gi("65Ti"))}}}
		}, want: []string{"spec.blockDeviceMappings[0].ebs.volumeSize", "between 1Gi and 64Ti"}},
		{name: "launchTemplate with securityGroupSelector", template: func(n *v1alpha1.AWSNodeTemplate) { n.Spec.LaunchTemplate = ptr.To("mine") },
			want: []string{"spec.securityGroupSelector", "mutually exclusive"}},
		{name: "launchTemplate with userData", template: func(n *v1alpha1.AWSNodeTemplate) {
			n.Spec.SecurityGroupSelector, n.Spec.LaunchTemplate, n.Spec.UserData = nil, ptr.To("mine"), ptr.To("#!/bin/bash")
		}, want: []string{"spec.userData", "mutually exclusive"}},
		{name: "launchTemplate with amiSelector", template: func(n *v1alpha1.AWSNodeTemplate) {
			n.Spec.SecurityGroupSelector, n.Spec.LaunchTemplate, n.Spec.AMISelector = nil, ptr.To("mine"), map[string]string{"aws-ids": "ami-1"}
		}, want: []string{"spec.amiSelector", "mutually exclusive"}},
		{name: "metadata tokens neither required nor optional", template: func(n *v1alpha1.AWSNodeTemplate) {
			n.Spec.MetadataOptions = &v1alpha1.MetadataOptions{HTTPTokens: ptr.To("maybe")}
		}, want: []string{"spec.metadataOptions.httpTokens", `Unsupported value: "maybe"`}},
		{name: "tag reserved for Kerf", template: func(n *v1alpha1.AWSNodeTemplate) {
			n.Spec.Tags = map[string]string{"kubernetes.io/cluster/other": "owned"}
		}, want: []string{"spec.tags", "set by Kerf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var obj client.Object
			if tc.provisioner != nil {
				p := validProvisioner()
				tc.provisioner(p)
				obj = p
			} else {
				n := validTemplate()
				tc.template(n)
				obj = n
			}
			expectRefused(t, env.Client.Create(context.Background(), obj, client.DryRunAll), tc.want...)
		})
	}
}

// The valid bases of the table above must themselves be accepted, or every refusal proves nothing.
func TestValidation_AcceptsValidBases(t *testing.T) {
	ctx := context.Background()
	p := validProvisioner()
	p.Spec.Labels = map[string]string{"team": "a", "node.kubernetes.io/pool": "x", v1alpha5.LabelInstanceFamily: "m5"}
	p.Spec.Requirements = append(p.Spec.Requirements,
		requirement(v1alpha5.LabelInstanceGeneration, corev1.NodeSelectorOpGt, "2"),
		requirement("example.com/team", corev1.NodeSelectorOpExists))
	p.Spec.Taints = []corev1.Taint{{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}, {Key: "dedicated", Effect: corev1.TaintEffectNoExecute}}
	n := validTemplate()
	n.Spec.BlockDeviceMappings = []*v1alpha1.BlockDeviceMapping{{EBS: &v1alpha1.BlockDevice{VolumeSize: ptr.To(resource.MustParse("64Ti"))}}}
	for _, obj := range []client.Object{p, n} {
		if err := env.Client.Create(ctx, obj, client.DryRunAll); err != nil {
			t.Errorf("valid %T refused: %v", obj, err)
		}
	}
}

// What v0.31 accepted applies unchanged: requirements on the deprecated beta labels (read as their
// replacements) and NotIn with an empty list (which excludes nothing).
func TestValidation_AcceptsWhatV031Accepted(t *testing.T) {
	manifest := `
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata: {name: v031}
spec:
  providerRef: {name: default}
  requirements:
    - {key: beta.kubernetes.io/arch, operator: In, values: [amd64]}
    - {key: failure-domain.beta.kubernetes.io/zone, operator: In, values: [us-east-1a]}
    - {key: karpenter.k8s.aws/instance-family, operator: NotIn, values: []}
`
	if err := apply(t, manifest, metav1.FieldValidationStrict, client.DryRunAll); err != nil {
		t.Errorf("a manifest v0.31 accepted was refused: %v", err)
	}
}

// An integer volumeSize is a number of bytes: v0.31 accepted it and launched a 1 GB volume no EKS
// image fits. Kerf refuses it naming the field and what to write instead.
func TestValidation_AnIntegerVolumeSizeIsRefusedSayingWhy(t *testing.T) {
	manifest := `
apiVersion: karpenter.k8s.aws/v1alpha1
kind: AWSNodeTemplate
metadata: {name: bytes}
spec:
  subnetSelector: {karpenter.sh/discovery: demo}
  securityGroupSelector: {karpenter.sh/discovery: demo}
  blockDeviceMappings:
    - deviceName: /dev/xvda
      ebs: {volumeSize: 100}
`
	expectRefused(t, apply(t, manifest, metav1.FieldValidationStrict, client.DryRunAll),
		"spec.blockDeviceMappings[0].ebs.volumeSize", "a bare integer is a number of bytes")
}

// A Machine as a Karpenter v0.31 controller stored it — knative-style conditions with a severity
// and without reasons or messages — is a valid Machine to Kerf: Kerf reads it as initialized and
// can write its status after an in-place upgrade.
func TestValidation_AMachineAsV031StoredItTakesKerfsStatusWrites(t *testing.T) {
	ctx := context.Background()
	manifest := `
apiVersion: karpenter.sh/v1alpha5
kind: Machine
metadata:
  name: default-v031
  labels: {karpenter.sh/provisioner-name: default}
spec:
  machineTemplateRef: {apiVersion: karpenter.k8s.aws/v1alpha1, kind: AWSNodeTemplate, name: default}
  requirements:
    - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}
  resources:
    requests: {cpu: 1100m, pods: "4"}
`
	if err := apply(t, manifest, metav1.FieldValidationStrict); err != nil {
		t.Fatal(err)
	}
	machine := &unstructured.Unstructured{}
	machine.SetGroupVersionKind(v1alpha5.SchemeGroupVersion.WithKind("Machine"))
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "default-v031"}, machine); err != nil {
		t.Fatal(err)
	}
	conditions := []any{}
	for _, c := range []string{v1alpha5.MachineLaunched, v1alpha5.MachineRegistered, v1alpha5.MachineInitialized, v1alpha5.MachineReady} {
		conditions = append(conditions, map[string]any{"type": c, "status": "True", "severity": "", "lastTransitionTime": "2023-10-01T12:00:00Z"})
	}
	conditions = append(conditions, map[string]any{"type": v1alpha5.MachineDrifted, "status": "False", "severity": "Info"})
	if err := unstructured.SetNestedField(machine.Object, map[string]any{"providerID": "aws:///us-east-1a/i-0123456789abcdef0",
		"capacity": map[string]any{"cpu": "2", "pods": "29"}, "conditions": conditions}, "status"); err != nil {
		t.Fatal(err)
	}
	if err := client.WithFieldValidation(env.Client, client.FieldValidation(metav1.FieldValidationStrict)).Status().Update(ctx, machine); err != nil {
		t.Fatalf("v0.31's status refused: %v", err)
	}

	typed := &v1alpha5.Machine{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "default-v031"}, typed); err != nil {
		t.Fatal(err)
	}
	if !v1alpha5.IsConditionTrue(typed.Status.Conditions, v1alpha5.MachineInitialized) {
		t.Errorf("conditions %+v: Kerf does not read the Machine as initialized", typed.Status.Conditions)
	}
	v1alpha5.SetCondition(&typed.Status.Conditions, v1alpha5.Condition{Type: v1alpha5.MachineEmpty, Status: metav1.ConditionFalse, Reason: "HasPods"})
	if err := env.Client.Status().Update(ctx, typed); err != nil {
		t.Errorf("Kerf's status write on a v0.31 Machine refused: %v", err)
	}
}
