package scheduling

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Plan is Solve's answer: where each pending pod goes, the new nodes to launch, and why the rest
// cannot be placed. Every list is in a deterministic order.
type Plan struct {
	// NewNodes in the order they were designed.
	NewNodes []NewNode
	// Placements onto existing and in-flight nodes, by pod.
	Placements []Placement
	// Unschedulable pods, by pod, each with a reason per Provisioner.
	Unschedulable []Unschedulable
}

// PodKey names a pod.
type PodKey = types.NamespacedName

// NewNode is one node to launch.
type NewNode struct {
	Provisioner string
	// Requirements the node must meet: the Provisioner's, its labels, and everything the pods
	// and their topology placed on it added (for example a zone chosen for spread).
	Requirements Requirements
	// Taints to put on the node: the Provisioner's taints and startup taints.
	Taints []v1.Taint
	// InstanceTypes that can hold all of Pods plus DaemonSet overhead, cheapest first.
	InstanceTypes []InstanceTypeOption
	Pods          []PodKey
	// PodRequests is the sum of Pods' requests (DaemonSets excluded).
	PodRequests v1.ResourceList
}

// InstanceTypeOption is a candidate instance type with its cheapest available offering's price
// under the node's requirements.
type InstanceTypeOption struct {
	Name  string
	Price float64
}

// Price is the node's hourly price: its cheapest candidate.
func (n NewNode) Price() float64 {
	if len(n.InstanceTypes) == 0 {
		return 0
	}
	return n.InstanceTypes[0].Price
}

// HourlyPrice sums the price of every new node.
func (p Plan) HourlyPrice() float64 {
	total := 0.0
	for _, n := range p.NewNodes {
		total += n.Price()
	}
	return total
}

// Placement puts a pod on an existing or in-flight node.
type Placement struct {
	Pod      PodKey
	Node     string
	InFlight bool
}

// Unschedulable is a pod that fits nowhere, with why: Reasons per Provisioner (why a new node
// cannot take it) and Nodes per existing and in-flight node (why that node cannot), existing
// nodes first, each group by name. Nodes is empty when the pod's spec or volumes rule it out
// everywhere (Reasons then has a single entry saying why).
type Unschedulable struct {
	Pod     PodKey
	Reasons []Reason
	Nodes   []NodeReason
}

// Reason says why a pod cannot go on any node a Provisioner could launch. Code is for machines
// (metrics, tests, kerfctl filters), Message for people (Events, logs).
type Reason struct {
	Provisioner string
	Code        ReasonCode
	Message     string
}

// ReasonCode classifies a Reason.
type ReasonCode string

// Reason codes, one per kind of rule that can rule a pod out.
const (
	ReasonNoProvisioner            ReasonCode = "NoProvisioner"
	ReasonInvalidPod               ReasonCode = "InvalidPodSpec"
	ReasonTaintNotTolerated        ReasonCode = "TaintNotTolerated"
	ReasonIncompatibleRequirements ReasonCode = "IncompatibleRequirements"
	ReasonNoCompatibleInstanceType ReasonCode = "NoCompatibleInstanceType"
	ReasonInsufficientResources    ReasonCode = "InsufficientResources"
	ReasonNoAvailableOffering      ReasonCode = "NoAvailableOffering"
	ReasonLimitExceeded            ReasonCode = "LimitExceeded"
	ReasonTopologySpread           ReasonCode = "TopologySpreadUnsatisfiable"
	ReasonPodAffinity              ReasonCode = "PodAffinityUnsatisfiable"
	ReasonPodAntiAffinity          ReasonCode = "PodAntiAffinityUnsatisfiable"
	ReasonHostPortConflict         ReasonCode = "HostPortConflict"
	// ReasonVolumeNotFound: a claim, its PersistentVolume or its StorageClass is not in the Snapshot.
	ReasonVolumeNotFound ReasonCode = "VolumeNotFound"
	// ReasonVolumeNotBound: a claim must bind before its zone is known (Immediate binding or no class).
	ReasonVolumeNotBound ReasonCode = "VolumeNotBound"
	// ReasonVolumeTopology: the node cannot reach a volume (PV node affinity, allowedTopologies).
	ReasonVolumeTopology ReasonCode = "VolumeTopologyConflict"
	// ReasonVolumeAttachLimit: the node has attached as many volumes of a driver as it can.
	ReasonVolumeAttachLimit ReasonCode = "VolumeAttachLimitExceeded"
)
