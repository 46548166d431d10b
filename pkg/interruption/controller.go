package interruption

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// Name is the controller's name in logs.
const Name = "interruption"

// What the controller does through the API server (make generate turns these into the chart's
// ClusterRole).
//
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=karpenter.sh,resources=machines,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Event reasons on the Node, as Karpenter v0.31 names them.
const (
	EventSpotInterrupted         = "SpotInterrupted"
	EventRebalanceRecommendation = "SpotRebalanceRecommendation"
	EventInstanceStopping        = "InstanceStopping"
	EventInstanceTerminating     = "InstanceTerminating"
	EventInstanceUnhealthy       = "InstanceUnhealthy"
	// EventTerminatingOnInterruption follows the message's own Event when Kerf drains the node.
	EventTerminatingOnInterruption = "TerminatingOnInterruption"
)

const (
	// receiveRetry is how long a failed receive waits before the next.
	receiveRetry = 5 * time.Second
	// maxConcurrentMessages bounds how many messages of one receive are handled at once.
	maxConcurrentMessages = 10
)

// UnavailableOfferings is where a spot interruption marks its pool, so the next launch avoids it.
type UnavailableOfferings interface {
	MarkUnavailable(ctx context.Context, instanceType, zone, capacityType string)
}

var _ manager.LeaderElectionRunnable = (*Controller)(nil)

// Controller long-polls the interruption queue and acts on each message: nodes about to be
// reclaimed, stopped or retired are deleted (and so drained), a rebalance recommendation becomes
// an Event. A message is deleted only once it was acted on or found irrelevant.
type Controller struct {
	kubeClient  client.Client
	queue       cloudprovider.InterruptionQueue
	unavailable UnavailableOfferings
	recorder    events.EventRecorder
	clock       clock.Clock
	metrics     *Metrics
	opts        Options
}

// Options tune what the controller does.
type Options struct {
	// DrainOnRebalance drains a spot node on a rebalance recommendation too, replacing it before
	// any interruption; off, the recommendation is an Event only (Karpenter v0.31's behaviour).
	DrainOnRebalance bool
}

// NewController returns the interruption controller; add it to the manager to run it. kubeClient
// should read from a cache with state.AddIndexes.
func NewController(kubeClient client.Client, queue cloudprovider.InterruptionQueue, unavailable UnavailableOfferings,
	recorder events.EventRecorder, clk clock.Clock, metrics *Metrics, opts Options) *Controller {
	return &Controller{kubeClient: kubeClient, queue: queue, unavailable: unavailable, recorder: recorder, clock: clk, metrics: metrics, opts: opts}
}

// NeedLeaderElection makes only the leader act on messages.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start receives and handles messages until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("controller", Name))
	for ctx.Err() == nil {
		msgs, err := c.queue.Receive(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.FromContext(ctx).Error(err, "receiving interruption messages failed")
				c.wait(ctx, receiveRetry)
			}
			continue
		}
		c.HandleAll(ctx, msgs)
	}
	return nil
}

func (c *Controller) wait(ctx context.Context, d time.Duration) {
	timer := c.clock.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C():
	}
}

// HandleAll handles one receive's messages concurrently.
func (c *Controller) HandleAll(ctx context.Context, msgs []cloudprovider.InterruptionMessage) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxConcurrentMessages)
	for _, msg := range msgs {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := c.Handle(ctx, msg); err != nil {
				log.FromContext(ctx).Error(err, "handling interruption message failed, it stays on the queue", "messageID", msg.ID)
			}
		}()
	}
	wg.Wait()
}

// Handle acts on one message and deletes it from the queue; on an error the message stays and
// comes back after its visibility timeout.
func (c *Controller) Handle(ctx context.Context, msg cloudprovider.InterruptionMessage) error {
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("messageID", msg.ID, "kind", string(msg.Kind)))
	if !msg.EventTime.IsZero() {
		c.metrics.latency.Observe(c.clock.Since(msg.EventTime).Seconds())
	}
	switch msg.Kind {
	case cloudprovider.Unparseable:
		log.FromContext(ctx).Info("deleting an interruption message Kerf cannot read", "reason", fmt.Sprint(msg.Err))
	case cloudprovider.Ignored:
		log.FromContext(ctx).V(1).Info("deleting an event Kerf does not act on", "reason", fmt.Sprint(msg.Err))
	default:
		if err := c.act(ctx, msg); err != nil {
			return err
		}
	}
	c.metrics.receivedMessage(msg.Kind)
	if err := c.queue.Delete(ctx, msg); err != nil {
		return fmt.Errorf("deleting interruption message %s, %w", msg.ID, err)
	}
	c.metrics.deleted.Inc()
	return nil
}

// act applies the message to each instance it names that Kerf manages.
func (c *Controller) act(ctx context.Context, msg cloudprovider.InterruptionMessage) error {
	for _, id := range msg.InstanceIDs {
		node, machine, err := c.find(ctx, id)
		if err != nil {
			return err
		}
		if node == nil && machine == nil {
			log.FromContext(ctx).V(1).Info("ignoring an interruption of an instance Kerf does not manage", "instanceID", id)
			continue
		}
		if err := c.apply(ctx, msg, node, machine); err != nil {
			return err
		}
	}
	return nil
}

