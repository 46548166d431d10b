package disruption

import (
	"context"
	"fmt"
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
	"github.com/kerf-autoscaler/kerf/pkg/consolidation"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning"
)

// Name is the controller's name in logs and Events.
const Name = "disruption"

// What the controller does through the API server (make generate turns these into the chart's
// ClusterRole).
//
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;patch;delete
// +kubebuilder:rbac:groups=karpenter.sh,resources=machines,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=karpenter.sh,resources=provisioners,verbs=get;list;watch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Defaults of Options.
const (
	// DefaultPollInterval is how often a pass runs, as Karpenter v0.31's deprovisioning loop.
	DefaultPollInterval = 10 * time.Second
	// DefaultValidationDelay is how long a consolidation command waits before it is checked
	// again and run, as Karpenter's: long enough for a burst of pods to show up.
	DefaultValidationDelay = 15 * time.Second
	// DefaultReplacementTimeout bounds how long replacements may take to be initialized before
	// the command is abandoned.
	DefaultReplacementTimeout = 10 * time.Minute
)

// Options tune the controller.
type Options struct {
	// DriftEnabled turns on drift (Karpenter v0.31's featureGates.driftEnabled, off by default).
	DriftEnabled bool
	// ExpiryJitter lets each node expire up to this much before its TTL (see expiresAt).
	ExpiryJitter       time.Duration
	PollInterval       time.Duration
	ValidationDelay    time.Duration
	ReplacementTimeout time.Duration
	Consolidation      consolidation.Options
}

// Controller runs disruption passes on the leader.
type Controller struct {
	kube     client.Client
	cluster  provisioning.Snapshotter
	cloud    cloudprovider.CloudProvider
	recorder events.EventRecorder
	clock    clock.Clock
	metrics  *Metrics
	opts     Options

	drifts   driftCache
	mu       sync.Mutex
	reported map[reportKey]string // the last message Evented per node and topic
	// badBudgets is the last budget error message Evented per Provisioner.
	badBudgets map[string]string
}

var _ manager.LeaderElectionRunnable = (*Controller)(nil)

// NewController wires a Controller; kube reads from the cache the Snapshotter reads from.
func NewController(kube client.Client, cluster provisioning.Snapshotter, cloud cloudprovider.CloudProvider, recorder events.EventRecorder,
	clk clock.Clock, metrics *Metrics, opts Options) *Controller {
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.ReplacementTimeout <= 0 {
		opts.ReplacementTimeout = DefaultReplacementTimeout
	}
	return &Controller{kube: kube, cluster: cluster, cloud: cloud, recorder: recorder, clock: clk, metrics: metrics, opts: opts,
		drifts: driftCache{entries: map[string]driftEntry{}}, reported: map[reportKey]string{}, badBudgets: map[string]string{}}
}

// reportKey is what one remembered Event message is about.
type reportKey struct{ node, topic string }

// NeedLeaderElection makes only the leader disrupt nodes.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start runs a pass every poll interval until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithName(Name))
	for {
		if _, err := c.Disrupt(ctx); err != nil {
			log.FromContext(ctx).Error(err, "disruption pass failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.clock.After(c.opts.PollInterval):
		}
	}
}

// recover removes the disruption taint from nodes no command holds: left by a command that died
// with the process before a restart, or by one that failed after choosing them. Commands run one
// at a time, within a pass, so between passes any such taint is stale. Nodes already being
// deleted keep it.
func (c *Controller) recover(ctx context.Context) error {
	var nodes corev1.NodeList
	if err := c.kube.List(ctx, &nodes); err != nil {
		return fmt.Errorf("listing nodes, %w", err)
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if n.DeletionTimestamp == nil && hasDisruptionTaint(n) {
			if err := c.setTaint(ctx, n.Name, false); err != nil {
				return err
			}
			log.FromContext(ctx).Info("removed a disruption taint no command holds", "Node", klog.KObj(n))
		}
	}
	return nil
}

// Outcome is what a pass did.
type Outcome struct {
	// Method that acted; empty when none did.
	Method Method
	// Nodes deleted, and the Machines launched to replace them.
	Nodes        []string
	Replacements []string
	// Abandoned says why a chosen command was dropped; empty when it ran or none was chosen.
	Abandoned string
	// Savings is the $/hour the command saves: emptiness and consolidation; expiry and drift
	// replace whatever the price.
	Savings float64
}

