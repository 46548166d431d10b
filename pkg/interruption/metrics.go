package interruption

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Action labels of karpenter_interruption_actions_performed, as Karpenter v0.31 names them.
const (
	actionCordonAndDrain = "CordonAndDrain"
	actionNoAction       = "NoAction"
)

// Metrics count the queue's messages and what was done about them, under Karpenter v0.31's names.
type Metrics struct {
	received *prometheus.CounterVec
	deleted  prometheus.Counter
	latency  prometheus.Histogram
	actions  *prometheus.CounterVec
}

// NewMetrics registers the interruption metrics with registry.
func NewMetrics(registry prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "karpenter_interruption_received_messages",
			Help: "Count of messages received from the interruption queue. Broken down by message type and whether the message was actionable.",
		}, []string{"message_type", "is_actionable"}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "karpenter_interruption_deleted_messages",
			Help: "Count of messages deleted from the interruption queue.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "karpenter_interruption_message_latency_time_seconds",
			Help:    "Length of time between the cloud emitting an interruption event and Kerf handling it.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300},
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "karpenter_interruption_actions_performed",
			Help: "Number of notification actions performed. Labeled by action.",
		}, []string{"action_type"}),
	}
	for _, c := range []prometheus.Collector{m.received, m.deleted, m.latency, m.actions} {
		if err := registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering interruption metrics, %w", err)
		}
	}
	return m, nil
}
