package provisioning

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// Event reasons on pods.
const (
	EventNominated          = "Nominated"
	EventFailedProvisioning = "FailedProvisioning"
)

// Provisioner turns each batch of pending pods into Machines: one Solve over a fresh Snapshot,
// one Machine per planned node, and an Event on every pod saying where it is going or why it
// cannot go anywhere.
type Provisioner struct {
	kube     client.Client
	cluster  *state.Cluster
	batcher  *Batcher
	recorder events.EventRecorder
	clock    clock.Clock
	metrics  *Metrics
}

// NewProvisioner wires a Provisioner; Trigger its batcher for every pending pod.
func NewProvisioner(kube client.Client, cluster *state.Cluster, batcher *Batcher, recorder events.EventRecorder, clk clock.Clock, metrics *Metrics) *Provisioner {
	return &Provisioner{kube: kube, cluster: cluster, batcher: batcher, recorder: recorder, clock: clk, metrics: metrics}
}

var _ manager.LeaderElectionRunnable = (*Provisioner)(nil)

// NeedLeaderElection makes only the leader launch capacity.
func (p *Provisioner) NeedLeaderElection() bool { return true }

// Start runs batches until ctx ends. A failed batch is logged and retried with the next one.
func (p *Provisioner) Start(ctx context.Context) error {
	for p.batcher.Wait(ctx) {
		if _, err := p.Provision(ctx); err != nil {
			log.FromContext(ctx).Error(err, "provisioning failed")
			p.batcher.Trigger() // the pods are still pending: try again after the next batch window
		}
	}
	return nil
}

// Provision solves the pending pods once and creates the Machines the Plan asks for.
func (p *Provisioner) Provision(ctx context.Context) (scheduling.Plan, error) {
	snap, err := p.cluster.Snapshot(ctx)
	if err != nil {
		return scheduling.Plan{}, fmt.Errorf("building snapshot, %w", err)
	}
	if len(snap.Pods) == 0 {
		return scheduling.Plan{}, nil
	}
	start := p.clock.Now()
	plan := scheduling.Solve(snap)
	p.metrics.observeSolve(p.clock.Since(start), len(snap.Pods))
	log.FromContext(ctx).Info("solved pending pods", "pods", len(snap.Pods), "newNodes", len(plan.NewNodes),
		"placed", len(plan.Placements), "unschedulable", len(plan.Unschedulable), "usdPerHour", plan.HourlyPrice())

	pods := map[scheduling.PodKey]*corev1.Pod{}
	for _, pod := range snap.Pods {
		pods[client.ObjectKeyFromObject(pod)] = pod
	}
	errs := p.createMachines(ctx, plan, pods)
	for _, placement := range plan.Placements {
		if pod := pods[placement.Pod]; pod != nil && placement.InFlight {
			p.recorder.Eventf(pod, nil, corev1.EventTypeNormal, EventNominated, "Provision", "Pod should schedule on in-flight node %s", placement.Node)
		}
	}
	for _, u := range plan.Unschedulable {
		if pod := pods[u.Pod]; pod != nil {
			p.recorder.Eventf(pod, nil, corev1.EventTypeWarning, EventFailedProvisioning, "Provision", "%s", explain(u))
		}
	}
	p.metrics.unschedulable.Set(float64(len(plan.Unschedulable)))
	return plan, errors.Join(errs...)
}

func (p *Provisioner) createMachines(ctx context.Context, plan scheduling.Plan, pods map[scheduling.PodKey]*corev1.Pod) []error {
	var errs []error
	provisioners := map[string]*v1alpha5.Provisioner{}
	for _, node := range plan.NewNodes {
		prov, ok := provisioners[node.Provisioner]
		if !ok {
			prov = &v1alpha5.Provisioner{}
			if err := p.kube.Get(ctx, client.ObjectKey{Name: node.Provisioner}, prov); err != nil {
				errs = append(errs, fmt.Errorf("getting provisioner %s, %w", node.Provisioner, err))
				continue
			}
			provisioners[node.Provisioner] = prov
		}
		machine := newMachine(node, prov)
		if err := p.kube.Create(ctx, machine); err != nil {
			// One failure does not stop the other nodes; the pods stay pending and the next
			// batch plans them again.
			errs = append(errs, fmt.Errorf("creating machine for provisioner %s, %w", prov.Name, err))
			continue
		}
		p.metrics.machinesCreated.WithLabelValues(prov.Name).Inc()
		log.FromContext(ctx).Info("created machine", "Machine", klog.KObj(machine), "Provisioner", klog.KObj(prov),
			"pods", len(node.Pods), "instanceTypes", len(node.InstanceTypes), "usdPerHour", node.Price())
		for _, key := range node.Pods {
			if pod := pods[key]; pod != nil {
				p.recorder.Eventf(pod, machine, corev1.EventTypeNormal, EventNominated, "Provision", "Pod should schedule on machine %s", machine.Name)
			}
		}
	}
	return errs
}

// explain turns a pod's reasons into one Event message: per Provisioner, why it cannot help.
func explain(u scheduling.Unschedulable) string {
	parts := make([]string, 0, len(u.Reasons))
	for _, r := range u.Reasons {
		if r.Provisioner == "" {
			parts = append(parts, fmt.Sprintf("%s: %s", r.Code, r.Message))
			continue
		}
		parts = append(parts, fmt.Sprintf("provisioner %s: %s: %s", r.Provisioner, r.Code, r.Message))
	}
	return "cannot provision: " + strings.Join(parts, "; ")
}

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
