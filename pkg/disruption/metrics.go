package disruption

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
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
	// terminating tells the Machine lifecycle, which counts karpenter_machines_terminated, why the
	// Machines of disrupted nodes go; nil tells nothing.
	terminating MachineTerminations
}

// MachineCounter counts created Machines by provisioner and reason.
type MachineCounter interface {
	MachineCreated(provisioner, reason string)
}

// MachineTerminations records why a Machine is about to be terminated.
type MachineTerminations interface {
	Terminating(uid types.UID, reason string)
}

// commandReason is how Karpenter v0.31 labelled what a command did, in the action label of
// karpenter_deprovisioning_actions_performed and the reason label of karpenter_machines_created
// and karpenter_machines_terminated: the method, a slash, the action ("consolidation/replace").
func commandReason(cmd *command) string {
	return string(cmd.method) + "/" + cmd.action()
}

// NewMetrics registers the disruption metrics with registry; created and terminating (either may
// be nil) count the replacement Machines and the disrupted ones under the Machine metrics.
func NewMetrics(registry prometheus.Registerer, created MachineCounter, terminating MachineTerminations) (*Metrics, error) {
	m := &Metrics{
		created:     created,
		terminating: terminating,
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
			Help: "Number of deprovisioning actions performed. Labeled by action (the deprovisioner, a slash and delete or replace) and deprovisioner (emptiness, expiration, drift, consolidation).",
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

// machineCreated counts a replacement Machine launched for cmd.
func (m *Metrics) machineCreated(provisioner string, cmd *command) {
	if m.created != nil {
		m.created.MachineCreated(provisioner, commandReason(cmd))
	}
}

// machineTerminating records that the Machine uid goes because of cmd.
func (m *Metrics) machineTerminating(uid types.UID, cmd *command) {
	if m.terminating != nil {
		m.terminating.Terminating(uid, commandReason(cmd))
	}
}
