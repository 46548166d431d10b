package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
)

// DefaultGarbageCollectionGracePeriod is how old an instance with no Machine must be before it is
// terminated. Every instance Kerf launches has its Machine before the launch, so an untracked one
// is a leak (a Machine whose finalizer was removed by hand, a deletion that looked the instance up
// before EC2 listed it). The grace only has to outlast the cache's and EC2's eventual consistency
// and a leader handover, all seconds; five minutes leaves a wide margin and costs at most minutes
// of one instance.
const DefaultGarbageCollectionGracePeriod = 5 * time.Minute

// garbageCollectionInterval is how often the cloud is listed: one paginated list per minute.
const garbageCollectionInterval = time.Minute

// instanceVisibilityDelay is how long after its launch a Machine's instance may still be missing
// from the cloud's answers (EC2's describe calls are eventually consistent).
const instanceVisibilityDelay = 30 * time.Second

var _ manager.LeaderElectionRunnable = (*GarbageCollector)(nil)

// GarbageCollector reconciles the cloud with the Machines: it terminates instances launched for
// this cluster that no Machine accounts for, and deletes launched Machines whose instance is gone.
type GarbageCollector struct {
	kubeClient    client.Client
	cloudProvider cloudprovider.CloudProvider
	clock         clock.Clock
	gracePeriod   time.Duration
	metrics       *Metrics
}

// NewGarbageCollector returns a GarbageCollector; add it to the manager to run it periodically.
func NewGarbageCollector(kubeClient client.Client, cloudProvider cloudprovider.CloudProvider, clk clock.Clock,
	gracePeriod time.Duration, metrics *Metrics) *GarbageCollector {
	return &GarbageCollector{kubeClient: kubeClient, cloudProvider: cloudProvider, clock: clk, gracePeriod: gracePeriod, metrics: metrics}
}

// NeedLeaderElection makes only the leader terminate instances.
func (g *GarbageCollector) NeedLeaderElection() bool { return true }

// Start collects every garbageCollectionInterval until ctx ends.
func (g *GarbageCollector) Start(ctx context.Context) error {
	for {
		if err := g.Collect(ctx); err != nil {
			log.FromContext(ctx).Error(err, "collecting garbage failed")
		}
		timer := g.clock.NewTimer(garbageCollectionInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C():
		}
	}
}

// Collect runs one pass.
func (g *GarbageCollector) Collect(ctx context.Context) error {
	machines := &v1alpha5.MachineList{}
	if err := g.kubeClient.List(ctx, machines); err != nil {
		return fmt.Errorf("listing machines, %w", err)
	}
	instances, err := g.cloudProvider.List(ctx)
	if err != nil {
		return fmt.Errorf("listing instances, %w", err)
	}
	return errors.Join(g.terminateUntracked(ctx, machines.Items, instances), g.deleteOrphaned(ctx, machines.Items, instances))
}

// terminateUntracked terminates instances older than the grace period that no Machine names,
// neither by provider ID nor, for a launch whose status was not written yet, by name. A Machine
// that records its instance accounts for that one only: a second instance under its name (a
// launch retried while EC2 did not list the first yet) is terminated.
func (g *GarbageCollector) terminateUntracked(ctx context.Context, machines []v1alpha5.Machine, instances []*v1alpha5.Machine) error {
	tracked := map[string]bool{}
	for i := range machines {
		if id := machines[i].Status.ProviderID; id != "" {
			tracked["id/"+id] = true
			continue
		}
		tracked["name/"+machines[i].Name] = true
	}
	var errs []error
	for _, inst := range instances {
		if tracked["id/"+inst.Status.ProviderID] || (inst.Name != "" && tracked["name/"+inst.Name]) {
			continue
		}
		if age := g.clock.Since(inst.CreationTimestamp.Time); age < g.gracePeriod {
			continue
		}
		if err := cloudprovider.IgnoreMachineNotFoundError(g.cloudProvider.Delete(ctx, inst)); err != nil {
			errs = append(errs, fmt.Errorf("terminating untracked instance %s, %w", inst.Status.ProviderID, err))
			continue
		}
		g.metrics.terminated.WithLabelValues(TerminationReasonGarbageCollected, provisionerOf(inst)).Inc()
		log.FromContext(ctx).Info("terminated untracked instance", "providerID", inst.Status.ProviderID,
			"launched", inst.CreationTimestamp.Time, "gracePeriod", g.gracePeriod)
	}
	return errors.Join(errs...)
}

// deleteOrphaned deletes launched Machines whose instance is gone, so their pods are planned
// again. A Machine still launching (no provider ID) is never touched; one missing from the list
// is confirmed with Get, which lists cannot replace.
func (g *GarbageCollector) deleteOrphaned(ctx context.Context, machines []v1alpha5.Machine, instances []*v1alpha5.Machine) error {
	listed := map[string]bool{}
	for _, inst := range instances {
		listed[inst.Status.ProviderID] = true
	}
	var errs []error
	for i := range machines {
		machine := &machines[i]
		if machine.Status.ProviderID == "" || listed[machine.Status.ProviderID] || !machine.DeletionTimestamp.IsZero() {
			continue
		}
		if at, ok := launchedAt(machine); !ok || g.clock.Since(at) < instanceVisibilityDelay {
			continue
		}
		_, err := g.cloudProvider.Get(ctx, machine.Status.ProviderID)
		if !cloudprovider.IsMachineNotFoundError(err) {
			if err != nil {
				errs = append(errs, fmt.Errorf("getting instance of machine %s, %w", machine.Name, err))
			}
			continue
		}
		g.metrics.deleting(machine.UID, TerminationReasonGarbageCollected)
		if err := g.kubeClient.Delete(ctx, machine); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting machine %s, %w", machine.Name, err))
			continue
		}
		log.FromContext(ctx).Info("deleted machine, its instance is gone", "Machine", klog.KObj(machine), "providerID", machine.Status.ProviderID)
	}
	return errors.Join(errs...)
}
