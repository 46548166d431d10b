// Package termination owns the karpenter.sh/termination finalizer on Nodes: the one way a node
// leaves the cluster, whoever deleted it (a user, its Machine, its Provisioner, disruption,
// interruption). It cordons the node, evicts its pods through the Eviction API so
// PodDisruptionBudgets are respected, terminates the instance and only then releases the Node.
//
// It reads through the manager's cache (with state.AddIndexes) and talks to the cloud only through
// cloudprovider.CloudProvider; it imports no AWS code and nothing from provisioning.
package termination
