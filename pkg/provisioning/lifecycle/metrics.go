package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
)

// Why a Machine was terminated, the reason label of karpenter_machines_terminated.
const (
	TerminationReasonLiveness             = "liveness"
	TerminationReasonInsufficientCapacity = "insufficient_capacity"
	TerminationReasonGarbageCollected     = "garbage_collected"
	// TerminationReasonDeleted is any deletion nobody recorded a reason for: a user, an
	// interruption, the Provisioner's deletion, or a reason recorded before a controller restart.
	// Disruption records its own ("consolidation/delete", as v0.31 did) through Terminating.
	TerminationReasonDeleted = "deleted"
)

// Metrics count what happens to Machines. One Metrics is shared by the lifecycle controller and
// the garbage collector: the one that decides to delete a Machine records why, and the finalizer
// that terminates it counts it under that reason.
type Metrics struct {
	launched       *prometheus.CounterVec
	registered     *prometheus.CounterVec
	nodesCreated   *prometheus.CounterVec
	initialized    *prometheus.CounterVec
	terminated     *prometheus.CounterVec
	launchFailures *prometheus.CounterVec
	received       *prometheus.CounterVec

	// reasons maps a deleting Machine's UID to why it was deleted; launches holds the UIDs whose
	// launch was counted, so a reconcile on a stale cache that repeats the idempotent Create does
	// not count it twice. Both forget a UID when its Machine is finalized.
	reasons, launches sync.Map
}

// OfferingCounter reports how many offerings are marked unavailable now.
type OfferingCounter interface {
	Len() int
}

// NewMetrics registers the Machine lifecycle metrics, and karpenter_cloudprovider_unavailable_offerings reading
// unavailable when it is not nil.
func NewMetrics(registry prometheus.Registerer, unavailable OfferingCounter) (*Metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		launched:       counter("karpenter_machines_launched", "Machines whose instance launched, by provisioner.", "provisioner"),
		registered:     counter("karpenter_machines_registered", "Machines whose Node registered, by provisioner.", "provisioner"),
		nodesCreated:   counter("karpenter_nodes_created", "Nodes that registered for a Machine, by provisioner.", "provisioner"),
		initialized:    counter("karpenter_machines_initialized", "Machines whose Node became ready for pods, by provisioner.", "provisioner"),
		terminated:     counter("karpenter_machines_terminated", "Machines (and untracked instances) terminated, by reason and provisioner.", "reason", "provisioner"),
		launchFailures: counter("karpenter_machines_launch_failures", "Failed launches, by provisioner and error class.", "provisioner", "error"),
		received: counter("karpenter_machines_received_pods", "Machines Kerf planned pods onto, checked two minutes after their node was initialized, "+
			"by provisioner and outcome: received_pods, or no_pods when the kube-scheduler placed the pods elsewhere.", "provisioner", "outcome"),
	}
	collectors := []prometheus.Collector{m.launched, m.registered, m.nodesCreated, m.initialized, m.terminated, m.launchFailures, m.received}
	if unavailable != nil {
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "karpenter_cloudprovider_unavailable_offerings", Help: "Offerings (instance type, zone, capacity type) left out of planning after running out of capacity.",
		}, func() float64 { return float64(unavailable.Len()) }))
	}
	for _, c := range collectors {
		if err := registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering machine lifecycle metrics, %w", err)
		}
	}
	return m, nil
}

func provisionerOf(machine *v1alpha5.Machine) string {
	return machine.Labels[v1alpha5.ProvisionerNameLabelKey]
}

func (m *Metrics) launchSucceeded(machine *v1alpha5.Machine) {
	if _, counted := m.launches.LoadOrStore(machine.UID, true); !counted {
		m.launched.WithLabelValues(provisionerOf(machine)).Inc()
	}
}

func (m *Metrics) launchFailed(machine *v1alpha5.Machine, err error) {
	m.launchFailures.WithLabelValues(provisionerOf(machine), errorClass(err)).Inc()
}

// deleting records why the Machine is about to be deleted.
func (m *Metrics) deleting(uid types.UID, reason string) {
	m.reasons.Store(uid, reason)
}

// Terminating records why another controller is about to have the Machine uid terminated; the
// Machine counts under that reason in karpenter_machines_terminated once its instance is gone.
func (m *Metrics) Terminating(uid types.UID, reason string) {
	m.deleting(uid, reason)
}

// finalized counts a Machine whose instance is gone and forgets it.
func (m *Metrics) finalized(machine *v1alpha5.Machine) string {
	reason := TerminationReasonDeleted
	if r, ok := m.reasons.LoadAndDelete(machine.UID); ok {
		reason = r.(string)
	}
	m.launches.Delete(machine.UID)
	m.terminated.WithLabelValues(reason, provisionerOf(machine)).Inc()
	return reason
}

// errorClass keeps the error label bounded: insufficient capacity, the API's own error code when
// the cloud SDK's error carries one (a fixed vocabulary, such as RequestLimitExceeded), a
// timeout, or other.
func errorClass(err error) string {
	var coded interface{ ErrorCode() string }
	switch {
	case cloudprovider.IsInsufficientCapacityError(err):
		return "insufficient_capacity"
	case errors.As(err, &coded) && coded.ErrorCode() != "":
		return coded.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "other"
	}
}
