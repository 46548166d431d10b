package provisioning

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of provisioning.
type Metrics struct {
	solveDuration   prometheus.Histogram
	podsPerSolve    prometheus.Histogram
	machinesCreated *prometheus.CounterVec
	unschedulable   prometheus.Gauge
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
	}
	for _, c := range []prometheus.Collector{m.solveDuration, m.podsPerSolve, m.machinesCreated, m.unschedulable} {
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
