// Package interruption reads the cloud's interruption queue (spot interruption warnings,
// rebalance recommendations, scheduled maintenance, instance state changes) and sends the nodes
// about to go away through the termination path, so their pods are evicted within their
// PodDisruptionBudgets before the cloud takes the instance.
//
// It talks to the cloud only through cloudprovider.InterruptionQueue and never terminates an
// instance itself: deleting the Node is the one way out (pkg/termination).
package interruption
