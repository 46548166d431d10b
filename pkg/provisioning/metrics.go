package provisioning

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kerf-autoscaler/kerf/pkg/clustermetrics"
)

// Metrics of provisioning, under Karpenter v0.31's names where v0.31 had the metric (dashboards and
// alerts written for it keep working) and the same karpenter_<subsystem>_ naming otherwise.
type Metrics struct {
	schedulingDuration prometheus.Histogram
	simulationDuration prometheus.Histogram
	podsPerSolve       prometheus.Histogram
	machinesCreated    *prometheus.CounterVec
	unschedulable      prometheus.Gauge
	podStartup         *prometheus.HistogramVec
	podStartupTime     prometheus.Summary
	nodes              *prometheus.GaugeVec
	pods               *prometheus.GaugeVec
	limit              *prometheus.GaugeVec
	usage              *prometheus.GaugeVec
	usagePercent       *prometheus.GaugeVec

	mu sync.Mutex
	// resources holds, per Provisioner, the resources it has usage or limit series for, so a
	// resource that leaves the status or the spec loses its series.
	resources map[string]map[corev1.ResourceName]bool
}

// CreatedForProvisioning is the reason label of karpenter_machines_created for Machines created
// for pending pods; disruption's replacements carry v0.31's "<method>/replace" instead.
const CreatedForProvisioning = "provisioning"

// NewMetrics registers the provisioning metrics.
func NewMetrics(registry prometheus.Registerer) (*Metrics, error) {
	byProvisioner := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, append([]string{"provisioner"}, labels...))
	}
	m := &Metrics{
		schedulingDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "karpenter_provisioner_scheduling_duration_seconds", Help: "Duration of one provisioning pass over a batch of pending pods, from the snapshot to the plan.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		simulationDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "karpenter_provisioner_scheduling_simulation_duration_seconds", Help: "Duration of one scheduling simulation of pending pods.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		podsPerSolve: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "karpenter_provisioner_scheduling_pods", Help: "Pending pods in one scheduling simulation.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 16),
		}),
		machinesCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "karpenter_machines_created", Help: "Machines created, by reason (provisioning, or the deprovisioner and action of a replacement) and provisioner.",
		}, []string{"reason", "provisioner"}),
		unschedulable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "karpenter_provisioner_unschedulable_pods", Help: "Pending pods the last simulation could not place anywhere.",
		}),
		podStartup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "karpenter_provisioner_pod_startup_duration_seconds",
			Help: "Time from a pod being marked unschedulable to its binding to a node of the provisioner.",
			// A pod that waits for a new node waits about a minute; one that waits an hour is stuck.
			Buckets: []float64{1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600},
		}, []string{"provisioner"}),
		podStartupTime: prometheus.NewSummary(prometheus.SummaryOpts{
			Name: "karpenter_pods_startup_time_seconds", Help: "Time from a pod's creation until it runs, for every pod that starts running.",
			Objectives: map[float64]float64{0: 0, 0.5: 0.05, 0.9: 0.01, 0.99: 0.001, 1: 0},
		}),
		nodes:        byProvisioner("karpenter_provisioner_nodes", "Nodes of the provisioner."),
		pods:         byProvisioner("karpenter_provisioner_pods", "Pods bound to the provisioner's nodes that have not finished."),
		limit:        byProvisioner("karpenter_provisioner_limit", "The provisioner's spec.limits, by resource type.", "resource_type"),
		usage:        byProvisioner("karpenter_provisioner_usage", "The provisioner's status.resources: what its nodes and launching machines have, by resource type.", "resource_type"),
		usagePercent: byProvisioner("karpenter_provisioner_usage_pct", "The provisioner's usage as a percentage of its limit, by resource type; 100 is at the limit.", "resource_type"),
		resources:    map[string]map[corev1.ResourceName]bool{},
	}
	for _, c := range []prometheus.Collector{m.schedulingDuration, m.simulationDuration, m.podsPerSolve, m.machinesCreated, m.unschedulable,
		m.podStartup, m.podStartupTime, m.nodes, m.pods, m.limit, m.usage, m.usagePercent} {
		if err := registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering provisioning metrics, %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) observeSolve(pass, simulation time.Duration, pods int) {
	m.schedulingDuration.Observe(pass.Seconds())
	m.simulationDuration.Observe(simulation.Seconds())
	m.podsPerSolve.Observe(float64(pods))
}

// MachineCreated counts a Machine created for reason (CreatedForProvisioning, or the disruption
// method and action that launched a replacement, such as "consolidation/replace").
func (m *Metrics) MachineCreated(provisioner, reason string) {
	m.machinesCreated.WithLabelValues(reason, provisioner).Inc()
}

func (m *Metrics) observePodStartup(provisioner string, d time.Duration) {
	m.podStartup.WithLabelValues(provisioner).Observe(d.Seconds())
}

// setProvisioner records one status pass over a Provisioner: its nodes, their pods, and what it
// uses of each resource against its limits. limits is nil when the Provisioner has none.
func (m *Metrics) setProvisioner(name string, nodes, pods int, used, limits corev1.ResourceList) {
	m.nodes.WithLabelValues(name).Set(float64(nodes))
	m.pods.WithLabelValues(name).Set(float64(pods))
	m.mu.Lock()
	defer m.mu.Unlock()
	current := map[corev1.ResourceName]bool{}
	for r, q := range used {
		m.usage.WithLabelValues(name, clustermetrics.ResourceType(r)).Set(q.AsApproximateFloat64())
		current[r] = true
	}
	for r, limit := range limits {
		m.limit.WithLabelValues(name, clustermetrics.ResourceType(r)).Set(limit.AsApproximateFloat64())
		m.usagePercent.WithLabelValues(name, clustermetrics.ResourceType(r)).Set(100 * utilization(used[r], limit))
		current[r] = true
	}
	for r := range m.resources[name] {
		if _, ok := used[r]; !ok {
			m.usage.DeleteLabelValues(name, clustermetrics.ResourceType(r))
		}
		if _, ok := limits[r]; !ok {
			m.limit.DeleteLabelValues(name, clustermetrics.ResourceType(r))
			m.usagePercent.DeleteLabelValues(name, clustermetrics.ResourceType(r))
		}
	}
	if len(current) == 0 {
		delete(m.resources, name)
		return
	}
	m.resources[name] = current
}

// forgetProvisioner drops the series of a Provisioner that no longer exists.
func (m *Metrics) forgetProvisioner(name string) {
	m.nodes.DeleteLabelValues(name)
	m.pods.DeleteLabelValues(name)
	m.podStartup.DeleteLabelValues(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range []*prometheus.GaugeVec{m.limit, m.usage, m.usagePercent} {
		v.DeletePartialMatch(prometheus.Labels{"provisioner": name})
	}
	delete(m.resources, name)
}

// utilization is used over limit. A limit of zero admits nothing more, so it is full (1) while
// nothing is used and over it (+Inf) once something is.
func utilization(used, limit resource.Quantity) float64 {
	l, u := limit.AsApproximateFloat64(), used.AsApproximateFloat64()
	switch {
	case l > 0:
		return u / l
	case u > 0:
		return math.Inf(1)
	default:
		return 1
	}
}
