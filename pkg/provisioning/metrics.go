package provisioning

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Metrics of provisioning.
type Metrics struct {
	solveDuration   prometheus.Histogram
	podsPerSolve    prometheus.Histogram
	machinesCreated *prometheus.CounterVec
	unschedulable   prometheus.Gauge
	podStartup      *prometheus.HistogramVec
	nodes           *prometheus.GaugeVec
	pods            *prometheus.GaugeVec
	limitUsed       *prometheus.GaugeVec

	mu sync.Mutex
	// limited holds, per Provisioner, the resources it has a limit_utilization series for, so a
	// limit taken out of the spec loses its series.
	limited map[string]map[corev1.ResourceName]bool
}

// NewMetrics registers the provisioning metrics.
func NewMetrics(registry prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		solveDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kerf_scheduling_duration_seconds", Help: "Duration of one scheduling simulation.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		podsPerSolve: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kerf_scheduling_pods", Help: "Pending pods in one scheduling simulation.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 16),
		}),
		machinesCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kerf_machines_created_total", Help: "Machines created for pending pods, by provisioner.",
		}, []string{"provisioner"}),
		unschedulable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kerf_pods_unschedulable", Help: "Pending pods the last simulation could not place anywhere.",
		}),
		podStartup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kerf_pods_startup_duration_seconds",
			Help: "Time from a pod being marked unschedulable to its binding to a node of the provisioner.",
			// A pod that waits for a new node waits about a minute; one that waits an hour is stuck.
			Buckets: []float64{1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600},
		}, []string{"provisioner"}),
		nodes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kerf_provisioner_nodes", Help: "Nodes of the provisioner.",
		}, []string{"provisioner"}),
		pods: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kerf_provisioner_pods", Help: "Pods bound to the provisioner's nodes that have not finished.",
		}, []string{"provisioner"}),
		limitUsed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kerf_provisioner_limit_utilization",
			Help: "The provisioner's status.resources over its spec.limits, by resource; 1 is at the limit.",
		}, []string{"provisioner", "resource"}),
		limited: map[string]map[corev1.ResourceName]bool{},
	}
	for _, c := range []prometheus.Collector{m.solveDuration, m.podsPerSolve, m.machinesCreated, m.unschedulable, m.podStartup, m.nodes, m.pods, m.limitUsed} {
		if err := registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering provisioning metrics, %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) observeSolve(d time.Duration, pods int) {
	m.solveDuration.Observe(d.Seconds())
	m.podsPerSolve.Observe(float64(pods))
}

func (m *Metrics) observePodStartup(provisioner string, d time.Duration) {
	m.podStartup.WithLabelValues(provisioner).Observe(d.Seconds())
}

// setProvisioner records one status pass over a Provisioner: its nodes, their pods, and how much
// of each limited resource it uses. limits is nil when the Provisioner has none.
func (m *Metrics) setProvisioner(name string, nodes, pods int, used, limits corev1.ResourceList) {
	m.nodes.WithLabelValues(name).Set(float64(nodes))
	m.pods.WithLabelValues(name).Set(float64(pods))
	m.mu.Lock()
	defer m.mu.Unlock()
	for r := range m.limited[name] {
		if _, ok := limits[r]; !ok {
			m.limitUsed.DeleteLabelValues(name, string(r))
		}
	}
	current := map[corev1.ResourceName]bool{}
	for r, limit := range limits {
		m.limitUsed.WithLabelValues(name, string(r)).Set(utilization(used[r], limit))
		current[r] = true
	}
	if len(current) == 0 {
		delete(m.limited, name)
		return
	}
	m.limited[name] = current
}

// forgetProvisioner drops the series of a Provisioner that no longer exists.
func (m *Metrics) forgetProvisioner(name string) {
	m.nodes.DeleteLabelValues(name)
	m.pods.DeleteLabelValues(name)
	m.podStartup.DeleteLabelValues(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.limitUsed.DeletePartialMatch(prometheus.Labels{"provisioner": name})
	delete(m.limited, name)
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
