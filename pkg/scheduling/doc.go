// Package scheduling is Kerf's pure scheduling simulation. It owns the instance type and offering
// types, the requirements algebra over node labels, pod resource requests, taints and tolerations,
// topology spread and pod (anti-)affinity, and Solve: Snapshot in, Plan out.
//
// Solve is deterministic: the same Snapshot, with its slices in any order, yields the same Plan. It
// reads no clock, draws no random numbers and never depends on map iteration order.
//
// This package must not import a Kubernetes client, controller-runtime, the AWS SDK or Kerf's API
// types (pkg/apis): pkg/state converts Provisioners and cluster objects into the plain values defined
// here, so that controllers, consolidation, kerfctl, tests and benchmarks all share one simulation.
package scheduling
