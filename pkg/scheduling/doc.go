// Package scheduling is Kerf's pure scheduling simulation. It owns the instance type and offering
// types, the requirements algebra over node labels, pod resource requests, taints and tolerations,
// topology spread and pod (anti-)affinity, and Solve: Snapshot in, Plan out.
//
// Solve is deterministic: the same Snapshot, with its slices in any order, yields the same Plan. It
// reads no clock, draws no random numbers and never depends on map iteration order.
//
// Where the simulation deliberately differs from the kube-scheduler, it is because Solve can add
// nodes and the kube-scheduler cannot:
//   - A hostname topology spread skews over the nodes of the plan (existing, in-flight and new) as
//     the kube-scheduler will once they all exist, every one a domain whether it has room or not;
//     a new node is opened only when none of them can take the pod. The kube-scheduler sees the
//     nodes as they register, one by one, so a plan can still diverge from its placements.
//   - Required pod affinity is enforced for the pending pod only. A running pod's required
//     affinity does not pull or keep new pods (the kube-scheduler only scores it), whereas a
//     running pod's required anti-affinity does repel them, as it does in the kube-scheduler.
//   - Volume attach limits are enforced on existing and in-flight nodes that report them
//     (Node.VolumeLimits); a planned node's limits are unknown until its CSI driver registers, so
//     a plan may put more volumes on one new node than it can attach.
//
// This package must not import a Kubernetes client, controller-runtime, the AWS SDK or Kerf's API
// types (pkg/apis): pkg/state converts Provisioners and cluster objects into the plain values defined
// here, so that controllers, consolidation, kerfctl, tests and benchmarks all share one simulation.
package scheduling