// find returns the Node and Machine of the instance, either nil when there is none.
func (c *Controller) find(ctx context.Context, instanceID string) (*corev1.Node, *v1alpha5.Machine, error) {
	nodes := &corev1.NodeList{}
	if err := c.kubeClient.List(ctx, nodes, client.MatchingFields{state.NodeInstanceIDIndex: instanceID}); err != nil {
		return nil, nil, fmt.Errorf("finding the node of instance %s, %w", instanceID, err)
	}
	machines := &v1alpha5.MachineList{}
	if err := c.kubeClient.List(ctx, machines, client.MatchingFields{state.MachineInstanceIDIndex: instanceID}); err != nil {
		return nil, nil, fmt.Errorf("finding the machine of instance %s, %w", instanceID, err)
	}
	var node *corev1.Node
	var machine *v1alpha5.Machine
	for i := range nodes.Items {
		// Only Kerf's nodes: a node of another autoscaler's instance is not ours to drain.
		if nodes.Items[i].Labels[v1alpha5.ProvisionerNameLabelKey] != "" {
			node = &nodes.Items[i]
		}
	}
	if len(machines.Items) > 0 {
		machine = &machines.Items[0]
	}
	return node, machine, nil
}

// apply does what msg asks for one instance.
func (c *Controller) apply(ctx context.Context, msg cloudprovider.InterruptionMessage, node *corev1.Node, machine *v1alpha5.Machine) error {
	if msg.Kind == cloudprovider.SpotInterruption {
		c.markUnavailable(ctx, node, machine)
	}
	if (node != nil && !node.DeletionTimestamp.IsZero()) || (node == nil && !machine.DeletionTimestamp.IsZero()) {
		// Already leaving, often because Kerf itself terminated it and this is EC2 saying so.
		c.metrics.actions.WithLabelValues(actionNoAction).Inc()
		return nil
	}
	reason, note := "", ""
	drain := true
	switch msg.Kind {
	case cloudprovider.SpotInterruption:
		reason, note = EventSpotInterrupted, fmt.Sprintf("Spot interruption warning: the instance is reclaimed at %s; draining", when(msg.ActionTime))
	case cloudprovider.ScheduledChange:
		reason, note = EventInstanceUnhealthy, fmt.Sprintf("Scheduled maintenance or retirement from %s; draining", when(msg.ActionTime))
	case cloudprovider.StateChange:
		switch strings.ToLower(msg.State) {
		case "stopping", "stopped":
			reason, note = EventInstanceStopping, "The instance is "+msg.State+"; draining"
		case "shutting-down", "terminated":
			reason, note = EventInstanceTerminating, "The instance is "+msg.State+"; draining"
		default:
			drain = false
		}
	case cloudprovider.RebalanceRecommendation:
		reason, note = EventRebalanceRecommendation, "The spot instance is at elevated risk of interruption"
		drain = c.opts.DrainOnRebalance
		if drain {
			note += "; draining"
		}
	default:
		drain = false
	}
	if reason != "" && node != nil {
		eventType := corev1.EventTypeWarning
		if !drain {
			eventType = corev1.EventTypeNormal
		}
		c.recorder.Eventf(node, nil, eventType, reason, "Interrupt", "%s", note)
	}
	if !drain {
		c.metrics.actions.WithLabelValues(actionNoAction).Inc()
		return nil
	}
	c.metrics.actions.WithLabelValues(actionCordonAndDrain).Inc()
	// Deleting either one drains the node and terminates the instance (pkg/termination).
	var target client.Object = machine
	if node != nil {
		target = node
		log.FromContext(ctx).Info("draining interrupted node", "Node", klog.KObj(node), "reason", reason)
	} else {
		log.FromContext(ctx).Info("deleting interrupted machine", "Machine", klog.KObj(machine), "reason", reason)
	}
	if err := c.kubeClient.Delete(ctx, target); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting %s of an interrupted instance, %w", target.GetName(), err)
	}
	if node != nil {
		c.recorder.Eventf(node, nil, corev1.EventTypeNormal, EventTerminatingOnInterruption, "Interrupt", "Terminating the node: %s", reason)
	}
	return nil
}

// markUnavailable leaves the interrupted spot pool out of planning for a while.
func (c *Controller) markUnavailable(ctx context.Context, node *corev1.Node, machine *v1alpha5.Machine) {
	labels := map[string]string{}
	if machine != nil {
		labels = machine.Labels
	}
	if node != nil {
		labels = node.Labels
	}
	instanceType, zone := labels[v1alpha5.LabelInstanceType], labels[v1alpha5.LabelTopologyZone]
	if instanceType != "" && zone != "" {
		c.unavailable.MarkUnavailable(ctx, instanceType, zone, v1alpha5.CapacityTypeSpot)
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "an unannounced time"
	}
	return t.UTC().Format(time.RFC3339)
}
