package aws

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
)

// familyStorage is where an AMI family's nodes keep the kubelet's data, and which volumes Kerf
// maps when a node template maps none. It is the one definition both the launch template and the
// allocatable model read, so the volume Kerf sizes is the volume whose size the node reports as
// ephemeral-storage.
type familyStorage struct {
	// kubeletDevice holds /var/lib/kubelet and the container images. "" (Custom) means the last
	// mapping, since Kerf cannot know a custom image's layout.
	kubeletDevice string
	// volumes are mapped when the node template maps no block devices.
	volumes []familyVolume
	// unmappedBytes is the kubelet volume's size when no mapping sizes it: the image's own
	// root volume, 20 GiB for the EKS-optimized images.
	unmappedBytes int64
}

type familyVolume struct {
	device string
	gib    int64
}

// familyStorageFor describes a family; unknown names get AL2's layout, as elsewhere.
func familyStorageFor(family string) familyStorage {
	switch family {
	case v1alpha1.AMIFamilyBottlerocket:
		// A small OS volume, and a data volume for containers, images and logs: the data volume
		// is the node's ephemeral storage.
		return familyStorage{kubeletDevice: "/dev/xvdb", volumes: []familyVolume{{"/dev/xvda", 4}, {"/dev/xvdb", 20}}, unmappedBytes: 20 * bytesPerGiB}
	case v1alpha1.AMIFamilyUbuntu:
		// Canonical's images boot from /dev/sda1; a volume on /dev/xvda would be a second disk.
		return familyStorage{kubeletDevice: "/dev/sda1", volumes: []familyVolume{{"/dev/sda1", 20}}, unmappedBytes: 20 * bytesPerGiB}
	case v1alpha1.AMIFamilyWindows2019, v1alpha1.AMIFamilyWindows2022:
		return familyStorage{kubeletDevice: "/dev/sda1", volumes: []familyVolume{{"/dev/sda1", 50}}, unmappedBytes: 50 * bytesPerGiB}
	case v1alpha1.AMIFamilyCustom:
		return familyStorage{unmappedBytes: 20 * bytesPerGiB}
	}
	return familyStorage{kubeletDevice: "/dev/xvda", volumes: []familyVolume{{"/dev/xvda", 20}}, unmappedBytes: 20 * bytesPerGiB}
}

// DefaultBlockDeviceMappings are the volumes of each family when the node template maps none:
// encrypted gp3, 20Gi root for the Linux families, 50Gi for Windows, Bottlerocket's OS and data
// volumes, and none for Custom (its image decides).
func DefaultBlockDeviceMappings(family string) []*v1alpha1.BlockDeviceMapping {
	var out []*v1alpha1.BlockDeviceMapping
	for _, v := range familyStorageFor(family).volumes {
		size := resource.NewQuantity(v.gib*bytesPerGiB, resource.BinarySI)
		out = append(out, &v1alpha1.BlockDeviceMapping{DeviceName: aws.String(v.device), EBS: &v1alpha1.BlockDevice{
			VolumeSize: size, VolumeType: aws.String("gp3"), Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true)}})
	}
	return out
}

// ephemeralBytes is the size of the volume holding the kubelet's data, given the node template's
// mappings (none: the family's defaults).
func (s familyStorage) ephemeralBytes(mappings []*v1alpha1.BlockDeviceMapping) int64 {
	if len(mappings) == 0 {
		for _, v := range s.volumes {
			if v.device == s.kubeletDevice {
				return v.gib * bytesPerGiB
			}
		}
		return s.unmappedBytes
	}
	if s.kubeletDevice == "" {
		if size := mappedVolumeBytes(mappings[len(mappings)-1]); size > 0 {
			return size
		}
		return s.unmappedBytes
	}
	for _, m := range mappings {
		if m != nil && aws.ToString(m.DeviceName) == s.kubeletDevice {
			if size := mappedVolumeBytes(m); size > 0 {
				return size
			}
		}
	}
	return s.unmappedBytes
}

func mappedVolumeBytes(m *v1alpha1.BlockDeviceMapping) int64 {
	if m == nil || m.EBS == nil || m.EBS.VolumeSize == nil {
		return 0
	}
	return m.EBS.VolumeSize.Value()
}
