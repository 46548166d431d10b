package provisioning

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// Event reasons on pods, Karpenter v0.31's, so alerts and dashboards on them keep working. A
// FailedScheduling Event from Kerf (source "provisioner") says why no node can be launched for the
// pod; the kube-scheduler's own, under the same reason, says why no existing node fits.
const (
	EventNominated        = "Nominated"
	EventFailedScheduling = "FailedScheduling"
)

// Snapshotter builds the picture one scheduling decision works from; state.Cluster in production.
type Snapshotter interface {
	Snapshot(ctx context.Context) (scheduling.Snapshot, error)
}

// cacheSyncTimeout bounds how long a batch waits for the cache to see the Machines it created.
// Informers catch up in milliseconds; past this, something else is wrong and waiting longer would
// only delay the pods of the next batch.
const cacheSyncTimeout = 5 * time.Second

// Provisioner turns each batch of pending pods into Machines: one Solve over a fresh Snapshot,
// one Machine per planned node, and an Event on every pod saying where it is going or why it
// cannot go anywhere.
type Provisioner struct {
	kube     client.Client
	cluster  Snapshotter
	batcher  *Batcher
	recorder events.EventRecorder
	clock    clock.Clock
	metrics  *Metrics
	// nominated holds where earlier batches planned the pods still pending.
	nominated *Nominations
	// recheck is how soon the last batch's held pods could need planning afresh; 0 for never.
	recheck time.Duration

	errorBackoff, unschedulableBackoff backoff
	retry                              retrier
}

// NewProvisioner wires a Provisioner; Trigger its batcher for every pending pod. kube should read
// from the cache the Snapshotter reads from, so a batch can wait until the cache has its Machines.
func NewProvisioner(kube client.Client, cluster Snapshotter, batcher *Batcher, recorder events.EventRecorder, clk clock.Clock, metrics *Metrics) *Provisioner {
	return &Provisioner{
		kube: kube, cluster: cluster, batcher: batcher, recorder: recorder, clock: clk, metrics: metrics,
		nominated:            NewNominations(clk),
		errorBackoff:         backoff{initial: errorRetryInitial, max: errorRetryMax},
		unschedulableBackoff: backoff{initial: unschedulableRetryInitial, max: unschedulableRetryMax},
		retry:                retrier{clock: clk, batcher: batcher},
	}
}

// Nominations is where the Provisioner records which node each pending pod was planned onto.
func (p *Provisioner) Nominations() *Nominations { return p.nominated }

var _ manager.LeaderElectionRunnable = (*Provisioner)(nil)

// NeedLeaderElection makes only the leader launch capacity.
func (p *Provisioner) NeedLeaderElection() bool { return true }

// Start runs batches until ctx ends. A failed batch, or one that left pods unplaced, is tried again
// after a backoff even if no pod changes.
func (p *Provisioner) Start(ctx context.Context) error {
	defer p.retry.stop()
	// Read every Provisioner's instance types and prices once now, while no pod waits: cold,
	// the cloud's catalog takes seconds to fetch, which the first batch would otherwise pay.
	if _, err := p.cluster.Snapshot(ctx); err != nil {
		log.FromContext(ctx).Error(err, "warming instance types failed; the first batch reads them")
	}
	for p.batcher.Wait(ctx) {
		plan, err := p.Provision(ctx)
		p.retry.after(ctx, p.retryDelay(ctx, plan, err))
	}
	return nil
}

// retryDelay is how long until the batch is tried again without a trigger; 0 for never.
func (p *Provisioner) retryDelay(ctx context.Context, plan scheduling.Plan, err error) time.Duration {
	if err != nil {
		delay := p.errorBackoff.next()
		log.FromContext(ctx).Error(err, "provisioning failed", "retryIn", delay)
		return delay
	}
	p.errorBackoff.reset()
	if len(plan.Unschedulable) == 0 {
		p.unschedulableBackoff.reset()
		// Held pods the kube-scheduler has not placed when their node's grace ends are planned
		// afresh; nothing else would trigger that batch.
		return p.recheck
	}
	delay := p.unschedulableBackoff.next()
	if p.recheck > 0 {
		delay = min(delay, p.recheck)
	}
	log.FromContext(ctx).V(1).Info("pods left unschedulable, retrying", "pods", len(plan.Unschedulable), "retryIn", delay)
	return delay
}

