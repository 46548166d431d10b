package aws

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// Extended resources the device plugins and the VPC resource controller advertise on nodes.
const (
	ResourceNVIDIAGPU corev1.ResourceName = "nvidia.com/gpu"
	ResourceAMDGPU    corev1.ResourceName = "amd.com/gpu"
	ResourceHabanaGPU corev1.ResourceName = "habana.ai/gaudi"
	ResourceAWSNeuron corev1.ResourceName = "aws.amazon.com/neuron"
	ResourceAWSPodENI corev1.ResourceName = "vpc.amazonaws.com/pod-eni"
	ResourceEFA       corev1.ResourceName = "vpc.amazonaws.com/efa"
	// kubeletDefaultMaxPods is the kubelet's own default: Windows nodes use it, and so does a
	// type EC2 publishes no ENI limits for.
	kubeletDefaultMaxPods = 110
	bytesPerMiB           = 1 << 20
	bytesPerGiB           = 1 << 30
)

// nodeFamilyModel is what an AMI family changes in the labels and allocatable resources of its
// nodes: each family's bootstrap configures the kubelet differently.
type nodeFamilyModel struct {
	os           string
	windowsBuild string
	// amd64Only: Windows has no Graviton images.
	amd64Only bool
	// fixedDefaultPods replaces the ENI limit when the kubelet sets no maxPods (Windows: 110,
	// because Windows pods do not take an address from the VPC CNI's per-ENI pool). 0: ENI limit.
	fixedDefaultPods int64
	// reservedMemoryFromENILimit: the EKS bootstrap scripts size kube-reserved memory from the ENI
	// pod limit whatever maxPods says; Bottlerocket and Windows use the configured pod count.
	reservedMemoryFromENILimit bool
	// storage says which volume is the node's ephemeral storage, shared with the launch template.
	storage familyStorage
}

// nodeFamilyModelFor describes a family; unknown names get the AL2 model, which is also the default.
func nodeFamilyModelFor(family string) nodeFamilyModel {
	linux := nodeFamilyModel{os: "linux", reservedMemoryFromENILimit: true, storage: familyStorageFor(family)}
	switch family {
	case v1alpha1.AMIFamilyBottlerocket:
		linux.reservedMemoryFromENILimit = false
	case v1alpha1.AMIFamilyWindows2019, v1alpha1.AMIFamilyWindows2022:
		build := "10.0.17763"
		if family == v1alpha1.AMIFamilyWindows2022 {
			build = "10.0.20348"
		}
		return nodeFamilyModel{os: "windows", windowsBuild: build, amd64Only: true, fixedDefaultPods: kubeletDefaultMaxPods,
			storage: familyStorageFor(family)}
	}
	return linux
}

// PodNetworking is how the cluster's VPC CNI is set up, which decides the pods a node takes and
// the pod ENIs it offers (Karpenter v0.31's aws.enablePodENI, aws.enableENILimitedPodDensity and
// aws.reservedENIs settings). The zero value is the VPC CNI's default.
type PodNetworking struct {
	// PodENI: the CNI's ENABLE_POD_ENI is on, so nodes with branch interfaces offer
	// vpc.amazonaws.com/pod-eni to pods with security groups of their own.
	PodENI bool
	// UnlimitedPodDensity: nodes take 110 pods whatever their ENIs can address (prefix
	// delegation); v0.31's enableENILimitedPodDensity=false.
	UnlimitedPodDensity bool
	// ReservedENIs is how many ENIs per node the CNI keeps from pods (custom networking).
	ReservedENIs int
}

// podsOverridden reports whether nodes take a number of pods other than the one the node's own
// bootstrap derives from its ENIs, so the user data must say it.
func (n PodNetworking) podsOverridden() bool { return n.UnlimitedPodDensity || n.ReservedENIs > 0 }

// nodeShape is everything besides EC2's facts that decides a node's resources.
type nodeShape struct {
	family                  nodeFamilyModel
	kubelet                 v1alpha5.KubeletConfiguration
	blockDevices            []*v1alpha1.BlockDeviceMapping
	vmMemoryOverheadPercent float64
	networking              PodNetworking
}

// eniLimitedPods is the VPC CNI's pod limit: every ENI of the default network card but its
// primary address and those reserved, plus two host-network pods (aws-node and kube-proxy) that
// need no address. Types without published network limits get the kubelet's default of 110.
func eniLimitedPods(info *ec2types.InstanceTypeInfo, reservedENIs int) int64 {
	ni := info.NetworkInfo
	if ni == nil || ni.Ipv4AddressesPerInterface == nil {
		return kubeletDefaultMaxPods
	}
	enis := int64(aws.ToInt32(ni.MaximumNetworkInterfaces))
	defaultCard := aws.ToInt32(ni.DefaultNetworkCardIndex)
	for _, card := range ni.NetworkCards {
		if aws.ToInt32(card.NetworkCardIndex) == defaultCard && card.MaximumNetworkInterfaces != nil {
			enis = int64(*card.MaximumNetworkInterfaces)
		}
	}
	if enis <= 0 {
		return kubeletDefaultMaxPods
	}
	// Every ENI reserved still leaves the host-network pods.
	enis = max(enis-int64(reservedENIs), 0)
	return enis*(int64(*ni.Ipv4AddressesPerInterface)-1) + 2
}

