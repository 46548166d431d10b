// Package disruption removes and replaces the nodes Kerf launched once they are no longer worth
// keeping: empty past their Provisioner's ttlSecondsAfterEmpty, older than ttlSecondsUntilExpired,
// drifted from their Provisioner or node template, or cheaper to run elsewhere (the commands of
// pkg/consolidation).
//
// One method acts at a time, in that order, each from a fresh picture of the cluster, and only
// once the cluster has settled from recent launches. Replacements are launched and must be
// initialized before the nodes they replace are deleted; the nodes then leave through the
// termination controller, which drains them through the Eviction API. Candidates carry the
// karpenter.sh/disruption taint from the moment they are chosen, so no new pod lands on them,
// and lose it again if the command is abandoned. Per-Provisioner budgets and windows (budget.go)
// bound how many nodes are disrupted at once and when.
package disruption
