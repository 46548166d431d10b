package cloudprovider

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// Metrics time and count every cloud call, so a slow or failing cloud shows on a dashboard
// without each provider method instrumenting itself.
type Metrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	cpu      *prometheus.GaugeVec
	memory   *prometheus.GaugeVec
	price    *prometheus.GaugeVec
	clock    clock.PassiveClock
}

// NewMetrics registers the cloud provider metrics, under Karpenter v0.31's names: call durations
// and errors, and the instance types' vCPUs, memory and estimated prices as listed; durations are
// read from clk.
func NewMetrics(registry prometheus.Registerer, clk clock.PassiveClock) (*Metrics, error) {
	m := &Metrics{
		clock: clk,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "karpenter_cloudprovider_duration_seconds",
			Help:    "Duration of cloud provider calls by calling controller, method and provider.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12), // 10 ms to ~20 s
		}, []string{"controller", "method", "provider"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "karpenter_cloudprovider_errors_total",
			Help: "Failed cloud provider calls by calling controller, method, provider and error kind.",
		}, []string{"controller", "method", "provider", "error"}),
		cpu: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "karpenter_cloudprovider_instance_type_cpu_cores", Help: "vCPUs of an instance type.",
		}, []string{"instance_type"}),
		memory: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "karpenter_cloudprovider_instance_type_memory_bytes", Help: "Memory of an instance type, in bytes, as its nodes report it.",
		}, []string{"instance_type"}),
		price: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "karpenter_cloudprovider_instance_type_price_estimate", Help: "Estimated hourly price of an instance type in a zone and capacity type, as Kerf plans with it.",
		}, []string{"instance_type", "capacity_type", "zone"}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.errors, m.cpu, m.memory, m.price} {
		if err := registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering cloud provider metrics, %w", err)
		}
	}
	return m, nil
}

// Decorate returns cp with every call measured under the controller label controller: the
// controller that calls through it (each gets its own decorated provider, so the label says who
// called without the provider reading it from the context).
func (m *Metrics) Decorate(cp CloudProvider, controller string) CloudProvider {
	return &measured{CloudProvider: cp, metrics: m, controller: controller, clock: m.clock.Now}
}

type measured struct {
	CloudProvider
	metrics    *Metrics
	controller string
	clock      func() time.Time
}

// Values of the error label of karpenter_cloudprovider_errors_total, as Karpenter v0.31 named
// them; any other error has an empty value, as in v0.31, which keeps the label bounded.
const (
	ErrorInsufficientCapacity = "InsufficientCapacityError"
	ErrorMachineNotFound      = "MachineNotFoundError"
	ErrorUnknown              = ""
)

func errorKind(err error) string {
	switch {
	case IsInsufficientCapacityError(err):
		return ErrorInsufficientCapacity
	case IsMachineNotFoundError(err):
		return ErrorMachineNotFound
	default:
		return ErrorUnknown
	}
}

func (m *measured) observe(method string, start time.Time, err error) {
	provider := m.CloudProvider.Name()
	m.metrics.duration.WithLabelValues(m.controller, method, provider).Observe(m.clock().Sub(start).Seconds())
	if err != nil {
		m.metrics.errors.WithLabelValues(m.controller, method, provider, errorKind(err)).Inc()
	}
}

func (m *measured) Create(ctx context.Context, machine *v1alpha5.Machine) (out *v1alpha5.Machine, err error) {
	defer func(start time.Time) { m.observe("Create", start, err) }(m.clock())
	return m.CloudProvider.Create(ctx, machine)
}

func (m *measured) Delete(ctx context.Context, machine *v1alpha5.Machine) (err error) {
	defer func(start time.Time) { m.observe("Delete", start, err) }(m.clock())
	return m.CloudProvider.Delete(ctx, machine)
}

func (m *measured) Get(ctx context.Context, providerID string) (out *v1alpha5.Machine, err error) {
	defer func(start time.Time) { m.observe("Get", start, err) }(m.clock())
	return m.CloudProvider.Get(ctx, providerID)
}

func (m *measured) List(ctx context.Context) (out []*v1alpha5.Machine, err error) {
	defer func(start time.Time) { m.observe("List", start, err) }(m.clock())
	return m.CloudProvider.List(ctx)
}

func (m *measured) GetInstanceTypes(ctx context.Context, p *v1alpha5.Provisioner) (out []*scheduling.InstanceType, err error) {
	defer func(start time.Time) { m.observe("GetInstanceTypes", start, err) }(m.clock())
	out, err = m.CloudProvider.GetInstanceTypes(ctx, p)
	for _, it := range out {
		m.metrics.cpu.WithLabelValues(it.Name).Set(it.Capacity.Cpu().AsApproximateFloat64())
		m.metrics.memory.WithLabelValues(it.Name).Set(it.Capacity.Memory().AsApproximateFloat64())
		for _, o := range it.Offerings {
			m.metrics.price.WithLabelValues(it.Name, o.CapacityType, o.Zone).Set(o.Price)
		}
	}
	return out, err
}

func (m *measured) IsDrifted(ctx context.Context, machine *v1alpha5.Machine) (reason DriftReason, err error) {
	defer func(start time.Time) { m.observe("IsDrifted", start, err) }(m.clock())
	return m.CloudProvider.IsDrifted(ctx, machine)
}
