// Package termination owns the karpenter.sh/termination finalizer on Nodes: it cordons the node,
// evicts its pods through the Eviction API so PodDisruptionBudgets are respected, terminates the
// instance and releases the finalizer.
package termination
