package consolidation

import (
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// Input is everything one consolidation pass depends on.
type Input struct {
	// Cluster holds every registered and in-flight node with its bound pods, the Provisioners
	// (with their instance types, which also design replacements), DaemonSets, namespaces and
	// volumes. Its pending Pods are ignored: a cluster with pending pods is provisioning, not
	// consolidating.
	Cluster scheduling.Snapshot
	// Nodes describes the nodes of Cluster that Kerf launched; nodes not listed are never
	// candidates but still take pods.
	Nodes []NodeInfo
	// Budgets are the PodDisruptionBudgets, with how many disruptions each allows now.
	Budgets []Budget
	// Provisioners says which Provisioners consolidate.
	Provisioners []ProvisionerInfo
	Options      Options
}

// NodeInfo is what consolidation knows about one of Kerf's nodes beyond its scheduling view.
type NodeInfo struct {
	// Name matches scheduling.Node.Name.
	Name        string
	Provisioner string
	// Price is what the node costs per hour now.
	Price        float64
	CapacityType string
	Initialized  bool
	Deleting     bool
	// DoNotConsolidate is the karpenter.sh/do-not-consolidate: "true" annotation.
	DoNotConsolidate bool
	// Nominated: a pending pod was promised this node (by Kerf or the kube-scheduler).
	Nominated bool
	Created   time.Time
	// ExpiresAt is when ttlSecondsUntilExpired replaces the node anyway; zero when never.
	ExpiresAt time.Time
}

// Budget is a PodDisruptionBudget's selector and how many more pods it lets go now
// (status.disruptionsAllowed).
type Budget struct {
	Namespace string
	Selector  labels.Selector
	Allowed   int32
}

// covers reports whether the budget counts pod.
func (b *Budget) covers(pod *v1.Pod) bool {
	return b.Namespace == pod.Namespace && b.Selector != nil && b.Selector.Matches(labels.Set(pod.Labels))
}

// ProvisionerInfo is a Provisioner's consolidation setting.
type ProvisionerInfo struct {
	Name    string
	Enabled bool
	// MinSavingsPerPod and MinSavingsPercent, when positive, replace Options' for commands that
	// remove this Provisioner's nodes; a command spanning several Provisioners meets the
	// strictest of them.
	MinSavingsPerPod  float64
	MinSavingsPercent float64
	// Blocked, when set, says why none of this Provisioner's nodes may be disrupted now (a
	// disruption budget spent, a window closed): its nodes are no candidates, and every command
	// is planned around them.
	Blocked string
}

// Options tune a pass.
type Options struct {
	// SpotToSpot lets a spot node be replaced by a cheaper spot node (off by default: it churns
	// and the replacement is often the most interrupted pool).
	SpotToSpot bool
	// MinSavingsPerPod is the least saving, in $/hour per evicted pod, a command must bring; 0
	// keeps Karpenter v0.31's behaviour (any saving).
	MinSavingsPerPod float64
	// MinSavingsPercent is the least saving as a percentage of the removed nodes' price.
	MinSavingsPercent float64
	// MinAge is how long a node must have existed; 0 means any initialized node.
	MinAge time.Duration
}

// Method is how a Command removes capacity.
type Method string

// Methods, cheapest to run first.
const (
	MethodEmpty     Method = "empty"
	MethodMultiNode Method = "multi-node"
	MethodDelete    Method = "delete"
	MethodReplace   Method = "replace"
)

// Command is one consolidation action: launch Replacement first (if any), then drain Nodes.
type Command struct {
	Method Method
	// Nodes to remove, in disruption-cost order.
	Nodes []string
	// Replacement is the node to launch before the others go; nil for a delete.
	Replacement *scheduling.NewNode
	// Savings is the removed nodes' price minus the replacement's, in $/hour.
	Savings float64
	// Pods is how many pods the command evicts; DisruptionCost weighs them.
	Pods           int
	DisruptionCost float64
	// Reason says in words why the command is worth it.
	Reason string
}

// ReasonCode says why a node is left alone.
type ReasonCode string

// Why a node is not consolidated.
const (
	ReasonNotManaged            ReasonCode = "NotManaged"
	ReasonConsolidationDisabled ReasonCode = "ConsolidationDisabled"
	ReasonDisruptionBlocked     ReasonCode = "DisruptionBlocked"
	ReasonDeleting              ReasonCode = "Deleting"
	ReasonInFlight              ReasonCode = "InFlight"
	ReasonNotInitialized        ReasonCode = "NotInitialized"
	ReasonTooYoung              ReasonCode = "TooYoung"
	ReasonDoNotConsolidate      ReasonCode = "DoNotConsolidate"
	ReasonNominated             ReasonCode = "Nominated"
	ReasonDoNotEvictPod         ReasonCode = "DoNotEvictPod"
	ReasonPDBViolation          ReasonCode = "PDBWouldBeViolated"
	ReasonPodsWouldNotFit       ReasonCode = "PodsWouldNotFit"
	ReasonNotCheaper            ReasonCode = "ReplacementNotCheaper"
	ReasonSpotToSpot            ReasonCode = "SpotToSpotDisabled"
	ReasonSavingsBelowThreshold ReasonCode = "SavingsBelowThreshold"
)

// NodeReason is why one node is left alone.
type NodeReason struct {
	Node    string
	Code    ReasonCode
	Message string
}

// Result is a pass's answer: the commands, in the order to run them, and for every other node
// why not. Both lists are deterministic.
type Result struct {
	Commands []Command
	Skipped  []NodeReason
}
