package aws_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
)

// TestRootVolume_LaunchTemplateAndAllocatableAgreePerFamily launches a c5.large per family through
// the real instance-type model and checks that the volume the launch template sizes on the device
// where the family's image keeps the kubelet's data is the ephemeral-storage the model promised.
func TestRootVolume_LaunchTemplateAndAllocatableAgreePerFamily(t *testing.T) {
	// Where each family's images keep /var/lib/kubelet: facts about the images, stated here
	// independently of the code under test. "" means the last mapping (Custom).
	kubeletDevice := map[string]string{
		v1alpha1.AMIFamilyAL2: "/dev/xvda", v1alpha1.AMIFamilyAL2023: "/dev/xvda", v1alpha1.AMIFamilyBottlerocket: "/dev/xvdb",
		v1alpha1.AMIFamilyUbuntu: "/dev/sda1", v1alpha1.AMIFamilyWindows2019: "/dev/sda1", v1alpha1.AMIFamilyWindows2022: "/dev/sda1",
		v1alpha1.AMIFamilyCustom: "",
	}
	// The kubelet volume's size when the node template maps nothing; Custom maps nothing.
	defaultGiB := map[string]int64{
		v1alpha1.AMIFamilyAL2: 20, v1alpha1.AMIFamilyAL2023: 20, v1alpha1.AMIFamilyBottlerocket: 20,
		v1alpha1.AMIFamilyUbuntu: 20, v1alpha1.AMIFamilyWindows2019: 50, v1alpha1.AMIFamilyWindows2022: 50,
	}
	for family, device := range kubeletDevice {
		rootDevice := device
		if rootDevice == "" {
			rootDevice = "/dev/xvdb" // Custom: the last mapping is the kubelet's
		}
		for _, tc := range []struct {
			name     string
			mappings []*v1alpha1.BlockDeviceMapping
			wantGiB  int64 // 0: no volume on the kubelet's device in the template
		}{
			{name: "family defaults", wantGiB: defaultGiB[family]},
			{name: "the user sizes the kubelet's volume beside a data volume", mappings: []*v1alpha1.BlockDeviceMapping{
				volume("/dev/xvdc", "200Gi"), volume(rootDevice, "80Gi")}, wantGiB: 80},
		} {
			t.Run(family+"/"+tc.name, func(t *testing.T) {
				nt := defaultNodeTemplate(family)
				nt.Spec.BlockDeviceMappings = tc.mappings
				if family != v1alpha1.AMIFamilyAL2 && family != v1alpha1.AMIFamilyAL2023 && family != v1alpha1.AMIFamilyBottlerocket {
					// awsim publishes no Ubuntu or Windows images; any amd64 image serves here.
					nt.Spec.AMISelector = map[string]string{"aws-ids": "placeholder"}
				}
				e := newLaunchEnv(t, nt, nil)
				if nt.Spec.AMISelector != nil {
					nt.Spec.AMISelector["aws-ids"] = e.param("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id")
					e.nodeTp = nt
				}
				e.newCloudProvider()
				opts := e.opts
				opts.InstanceTypes = e.realInstanceTypes()
				cp, err := aws.NewCloudProvider(opts)
				if err != nil {
					t.Fatal(err)
				}
				os := "linux"
				if family == v1alpha1.AMIFamilyWindows2019 || family == v1alpha1.AMIFamilyWindows2022 {
					os = "windows"
				}
				launched, err := cp.Create(e.ctx, newMachine("default-disk", onDemand(), in(v1alpha5.LabelInstanceType, "c5.large"), in(v1alpha5.LabelOS, os)))
				if err != nil {
					t.Fatal(err)
				}
				templates := e.srv.World.State().TemplateData
				if len(templates) != 1 {
					t.Fatalf("%d launch templates in EC2, want 1", len(templates))
				}
				var templateGiB int64
				for _, lt := range templates {
					for _, m := range lt.BlockDeviceMappings {
						if m.DeviceName == rootDevice {
							templateGiB = int64(m.VolumeSize)
						}
					}
				}
				if templateGiB != tc.wantGiB {
					t.Errorf("launch template maps %d GiB on %s, want %d", templateGiB, rootDevice, tc.wantGiB)
				}
				modelGiB := tc.wantGiB
				if modelGiB == 0 {
					modelGiB = 20 // Custom without mappings: the image's own root volume, assumed 20Gi
				}
				got := launched.Status.Capacity[corev1.ResourceEphemeralStorage]
				if got.Value() != modelGiB<<30 {
					t.Errorf("model's ephemeral-storage capacity %s, want %dGi to match the volume", got.String(), modelGiB)
				}
			})
		}
	}
}
