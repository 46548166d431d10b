package scheduling

import v1 "k8s.io/api/core/v1"

// Well-known node label keys the simulation gives meaning to. They match Karpenter v0.31's names;
// pkg/apis defines the same strings for the API, and this package keeps its own copy so that it
// does not depend on the API types.
const (
	LabelZone            = v1.LabelTopologyZone
	LabelHostname        = v1.LabelHostname
	LabelInstanceType    = v1.LabelInstanceTypeStable
	LabelArch            = v1.LabelArchStable
	LabelOS              = v1.LabelOSStable
	LabelCapacityType    = "karpenter.sh/capacity-type"
	LabelProvisionerName = "karpenter.sh/provisioner-name"

	CapacityTypeSpot     = "spot"
	CapacityTypeOnDemand = "on-demand"
)
