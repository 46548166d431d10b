package aws_test

import (
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	corev1 "k8s.io/api/core/v1"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
)

// Launches under Karpenter v0.31's global settings: tags, pod networking, node names.

// Karpenter v0.31's aws.tags go on everything a launch creates, under the node template's; the
// launch template and the fleet carry the cluster and Provisioner tags v0.31's IAM policy
// requires of CreateLaunchTemplate and CreateFleet.
func TestCreate_GlobalTagsUnderTheTemplatesAndThePolicyTagsOnEveryResource(t *testing.T) {
	nodeTemplate := defaultNodeTemplate(v1alpha1.AMIFamilyAL2)
	nodeTemplate.Spec.Tags = map[string]string{"team": "ml"}
	e := newLaunchEnv(t, nodeTemplate, map[string]float64{"m5.large": 0.096})
	launched := e.createWith(func(o *aws.CloudProviderOptions) { o.Tags = map[string]string{"team": "platform", "cost-center": "42"} },
		newMachine("default-tags", onDemand()))
	inst := e.instance(launched.Status.ProviderID)
	templates, err := e.ec2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil || len(templates.LaunchTemplates) != 1 {
		t.Fatalf("launch templates %v, %v; want one", templates, err)
	}
	templateTags := map[string]string{}
	for _, tag := range templates.LaunchTemplates[0].Tags {
		templateTags[awssdk.ToString(tag.Key)] = awssdk.ToString(tag.Value)
	}
	for resource, tags := range map[string]map[string]string{"instance": inst.Tags, "launch template": templateTags} {
		for k, want := range map[string]string{"team": "ml", "cost-center": "42", "kubernetes.io/cluster/" + testCluster: "owned",
			"karpenter.sh/provisioner-name": "default"} {
			if tags[k] != want {
				t.Errorf("%s tag %s=%q, want %q (all: %v)", resource, k, tags[k], want, tags)
			}
		}
	}
}

// With custom networking (reserved ENIs) or prefix delegation (no ENI-limited density), nodes
// take a pod count their bootstrap would not derive by itself: Kerf plans with it and the user
// data gives it to the kubelet, so the node registers with what the plan counted on.
func TestCreate_PodNetworkingSettingsReachTheKubelet(t *testing.T) {
	for _, tc := range []struct {
		name       string
		family     string
		networking aws.PodNetworking
		want       int64
	}{
		// m5.large: 3 ENIs of 10 addresses; one reserved leaves 2 × 9 + 2.
		{"one reserved ENI on AL2", v1alpha1.AMIFamilyAL2, aws.PodNetworking{ReservedENIs: 1}, 20},
		{"one reserved ENI on AL2023", v1alpha1.AMIFamilyAL2023, aws.PodNetworking{ReservedENIs: 1}, 20},
		{"one reserved ENI on Bottlerocket", v1alpha1.AMIFamilyBottlerocket, aws.PodNetworking{ReservedENIs: 1}, 20},
		{"density not ENI-limited", v1alpha1.AMIFamilyAL2, aws.PodNetworking{UnlimitedPodDensity: true}, 110},
		{"defaults leave it to the bootstrap", v1alpha1.AMIFamilyAL2, aws.PodNetworking{}, 29},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLaunchEnv(t, defaultNodeTemplate(tc.family), map[string]float64{"m5.large": 0.096})
			launched := e.createWith(func(o *aws.CloudProviderOptions) {
				o.InstanceTypes, o.PodNetworking = e.realInstanceTypesFor(tc.networking), tc.networking
			},
				newMachine("default-pods", onDemand(), in(corev1.LabelInstanceTypeStable, "m5.large")))
			if pods := launched.Status.Capacity.Pods().Value(); pods != tc.want {
				t.Errorf("Machine capacity %d pods, want %d", pods, tc.want)
			}
			s := e.nodeSettings(launched.Status.ProviderID)
			if tc.networking == (aws.PodNetworking{}) {
				if s.MaxPods != nil {
					t.Errorf("user data sets max pods %d; the bootstrap derives it by itself", *s.MaxPods)
				}
				return
			}
			if s.MaxPods == nil || int64(*s.MaxPods) != tc.want {
				t.Errorf("user data gives the kubelet max pods %v, want %d", s.MaxPods, tc.want)
			}
		})
	}
}

// v0.31's aws.nodeNameConvention=resource-name names nodes by instance ID: the launch template
// asks EC2 for resource-name hostnames, and the instance's private DNS name, which the kubelet
// registers as, is its ID.
func TestCreate_ResourceNamedNodes(t *testing.T) {
	for _, resourceNames := range []bool{false, true} {
		e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2), map[string]float64{"m5.large": 0.096})
		launched := e.createWith(func(o *aws.CloudProviderOptions) { o.ResourceNames = resourceNames }, newMachine("default-names", onDemand()))
		inst := e.instance(launched.Status.ProviderID)
		host, _, _ := strings.Cut(inst.PrivateDNS, ".")
		if want := strings.HasPrefix(host, "i-"); want != resourceNames || (resourceNames && host != inst.ID) {
			t.Errorf("resource names %v: instance %s has private DNS name %s", resourceNames, inst.ID, inst.PrivateDNS)
		}
	}
}

// Bottlerocket has no pods-per-core setting: a Provisioner's podsPerCore reaches it as the
// max-pods it caps, so the node takes what the plan counted on.
func TestCreate_PodsPerCoreReachesBottlerocketAsMaxPods(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyBottlerocket), map[string]float64{"m5.large": 0.096})
	m := newMachine("default-ppc", onDemand(), in(corev1.LabelInstanceTypeStable, "m5.large"))
	m.Spec.Kubelet = &v1alpha5.KubeletConfiguration{PodsPerCore: awssdk.Int32(5)}
	launched := e.createWith(func(o *aws.CloudProviderOptions) { o.InstanceTypes = e.realInstanceTypes() }, m)
	s := e.nodeSettings(launched.Status.ProviderID)
	// m5.large: 2 vCPUs × 5.
	if pods := launched.Status.Capacity.Pods().Value(); pods != 10 || s.MaxPods == nil || *s.MaxPods != 10 {
		t.Errorf("Machine capacity %d pods, user data max pods %v; want 10 and 10", pods, s.MaxPods)
	}
}