// pods is the node's pod capacity: maxPods, else the family default, capped by podsPerCore.
func (s nodeShape) pods(info *ec2types.InstanceTypeInfo, vcpus int64) int64 {
	pods := eniLimitedPods(info, s.networking.ReservedENIs)
	switch {
	case s.kubelet.MaxPods != nil:
		pods = int64(*s.kubelet.MaxPods)
	case s.family.fixedDefaultPods > 0:
		pods = s.family.fixedDefaultPods
	case s.networking.UnlimitedPodDensity:
		pods = kubeletDefaultMaxPods
	}
	// podsPerCore 0 is the kubelet's "no limit".
	// Bottlerocket has no pods-per-core setting: Kerf gives it the capped count as max-pods.
	if ppc := s.kubelet.PodsPerCore; ppc != nil && *ppc > 0 {
		pods = min(pods, int64(*ppc)*vcpus)
	}
	return pods
}

// memoryBytes is what the node reports as memory capacity: EC2's figure less the 64 MiB the arm64
// kernel reserves for its contiguous memory allocator, less an estimate of what the hypervisor and
// firmware keep (vmMemoryOverheadPercent of the rest, rounded up to a whole MiB).
func (s nodeShape) memoryBytes(info *ec2types.InstanceTypeInfo, arch string) int64 {
	mib := aws.ToInt64(info.MemoryInfo.SizeInMiB)
	if arch == v1alpha5.ArchARM64 {
		mib -= 64
	}
	// The fraction is taken as the decimal the user wrote (0.075), not its binary approximation,
	// so a product that is a whole MiB is not rounded up by a stray last bit.
	fraction, ok := new(big.Rat).SetString(strconv.FormatFloat(s.vmMemoryOverheadPercent, 'g', -1, 64))
	if !ok || fraction.Sign() < 0 {
		fraction = new(big.Rat)
	}
	return (mib - ceilRat(fraction.Mul(fraction, big.NewRat(mib, 1)))) * bytesPerMiB
}

// ephemeralBytes is the size of the volume holding the kubelet's root directory.
func (s nodeShape) ephemeralBytes() int64 { return s.family.storage.ephemeralBytes(s.blockDevices) }