// Provision solves the pending pods once and creates the Machines the Plan asks for. It returns
// once the cache has seen those Machines, so the next batch counts them as in flight.
func (p *Provisioner) Provision(ctx context.Context) (scheduling.Plan, error) {
	began := p.clock.Now()
	p.recheck = 0
	snap, err := p.cluster.Snapshot(ctx)
	if err != nil {
		return scheduling.Plan{}, fmt.Errorf("building snapshot, %w", err)
	}
	machines := &v1alpha5.MachineList{}
	if err := p.kube.List(ctx, machines); err != nil {
		return scheduling.Plan{}, fmt.Errorf("listing machines, %w", err)
	}
	planned := len(snap.Pods)
	p.recheck = p.nominated.Apply(&snap, machines.Items)
	if planned > len(snap.Pods) {
		log.FromContext(ctx).V(1).Info("pending pods already planned onto nodes on their way", "pods", planned-len(snap.Pods))
	}
	if len(snap.Pods) == 0 {
		p.metrics.unschedulable.Set(0)
		return scheduling.Plan{}, nil
	}
	start := p.clock.Now()
	plan := scheduling.Solve(snap)
	p.metrics.observeSolve(p.clock.Since(began), p.clock.Since(start), len(snap.Pods))
	// duration covers the Snapshot too: how long after the batch closed the Plan was ready.
	log.FromContext(ctx).Info("solved pending pods", "pods", len(snap.Pods), "newNodes", len(plan.NewNodes),
		"placed", len(plan.Placements), "unschedulable", len(plan.Unschedulable), "usdPerHour", plan.HourlyPrice(),
		"duration", p.clock.Since(began).String())

	pods := map[scheduling.PodKey]*corev1.Pod{}
	for _, pod := range snap.Pods {
		pods[client.ObjectKeyFromObject(pod)] = pod
	}
	created, errs := p.createMachines(ctx, plan, pods)
	for _, placement := range plan.Placements {
		pod := pods[placement.Pod]
		if pod != nil {
			// Kept only while the node is a Machine on its way (see Nominations.Apply).
			p.nominated.Nominate(pod, placement.Node)
		}
		if pod != nil && placement.InFlight {
			p.recorder.Eventf(pod, nil, corev1.EventTypeNormal, EventNominated, "Provision", "Pod should schedule on in-flight node %s", placement.Node)
		}
	}
	for _, u := range plan.Unschedulable {
		if pod := pods[u.Pod]; pod != nil {
			p.recorder.Eventf(pod, nil, corev1.EventTypeWarning, EventFailedScheduling, "Provision", "%s", explain(u))
		}
	}
	p.metrics.unschedulable.Set(float64(len(plan.Unschedulable)))
	p.awaitCache(ctx, created)
	return plan, errors.Join(errs...)
}

// awaitCache waits until the cached client sees every Machine in keys. Without it the next
// batch's Snapshot, read from the same cache, could miss them and launch for the same pods again.
// Informer latency is wall-clock time, so this polls on real time, not on the injected clock.
func (p *Provisioner) awaitCache(ctx context.Context, keys []client.ObjectKey) {
	pending := keys
	err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, cacheSyncTimeout, true, func(ctx context.Context) (bool, error) {
		var missing []client.ObjectKey
		for _, key := range pending {
			if err := p.kube.Get(ctx, key, &v1alpha5.Machine{}); err != nil {
				if !apierrors.IsNotFound(err) {
					return false, err
				}
				missing = append(missing, key)
			}
		}
		pending = missing
		return len(pending) == 0, nil
	})
	if err != nil {
		log.FromContext(ctx).Error(err, "waiting for the cache to see created machines", "missing", len(pending))
	}
}

func (p *Provisioner) createMachines(ctx context.Context, plan scheduling.Plan, pods map[scheduling.PodKey]*corev1.Pod) ([]client.ObjectKey, []error) {
	// One id for the plan's Machines: their nodes open to pods together (v1alpha5.BatchLabelKey).
	batch := strconv.FormatInt(p.clock.Now().UnixNano(), 36)
	var errs []error
	var created []client.ObjectKey
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
		machine := NewMachine(node, prov)
		if len(plan.NewNodes) > 1 {
			machine.Labels[v1alpha5.BatchLabelKey] = batch
		}
		if err := p.kube.Create(ctx, machine); err != nil {
			// One failure does not stop the other nodes; the pods stay pending and the next
			// batch plans them again.
			errs = append(errs, fmt.Errorf("creating machine for provisioner %s, %w", prov.Name, err))
			continue
		}
		created = append(created, client.ObjectKeyFromObject(machine))
		p.metrics.MachineCreated(prov.Name, CreatedForProvisioning)
		log.FromContext(ctx).Info("created machine", "Machine", klog.KObj(machine), "Provisioner", klog.KObj(prov),
			"pods", len(node.Pods), "instanceTypes", len(node.InstanceTypes), "usdPerHour", node.Price())
		for _, key := range node.Pods {
			if pod := pods[key]; pod != nil {
				p.nominated.Nominate(pod, machine.Name)
				p.recorder.Eventf(pod, machine, corev1.EventTypeNormal, EventNominated, "Provision", "Pod should schedule on machine %s", machine.Name)
			}
		}
	}
	return created, errs
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
