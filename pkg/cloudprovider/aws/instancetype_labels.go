package aws

import (
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// kubeArch maps EC2's architecture names to kubernetes.io/arch. Mac types (x86_64_mac, arm64_mac)
// and 32-bit-only ones run no EKS node image, so they have none.
func kubeArch(info *ec2types.InstanceTypeInfo) (string, bool) {
	if info.ProcessorInfo == nil {
		return "", false
	}
	for _, a := range info.ProcessorInfo.SupportedArchitectures {
		switch a {
		case ec2types.ArchitectureTypeX8664:
			return v1alpha5.ArchAMD64, true
		case ec2types.ArchitectureTypeArm64:
			return v1alpha5.ArchARM64, true
		}
	}
	return "", false
}

// splitInstanceTypeName reads the family, category, generation and size from a name such as
// c7gn.16xlarge (family c7gn, category c, generation 7, size 16xlarge) or u-6tb1.metal (category
// u, generation 1: the "-6tb" memory infix is skipped). Parts it cannot read are "".
func splitInstanceTypeName(name string) (family, category, generation, size string) {
	family, size, _ = strings.Cut(name, ".")
	i := 0
	for i < len(family) && family[i] >= 'a' && family[i] <= 'z' {
		i++
	}
	category, rest := family[:i], family[i:]
	if strings.HasPrefix(rest, "-") {
		if j := strings.Index(rest, "tb"); j > 0 {
			rest = rest[j+len("tb"):]
		}
	}
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	return family, category, rest[:j], size
}

// labelValue turns an EC2 display name ("Radeon Pro V520", "NVIDIA") into a valid, lower-case
// label value, as Karpenter labels nodes.
func labelValue(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "-")
}

// instanceTypeRequirements are the well-known labels a node of this type carries. A label the type
// lacks (no GPU, no hypervisor on metal) is DoesNotExist, so a pod that asks for it is refused
// rather than matched by an empty value.
func instanceTypeRequirements(info *ec2types.InstanceTypeInfo, arch string, family nodeFamilyModel, pods int64,
	facts staticTypeFacts, offerings scheduling.Offerings) scheduling.Requirements {
	name := string(info.InstanceType)
	fam, category, generation, size := splitInstanceTypeName(name)
	reqs := make([]scheduling.Requirement, 0, 28)
	set := func(key, value string) {
		if value == "" {
			reqs = append(reqs, scheduling.DoesNotExist(key))
			return
		}
		reqs = append(reqs, scheduling.In(key, value))
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }

	set(v1alpha5.LabelInstanceType, name)
	set(v1alpha5.LabelArch, arch)
	set(v1alpha5.LabelOS, family.os)
	set(v1alpha5.LabelWindowsBuild, family.windowsBuild)
	var zones, capacityTypes []string
	for _, o := range offerings {
		zones = append(zones, o.Zone)
		capacityTypes = append(capacityTypes, o.CapacityType)
	}
	reqs = append(reqs, scheduling.In(v1alpha5.LabelTopologyZone, zones...), scheduling.In(v1alpha5.CapacityTypeLabelKey, capacityTypes...))

	set(v1alpha5.LabelInstanceFamily, fam)
	set(v1alpha5.LabelInstanceCategory, category)
	set(v1alpha5.LabelInstanceGeneration, generation)
	set(v1alpha5.LabelInstanceSize, size)
	set(v1alpha5.LabelInstanceCPU, itoa(int64(aws.ToInt32(info.VCpuInfo.DefaultVCpus))))
	set(v1alpha5.LabelInstanceMemory, itoa(aws.ToInt64(info.MemoryInfo.SizeInMiB)))
	set(v1alpha5.LabelInstancePods, itoa(pods))
	set(v1alpha5.LabelInstanceHypervisor, string(info.Hypervisor))
	encryption := info.NetworkInfo != nil && aws.ToBool(info.NetworkInfo.EncryptionInTransitSupported)
	set(v1alpha5.LabelInstanceEncryptionInTransitSupported, strconv.FormatBool(encryption))
	set(v1alpha5.LabelInstanceNetworkBandwidth, positiveLabel(facts.NetworkBandwidthMbps))
	set(v1alpha5.LabelInstanceLocalNVME, positiveLabel(localNVMeGB(info)))

	var gpuName, gpuManufacturer, gpuCount, gpuMemory string
	if info.GpuInfo != nil && len(info.GpuInfo.Gpus) > 0 {
		gpu := info.GpuInfo.Gpus[0]
		gpuName, gpuManufacturer = labelValue(aws.ToString(gpu.Name)), labelValue(aws.ToString(gpu.Manufacturer))
		gpuCount = positiveLabel(int64(aws.ToInt32(gpu.Count)))
		if gpu.MemoryInfo != nil {
			gpuMemory = positiveLabel(int64(aws.ToInt32(gpu.MemoryInfo.SizeInMiB)))
		}
	}
	set(v1alpha5.LabelInstanceGPUName, gpuName)
	set(v1alpha5.LabelInstanceGPUManufacturer, gpuManufacturer)
	set(v1alpha5.LabelInstanceGPUCount, gpuCount)
	set(v1alpha5.LabelInstanceGPUMemory, gpuMemory)

	accName, accManufacturer, accCount := acceleratorLabels(info)
	set(v1alpha5.LabelInstanceAcceleratorName, accName)
	set(v1alpha5.LabelInstanceAcceleratorManufacturer, accManufacturer)
	set(v1alpha5.LabelInstanceAcceleratorCount, accCount)
	return mergeRequirements(reqs)
}