// Disrupt runs one pass: the first method with something to do, in order, chooses a command,
// which runs to the point where its nodes are being deleted.
func (c *Controller) Disrupt(ctx context.Context) (Outcome, error) {
	if err := c.recover(ctx); err != nil {
		return Outcome{}, fmt.Errorf("removing stale disruption taints, %w", err)
	}
	v, err := c.view(ctx, nil)
	if err != nil {
		return Outcome{}, err
	}
	methods := []struct {
		name    Method
		compute func(context.Context, *view) *command
		settled bool // waits until no Machine is launching and no pod just went pending
	}{
		{MethodEmptiness, c.emptiness, false},
		{MethodExpiration, c.expiration, true},
		{MethodDrift, c.drift, true},
		{MethodConsolidation, c.consolidation, true},
	}
	for _, m := range methods {
		if m.settled && (v.launching > 0 || v.settling > 0) {
			log.FromContext(ctx).V(1).Info("waiting for the cluster to settle", "launchingMachines", v.launching, "pendingPods", v.settling)
			break
		}
		if (m.name == MethodEmptiness || m.name == MethodConsolidation) && v.deleting > 0 {
			// Pods evicted from a draining node are not pending yet; removing capacity now
			// could take the room they are about to need (room a replacement plan counted on).
			log.FromContext(ctx).V(1).Info("waiting for draining nodes", "method", m.name, "drainingNodes", v.deleting)
			continue
		}
		start := c.clock.Now()
		cmd := m.compute(ctx, v)
		c.metrics.evaluation.WithLabelValues(string(m.name)).Observe(c.clock.Since(start).Seconds())
		if cmd != nil {
			return c.execute(ctx, cmd)
		}
	}
	c.forget(v)
	return Outcome{}, nil
}

// blocked records why a node a method wanted to remove stays, as an Event when the reason
// changed since the last one.
func (c *Controller) blocked(n *node, method Method, why blockReason) {
	c.report(n, EventBlocked+"/"+string(method), EventBlocked, why.code, fmt.Sprintf("Cannot disrupt node (%s): %s: %s", method, why.code, why.message))
}

// unconsolidatable records why consolidation leaves a node alone.
func (c *Controller) unconsolidatable(n *node, reason consolidation.NodeReason) {
	c.report(n, EventUnconsolidatable, EventUnconsolidatable, string(reason.Code), fmt.Sprintf("%s: %s", reason.Code, reason.Message))
}

// report Events message unless it is what was last Evented for the node under topic (one per
// method and kind of Event, so methods that each keep a node do not take turns). The reason code
// is the Event's action: the events library folds Events that differ only in their message into
// one series that keeps the first message, so the code must tell them apart.
func (c *Controller) report(n *node, topic, reason, code, message string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := reportKey{node: n.node.Name, topic: topic}
	if c.reported[key] == message {
		return
	}
	c.reported[key] = message
	c.recorder.Eventf(n.node, nil, corev1.EventTypeNormal, reason, code, "%s", message)
	if n.machine != nil {
		c.recorder.Eventf(n.machine, nil, corev1.EventTypeNormal, reason, code, "%s", message)
	}
}

// forget drops what is remembered of nodes and Machines gone.
func (c *Controller) forget(v *view) {
	machines := map[string]bool{}
	for _, n := range v.nodes {
		if n.machine != nil {
			machines[string(n.machine.UID)] = true
		}
	}
	c.drifts.forget(machines)
	c.mu.Lock()
	defer c.mu.Unlock()
	live := map[string]bool{}
	for _, n := range v.nodes {
		live[n.node.Name] = true
	}
	for key := range c.reported {
		if !live[key.node] {
			delete(c.reported, key)
		}
	}
}

// reportBudgetErrors turns a Provisioner's malformed budget annotations into a Warning Event,
// once per distinct set of errors.
func (c *Controller) reportBudgetErrors(p *v1alpha5.Provisioner, errs []error) {
	message := ""
	for _, err := range errs {
		if message != "" {
			message += "; "
		}
		message += err.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.badBudgets[p.Name] == message {
		return
	}
	c.badBudgets[p.Name] = message
	if message != "" {
		c.recorder.Eventf(p, nil, corev1.EventTypeWarning, EventInvalidBudget, "Disrupt",
			"Ignoring invalid disruption settings, using the default: %s", message)
	}
}