// kubeReserved follows the EKS bootstrap: memory 11 MiB per pod plus 255 MiB, CPU in tiers (6% of
// the first core, 1% of the second, 0.5% of the next two, 0.25% of the rest), 1Gi of disk. Keys
// the kubelet configuration sets replace the computed ones.
func (s nodeShape) kubeReserved(cpuMilli, pods, eniPods int64) corev1.ResourceList {
	if s.family.reservedMemoryFromENILimit {
		pods = eniPods
	}
	out := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(reservedCPUMilli(cpuMilli), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity((11*pods+255)*bytesPerMiB, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(bytesPerGiB, resource.BinarySI),
	}
	for name, q := range s.kubelet.KubeReserved {
		out[name] = q.DeepCopy()
	}
	return out
}

// reservedCPUMilli sums the CPU tiers in integer arithmetic (basis points of a millicore), each
// tier rounded down, so no float rounding can move a result by a millicore.
func reservedCPUMilli(cpuMilli int64) int64 {
	tiers := []struct{ from, to, basisPoints int64 }{
		{0, 1000, 600}, {1000, 2000, 100}, {2000, 4000, 50}, {4000, 1 << 62, 25},
	}
	var total int64
	for _, t := range tiers {
		if cpuMilli <= t.from {
			break
		}
		total += (min(cpuMilli, t.to) - t.from) * t.basisPoints / 10000
	}
	return total
}

// Eviction signals that hold capacity back from pods.
const (
	signalMemoryAvailable = "memory.available"
	signalNodeFSAvailable = "nodefs.available"
)

// evictionThreshold is the kubelet's hard eviction reservation: memory.available 100Mi and
// nodefs.available 10% unless evictionHard says otherwise. Soft thresholds only start graceful
// evictions and are not subtracted from allocatable by the kubelet, so they are not here.
func (s nodeShape) evictionThreshold(memory, storage int64) (corev1.ResourceList, error) {
	hard := map[string]string{signalMemoryAvailable: "100Mi", signalNodeFSAvailable: "10%"}
	for k, v := range s.kubelet.EvictionHard {
		hard[k] = v
	}
	mem, err := evictionSignalBytes(hard[signalMemoryAvailable], memory)
	if err != nil {
		return nil, fmt.Errorf("evictionHard %s, %w", signalMemoryAvailable, err)
	}
	disk, err := evictionSignalBytes(hard[signalNodeFSAvailable], storage)
	if err != nil {
		return nil, fmt.Errorf("evictionHard %s, %w", signalNodeFSAvailable, err)
	}
	return corev1.ResourceList{
		corev1.ResourceMemory:           *resource.NewQuantity(mem, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(disk, resource.BinarySI),
	}, nil
}

// evictionSignalBytes reads a threshold: a percentage of capacity (rounded up to a byte) or a
// quantity.
func evictionSignalBytes(value string, capacity int64) (int64, error) {
	if pct, ok := strings.CutSuffix(value, "%"); ok {
		r, ok := new(big.Rat).SetString(strings.TrimSpace(pct))
		if !ok || r.Sign() < 0 || r.Cmp(big.NewRat(100, 1)) > 0 {
			return 0, fmt.Errorf("%q is not a percentage between 0 and 100", value)
		}
		return ceilRat(r.Mul(r, big.NewRat(capacity, 100))), nil
	}
	q, err := resource.ParseQuantity(value)
	if err != nil {
		return 0, fmt.Errorf("parsing %q, %w", value, err)
	}
	return q.Value(), nil
}

// ceilRat rounds a non-negative rational up to an integer.
func ceilRat(r *big.Rat) int64 {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

// extendedResources are the device-plugin and VPC resources a node of this type advertises.
// Zero counts are left out: a missing resource already counts as none.
func extendedResources(info *ec2types.InstanceTypeInfo, facts staticTypeFacts, podENI bool) corev1.ResourceList {
	out := corev1.ResourceList{}
	add := func(name corev1.ResourceName, n int64) {
		if n > 0 {
			q := out[name]
			q.Add(*resource.NewQuantity(n, resource.DecimalSI))
			out[name] = q
		}
	}
	if info.GpuInfo != nil {
		for _, gpu := range info.GpuInfo.Gpus {
			switch strings.ToLower(aws.ToString(gpu.Manufacturer)) {
			case "nvidia":
				add(ResourceNVIDIAGPU, int64(aws.ToInt32(gpu.Count)))
			case "amd":
				add(ResourceAMDGPU, int64(aws.ToInt32(gpu.Count)))
			case "habana":
				add(ResourceHabanaGPU, int64(aws.ToInt32(gpu.Count)))
			}
		}
	}
	add(ResourceAWSNeuron, neuronDevices(info))
	// Nodes report pod ENIs only when the VPC CNI's pod-ENI feature is on: a Machine expecting
	// them otherwise would never be initialized.
	if podENI {
		add(ResourceAWSPodENI, int64(facts.BranchInterfaces))
	}
	if ni := info.NetworkInfo; ni != nil && aws.ToBool(ni.EfaSupported) && ni.EfaInfo != nil {
		add(ResourceEFA, int64(aws.ToInt32(ni.EfaInfo.MaximumEfaInterfaces)))
	}
	return out
}

// neuronDevices counts Inferentia and Trainium devices: from NeuronInfo where EC2 reports it, else
// from the AWS-made inference accelerators of older descriptions.
func neuronDevices(info *ec2types.InstanceTypeInfo) int64 {
	var n int64
	if info.NeuronInfo != nil {
		for _, d := range info.NeuronInfo.NeuronDevices {
			n += int64(aws.ToInt32(d.Count))
		}
		return n
	}
	if info.InferenceAcceleratorInfo != nil {
		for _, a := range info.InferenceAcceleratorInfo.Accelerators {
			if strings.EqualFold(aws.ToString(a.Manufacturer), "aws") {
				n += int64(aws.ToInt32(a.Count))
			}
		}
	}
	return n
}

// resources computes capacity and overhead for one instance type on nodes of this shape.
func (s nodeShape) resources(info *ec2types.InstanceTypeInfo, arch string, facts staticTypeFacts) (corev1.ResourceList, scheduling.Overhead, error) {
	vcpus := int64(aws.ToInt32(info.VCpuInfo.DefaultVCpus))
	pods := s.pods(info, vcpus)
	memory, storage := s.memoryBytes(info, arch), s.ephemeralBytes()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(vcpus, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(memory, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(storage, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(pods, resource.DecimalSI),
	}
	for name, q := range extendedResources(info, facts, s.networking.PodENI) {
		capacity[name] = q
	}
	eviction, err := s.evictionThreshold(memory, storage)
	if err != nil {
		return nil, scheduling.Overhead{}, err
	}
	systemReserved := corev1.ResourceList{}
	for name, q := range s.kubelet.SystemReserved {
		systemReserved[name] = q.DeepCopy()
	}
	return capacity, scheduling.Overhead{
		// The EKS bootstrap sizes reserved memory from its own table, which knows no reserved ENIs.
		KubeReserved:      s.kubeReserved(vcpus*1000, pods, eniLimitedPods(info, 0)),
		SystemReserved:    systemReserved,
		EvictionThreshold: eviction,
	}, nil
}
