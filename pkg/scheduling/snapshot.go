package scheduling

import (
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// Snapshot is everything one scheduling decision depends on. pkg/state builds it from the cache;
// tests and kerfctl build it by hand. Solve never modifies it, and the order of every slice is
// irrelevant to the result.
type Snapshot struct {
	// Pods are the pending pods to place.
	Pods []*v1.Pod
	// Nodes are registered nodes and in-flight ones (launched Machines not yet registered), each
	// with the pods bound to it. They are filled before any new node is planned.
	Nodes []Node
	// Provisioners may design new nodes; higher Weight is tried first.
	Provisioners []Provisioner
	// DaemonSetPods holds one pod per DaemonSet (its template): each new node reserves room for
	// those that would land on it.
	DaemonSetPods []*v1.Pod
	// Namespaces are needed only to evaluate namespaceSelectors in pod (anti-)affinity terms.
	Namespaces []Namespace
	// PersistentVolumeClaims, PersistentVolumes and StorageClasses resolve the claims pods mount:
	// a bound volume's node affinity, or a WaitForFirstConsumer class's allowedTopologies, limits
	// where the pod can go. A pod whose claim is missing, or unbound under Immediate binding,
	// cannot be placed.
	PersistentVolumeClaims []*v1.PersistentVolumeClaim
	PersistentVolumes      []*v1.PersistentVolume
	StorageClasses         []*storagev1.StorageClass
	Options                Options
}

// Node is an existing or in-flight node as the simulation sees it.
type Node struct {
	Name   string
	Labels map[string]string
	// Taints are the taints that repel pods. The caller leaves out taints that are about to go
	// away: a Provisioner's startup taints, and the not-ready taint of an in-flight node.
	Taints      []v1.Taint
	Allocatable v1.ResourceList
	// Pods are bound to the node; they use its resources and host ports and count for topology
	// spread and (anti-)affinity. Succeeded and failed pods are ignored.
	Pods []*v1.Pod
	// InFlight marks a node that is launching; existing nodes are filled before in-flight ones.
	InFlight bool
	// VolumeLimits is how many volumes each CSI driver may attach to the node (CSINode
	// spec.drivers[].allocatable.count). A driver not listed is unlimited; nil means unknown.
	VolumeLimits map[string]int32
}

// Provisioner is the simulation's view of a Provisioner with its AWSNodeTemplate resolved: what
// it may launch and how the nodes will look.
type Provisioner struct {
	Name   string
	Weight int32
	// Requirements constrain every node it launches (spec.requirements).
	Requirements Requirements
	// Defaults apply to keys Requirements does not mention, e.g. capacity type on-demand, arch
	// amd64, os linux; the caller supplies them so that cloud-specific defaults stay out of here.
	Defaults Requirements
	// Labels are put on every node; each is a requirement with that single value.
	Labels map[string]string
	// Taints repel pods that do not tolerate them. StartupTaints are placed on new nodes but
	// removed once the node is ready, so they repel nobody here.
	Taints        []v1.Taint
	StartupTaints []v1.Taint
	// Limits caps the total capacity of its nodes; nil means no limit. Usage is the capacity of
	// the nodes it already has, existing and in-flight.
	Limits v1.ResourceList
	Usage  v1.ResourceList
	// InstanceTypes it may launch, already filtered by the node template.
	InstanceTypes []*InstanceType
}

// Namespace is a namespace's name and labels.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// Options tune a Solve.
type Options struct {
	// IgnorePreferences treats every preference (preferred affinities, ScheduleAnyway spread,
	// PreferNoSchedule taints) as absent.
	IgnorePreferences bool
	// MaxInstanceTypes caps the candidate instance types listed per new node; 0 means 60.
	MaxInstanceTypes int
}

// DefaultMaxInstanceTypes is how many candidate instance types a planned node lists when Options
// leaves it unset; EC2 Fleet accepts a bounded number of overrides.
const DefaultMaxInstanceTypes = 60
