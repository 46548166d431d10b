package interruption

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
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
			Help: "Count of messages received from the interruption queue, by message type.",
		}, []string{"message_type"}),
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

// messageType is the message_type label of karpenter_interruption_received_messages for kind:
// the kind names Karpenter v0.31 used, and UnparseableKind for a body Kerf cannot read (v0.31
// did not count those).
func messageType(kind cloudprovider.InterruptionKind) string {
	switch kind {
	case cloudprovider.SpotInterruption:
		return "SpotInterruptionKind"
	case cloudprovider.RebalanceRecommendation:
		return "RebalanceRecommendationKind"
	case cloudprovider.ScheduledChange:
		return "ScheduledChangeKind"
	case cloudprovider.StateChange:
		return "StateChangeKind"
	case cloudprovider.Ignored:
		return "NoOpKind"
	default:
		return "UnparseableKind"
	}
}

func (m *Metrics) receivedMessage(kind cloudprovider.InterruptionKind) {
	m.received.WithLabelValues(messageType(kind)).Inc()
}