// mergeRequirements combines requirements on distinct keys by merging halves: adding ~28 keys
// one at a time copies the growing set on every step, which dominated the cost of listing the
// whole catalog; merging copies each requirement once per level instead.
func mergeRequirements(reqs []scheduling.Requirement) scheduling.Requirements {
	if len(reqs) <= 1 {
		return scheduling.NewRequirements(reqs...)
	}
	mid := len(reqs) / 2
	return mergeRequirements(reqs[:mid]).Intersect(mergeRequirements(reqs[mid:]))
}

func positiveLabel(n int64) string {
	if n <= 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// localNVMeGB is the instance-store size when it is NVMe, which is what node images format and
// mount for pods; older SATA/HDD instance stores are not counted.
func localNVMeGB(info *ec2types.InstanceTypeInfo) int64 {
	s := info.InstanceStorageInfo
	if s == nil || s.NvmeSupport == ec2types.EphemeralNvmeSupportUnsupported {
		return 0
	}
	return aws.ToInt64(s.TotalSizeInGB)
}

// acceleratorLabels describes the first inference accelerator, from InferenceAcceleratorInfo or, for
// types EC2 describes only with NeuronInfo (Trainium), the first Neuron device made by AWS.
func acceleratorLabels(info *ec2types.InstanceTypeInfo) (name, manufacturer, count string) {
	if a := info.InferenceAcceleratorInfo; a != nil && len(a.Accelerators) > 0 {
		acc := a.Accelerators[0]
		return labelValue(aws.ToString(acc.Name)), labelValue(aws.ToString(acc.Manufacturer)), positiveLabel(int64(aws.ToInt32(acc.Count)))
	}
	if n := info.NeuronInfo; n != nil && len(n.NeuronDevices) > 0 {
		d := n.NeuronDevices[0]
		return labelValue(aws.ToString(d.Name)), "aws", positiveLabel(int64(aws.ToInt32(d.Count)))
	}
	return "", "", ""
}

// offeredCapacityTypes are the purchase options EC2 sells the type with, in a stable order.
func offeredCapacityTypes(info *ec2types.InstanceTypeInfo) []string {
	var out []string
	if slices.Contains(info.SupportedUsageClasses, ec2types.UsageClassTypeSpot) {
		out = append(out, v1alpha5.CapacityTypeSpot)
	}
	if slices.Contains(info.SupportedUsageClasses, ec2types.UsageClassTypeOnDemand) {
		out = append(out, v1alpha5.CapacityTypeOnDemand)
	}
	return out
}
