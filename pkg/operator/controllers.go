package operator

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/clustermetrics"
	"github.com/kerf-autoscaler/kerf/pkg/consolidation"
	"github.com/kerf-autoscaler/kerf/pkg/disruption"
	"github.com/kerf-autoscaler/kerf/pkg/interruption"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
	"github.com/kerf-autoscaler/kerf/pkg/state"
	"github.com/kerf-autoscaler/kerf/pkg/termination"
)

// RegisterControllers adds Kerf's controllers to the manager, all sharing one cloud provider
// (measured per controller), one record of offerings that ran out of capacity and the
// operator's clock.
func (o *Operator) RegisterControllers(ctx context.Context, cloud cloudprovider.CloudProvider, defaults state.DefaultRequirements) error {
	metrics, err := cloudprovider.NewMetrics(o.Registry, o.Clock)
	if err != nil {
		return err
	}
	// Each caller gets its own measured provider, so the calls are labelled by who made them.
	measured := func(controller string) cloudprovider.CloudProvider { return metrics.Decorate(cloud, controller) }
	if err := state.AddIndexes(ctx, o.GetFieldIndexer()); err != nil {
		return err
	}
	unavailable := o.Unavailable
	kube := o.GetClient()

	provisioningMetrics, err := provisioning.NewMetrics(o.Registry)
	if err != nil {
		return err
	}
	batcher := provisioning.NewBatcher(o.Clock, o.Options.BatchIdleDuration, o.Options.BatchMaxDuration)
	cluster := state.NewCluster(kube, measured("state"), defaults, unavailable, o.GetEventRecorder("provisioner"))
	provisioner := provisioning.NewProvisioner(kube, cluster, batcher, o.GetEventRecorder("provisioner"), o.Clock, provisioningMetrics)
	if err := o.Add(provisioner); err != nil {
		return fmt.Errorf("adding the provisioner, %w", err)
	}
	if err := provisioning.NewPodTrigger(kube, batcher).Register(o.Manager); err != nil {
		return fmt.Errorf("registering the pod trigger, %w", err)
	}
	if err := provisioning.NewChangeTrigger(batcher).Register(o.Manager); err != nil {
		return fmt.Errorf("registering the change trigger, %w", err)
	}
	if err := provisioning.NewStatusController(kube, provisioningMetrics).Register(ctx, o.Manager); err != nil {
		return fmt.Errorf("registering the provisioner status controller, %w", err)
	}
	if err := provisioning.NewStartupController(kube, o.Clock, provisioningMetrics).Register(o.Manager); err != nil {
		return fmt.Errorf("registering the pod startup controller, %w", err)
	}
	lifecycleMetrics, err := lifecycle.NewMetrics(o.Registry, unavailable)
	if err != nil {
		return err
	}
	machines := lifecycle.NewController(kube, measured("machine.lifecycle"), unavailable, o.GetEventRecorder(lifecycle.Name), o.Clock, o.Options.RegistrationTTL, lifecycleMetrics).
		WithBatchOpenTimeout(o.Options.BatchOpenTimeout).WithPlannedPods(provisioner.Nominations())
	if err := machines.Register(ctx, o.Manager); err != nil {
		return fmt.Errorf("registering the machine lifecycle controller, %w", err)
	}
	terminationMetrics, err := termination.NewMetrics(o.Registry)
	if err != nil {
		return err
	}
	nodes := termination.NewController(kube, o.GetAPIReader(), measured("node.termination"), o.GetEventRecorder(termination.Name), o.Clock, terminationMetrics)
	if err := nodes.Register(o.Manager); err != nil {
		return fmt.Errorf("registering the node termination controller, %w", err)
	}
	if err := o.registerDisruption(ctx, kube, cluster, measured("deprovisioning"), provisioningMetrics, lifecycleMetrics); err != nil {
		return err
	}
	if err := o.Add(lifecycle.NewGarbageCollector(kube, measured("machine.garbagecollection"), o.Clock, o.Options.GCGracePeriod, lifecycleMetrics)); err != nil {
		return fmt.Errorf("adding the machine garbage collector, %w", err)
	}
	elected := o.Elected()
	leading := func() bool {
		select {
		case <-elected:
			return true
		default:
			return false
		}
	}
	if err := o.Registry.Register(clustermetrics.New(kube, leading)); err != nil {
		return fmt.Errorf("registering the node and pod metrics, %w", err)
	}
	return nil
}

// registerDisruption adds the emptiness marker and the disruption loop, which share the
// provisioner's picture of the cluster.
func (o *Operator) registerDisruption(ctx context.Context, kube client.Client, cluster provisioning.Snapshotter, cloud cloudprovider.CloudProvider,
	created disruption.MachineCounter, terminating disruption.MachineTerminations) error {
	if err := disruption.NewEmptiness(kube, o.Clock).Register(o.Manager); err != nil {
		return fmt.Errorf("registering the emptiness marker, %w", err)
	}
	metrics, err := disruption.NewMetrics(o.Registry, created, terminating)
	if err != nil {
		return err
	}
	controller := disruption.NewController(kube, cluster, cloud, o.GetEventRecorder(disruption.Name), o.Clock, metrics, disruption.Options{
		DriftEnabled:    o.Options.DriftEnabled,
		ExpiryJitter:    o.Options.ExpiryJitter,
		ValidationDelay: disruption.DefaultValidationDelay,
		Consolidation:   consolidation.Options{SpotToSpot: o.Options.SpotToSpotConsolidation},
	})
	if err := o.Add(controller); err != nil {
		return fmt.Errorf("adding the disruption controller, %w", err)
	}
	return nil
}

// RegisterInterruption adds the controller that reads the cloud's interruption queue and drains
// the nodes it announces; without a queue configured nothing reads one.
func (o *Operator) RegisterInterruption(queue cloudprovider.InterruptionQueue) error {
	metrics, err := interruption.NewMetrics(o.Registry)
	if err != nil {
		return err
	}
	controller := interruption.NewController(o.GetClient(), queue, o.Unavailable, o.GetEventRecorder(interruption.Name), o.Clock, metrics,
		interruption.Options{DrainOnRebalance: o.Options.DrainOnRebalance})
	if err := o.Add(controller); err != nil {
		return fmt.Errorf("adding the interruption controller, %w", err)
	}
	return nil
}
