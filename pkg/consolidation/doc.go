// Package consolidation decides which nodes are worth removing or replacing: Evaluate takes a
// picture of the cluster and a time and returns Commands (delete empty nodes, delete nodes whose
// pods fit elsewhere, replace nodes with one cheaper node), each with its saving and a reason, and
// for every node it leaves alone a reason code.
//
// It is pure, like pkg/scheduling, whose Solve answers every "could these pods go elsewhere?":
// no client, no cloud, no wall clock, no randomness, no map-order dependence. The same Input and
// time give the same Result. It must not import a Kubernetes client, controller-runtime, the AWS
// SDK or Kerf's API types; the disruption controller builds the Input and executes the Commands.
package consolidation
