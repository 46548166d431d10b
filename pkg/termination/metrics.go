package termination

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics measure terminations under Karpenter v0.31's names and labels, so its dashboards and
// alerts read Kerf's figures. v0.31 had no eviction metric; the one here takes the name and code
// label later Karpenter releases use.
type Metrics struct {
	terminated       *prometheus.CounterVec
	terminationTime  *prometheus.SummaryVec
	evictionRequests *prometheus.CounterVec
}

// NewMetrics registers the termination metrics with registry.
func NewMetrics(registry prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		terminated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "karpenter_nodes_terminated",
			Help: "Number of nodes terminated in total by Kerf. Labeled by owning provisioner.",
		}, []string{"provisioner"}),
		// A summary, as in v0.31, so dashboards reading its quantiles keep working.
		terminationTime: prometheus.NewSummaryVec(prometheus.SummaryOpts{
			Name:       "karpenter_nodes_termination_time_seconds",
			Help:       "The time taken between a node's deletion request and the removal of its finalizer. Labeled by owning provisioner.",
			Objectives: map[float64]float64{0: 0, 0.5: 0.05, 0.9: 0.01, 0.99: 0.001, 1: 0},
		}, []string{"provisioner"}),
		evictionRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "karpenter_nodes_eviction_requests_total",
			Help: "Eviction requests made while draining nodes, by HTTP response code (429: refused by a PodDisruptionBudget).",
		}, []string{"code"}),
	}
	for _, c := range []prometheus.Collector{m.terminated, m.terminationTime, m.evictionRequests} {
		if err := registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering termination metrics, %w", err)
		}
	}
	return m, nil
}
