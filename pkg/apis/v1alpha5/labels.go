package v1alpha5

import (
	corev1 "k8s.io/api/core/v1"
)

// Labels and annotations Kerf reads and writes. The names are Karpenter v0.31's so that workloads,
// dashboards and policies written for Karpenter keep working.
const (
	Group = "karpenter.sh"

	ProvisionerNameLabelKey = Group + "/provisioner-name"
	CapacityTypeLabelKey    = Group + "/capacity-type"
	LabelNodeInitialized    = Group + "/initialized"
	LabelNodeRegistered     = Group + "/registered"

	DoNotEvictPodAnnotationKey        = Group + "/do-not-evict"
	DoNotConsolidateNodeAnnotationKey = Group + "/do-not-consolidate"
	EmptinessTimestampAnnotationKey   = Group + "/emptiness-timestamp"

	// PlannedPodsAnnotationKey is on a Machine Kerf created: how many pending pods its plan put on
	// it. ReceivedPodsAnnotationKey is written once, ReceivedPodsWindow after the Machine's node
	// was initialized: how many pods (not DaemonSet pods) its node then ran. Kerf's own domain.
	PlannedPodsAnnotationKey  = "kerf.sh/planned-pods"
	ReceivedPodsAnnotationKey = "kerf.sh/received-pods"

	// BatchLabelKey marks the Machines of one plan with the plan's id. Their nodes carry the
	// BatchGateTaintKey taint until every one of them can take pods (or the batch open timeout
	// passed): the kube-scheduler then places the batch's pods with every node of the plan in
	// view, as the plan did, instead of filling whichever node turned Ready first.
	BatchLabelKey     = "kerf.sh/batch"
	BatchGateTaintKey = "kerf.sh/batch-pending"

	// TerminationFinalizer holds a Node or Machine until its instance is gone.
	TerminationFinalizer = Group + "/termination"

	CapacityTypeSpot     = "spot"
	CapacityTypeOnDemand = "on-demand"
)

// AWS labels, in the karpenter.k8s.aws domain.
const (
	AWSGroup = "karpenter.k8s.aws"

	LabelInstanceHypervisor                   = AWSGroup + "/instance-hypervisor"
	LabelInstanceEncryptionInTransitSupported = AWSGroup + "/instance-encryption-in-transit-supported"
	LabelInstanceCategory                     = AWSGroup + "/instance-category"
	LabelInstanceFamily                       = AWSGroup + "/instance-family"
	LabelInstanceGeneration                   = AWSGroup + "/instance-generation"
	LabelInstanceLocalNVME                    = AWSGroup + "/instance-local-nvme"
	LabelInstanceSize                         = AWSGroup + "/instance-size"
	LabelInstanceCPU                          = AWSGroup + "/instance-cpu"
	LabelInstanceMemory                       = AWSGroup + "/instance-memory"
	LabelInstanceNetworkBandwidth             = AWSGroup + "/instance-network-bandwidth"
	LabelInstancePods                         = AWSGroup + "/instance-pods"
	LabelInstanceGPUName                      = AWSGroup + "/instance-gpu-name"
	LabelInstanceGPUManufacturer              = AWSGroup + "/instance-gpu-manufacturer"
	LabelInstanceGPUCount                     = AWSGroup + "/instance-gpu-count"
	LabelInstanceGPUMemory                    = AWSGroup + "/instance-gpu-memory"
	LabelInstanceAcceleratorName              = AWSGroup + "/instance-accelerator-name"
	LabelInstanceAcceleratorManufacturer      = AWSGroup + "/instance-accelerator-manufacturer"
	LabelInstanceAcceleratorCount             = AWSGroup + "/instance-accelerator-count"
	LabelInstanceAMIID                        = AWSGroup + "/instance-ami-id"
)

// Kubernetes' own well-known node labels, named here so every package uses one spelling.
const (
	LabelTopologyZone   = corev1.LabelTopologyZone
	LabelTopologyRegion = corev1.LabelTopologyRegion
	LabelInstanceType   = corev1.LabelInstanceTypeStable
	LabelArch           = corev1.LabelArchStable
	LabelOS             = corev1.LabelOSStable
	LabelHostname       = corev1.LabelHostname
	LabelWindowsBuild   = corev1.LabelWindowsBuild

	ArchAMD64 = "amd64"
	ArchARM64 = "arm64"
)

// WellKnownLabels are the node labels a Provisioner may constrain and the scheduler understands
// even though they sit in restricted domains.
func WellKnownLabels() []string {
	return []string{
		LabelTopologyZone, LabelTopologyRegion, LabelInstanceType, LabelArch, LabelOS, LabelWindowsBuild,
		CapacityTypeLabelKey,
		LabelInstanceHypervisor, LabelInstanceEncryptionInTransitSupported, LabelInstanceCategory,
		LabelInstanceFamily, LabelInstanceGeneration, LabelInstanceLocalNVME, LabelInstanceSize,
		LabelInstanceCPU, LabelInstanceMemory, LabelInstanceNetworkBandwidth, LabelInstancePods,
		LabelInstanceGPUName, LabelInstanceGPUManufacturer, LabelInstanceGPUCount, LabelInstanceGPUMemory,
		LabelInstanceAcceleratorName, LabelInstanceAcceleratorManufacturer, LabelInstanceAcceleratorCount,
	}
}

// RestrictedLabelDomains may not be used for Provisioner labels or requirements, except for the
// well-known labels and the domains in LabelDomainExceptions. They belong to Kubernetes and Kerf.
func RestrictedLabelDomains() []string {
	return []string{"kubernetes.io", "k8s.io", Group, AWSGroup}
}

// LabelDomainExceptions are sub-domains of restricted domains that users may set.
func LabelDomainExceptions() []string {
	return []string{"kops.k8s.io", "node.kubernetes.io", "node-restriction.kubernetes.io"}
}
