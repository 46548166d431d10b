package disruption

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics measure disruption under Karpenter v0.31's deprovisioning names and labels, so its
// dashboards and alerts read Kerf's figures.
type Metrics struct {
	actions                *prometheus.CounterVec
	eligible               *prometheus.GaugeVec
	evaluation             *prometheus.HistogramVec
	replacementInitialized prometheus.Histogram
	launchFailures         *prometheus.CounterVec
	disrupted              *prometheus.CounterVec
	drifted                *prometheus.CounterVec
	// created counts the replacement Machines under karpenter_machines_created, which provisioning
	// owns; nil counts nothing.
	created MachineCounter
}

// MachineCounter counts created Machines by provisioner and reason.
type MachineCounter interface {
	MachineCreated(provisioner, reason string)
}

// reasonDeprovisioning is the reason label of the replacements in karpenter_machines_created.
const reasonDeprovisioning = "deprovisioning"

// NewMetrics registers the disruption metrics with registry; created (may be nil) counts the
// replacement Machines.
func NewMetrics(registry prometheus.Registerer, created MachineCounter) (*Metrics, error) {
	m := &Metrics{
		created: created,
		disrupted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "karpenter_machines_disrupted",
			Help: "Machines disrupted, by type (emptiness, expiration, drift, consolidation) and provisioner.",
		}, []string{"type", "provisioner"}),
		drifted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "karpenter_machines_drifted",
			Help: "Drifted machines replaced, by drift type (AMIDrift, SecurityGroupDrift, ...) and provisioner.",
		}, []string{"type", "provisioner"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "karpenter_deprovisioning_actions_performed",
			Help: "Number of deprovisioning actions performed. Labeled by action (delete, replace) and deprovisioner (emptiness, expiration, drift, consolidation).",
		}, []string{"action", "deprovisioner"}),
		eligible: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "karpenter_deprovisioning_eligible_machines",
			Help: "Number of machines eligible for deprovisioning by Kerf. Labeled by deprovisioner.",
		}, []string{"deprovisioner"}),
		evaluation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "karpenter_deprovisioning_evaluation_duration_seconds",
			Help:    "Duration of the deprovisioning evaluation process in seconds. Labeled by method.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"method"}),
		replacementInitialized: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "karpenter_deprovisioning_replacement_machine_initialized_seconds",
			Help:    "Amount of time required for a replacement machine to become initialized.",
			Buckets: prometheus.ExponentialBuckets(1, 1.5, 16),
		}),
		launchFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "karpenter_deprovisioning_replacement_machine_launch_failure_counter",
			Help: "The number of times that Kerf failed to launch a replacement machine for deprovisioning. Labeled by deprovisioner.",
		}, []string{"deprovisioner"}),
	}
	for _, c := range []prometheus.Collector{m.actions, m.eligible, m.evaluation, m.replacementInitialized, m.launchFailures, m.disrupted, m.drifted} {
		if err := registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering disruption metrics, %w", err)
		}
	}
	return m, nil
}
