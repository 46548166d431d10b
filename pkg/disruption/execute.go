package disruption

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/consolidation"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning"
)

// Event reasons. Those Karpenter v0.31 emits keep its names, so alerts on them keep working.
const (
	EventBlocked          = "DeprovisioningBlocked"
	EventUnconsolidatable = "Unconsolidatable"
	EventLaunching        = "DeprovisioningLaunching"
	EventWaitingReadiness = "DeprovisioningWaitingReadiness"
	EventTerminating      = "DeprovisioningTerminating"
	EventAbandoned        = "DeprovisioningAbandoned"
	EventInvalidBudget    = "InvalidDisruptionBudget"
	EventPodsWillPend     = "DeprovisioningPodsWillPend"
)

// replacementPoll is how often the wait for replacements looks at their Machines (real time: it
// waits on the cache, and the timeout is on the injected clock).
const replacementPoll = time.Second

// execute runs a command: taint its nodes, check it again if it asks for it, launch the
// replacements and wait until they are initialized, then delete the nodes. Anything short of
// that abandons the command: the replacements are deleted and the nodes keep running, untainted.
func (c *Controller) execute(ctx context.Context, cmd *command) (Outcome, error) {
	names := cmd.names()
	logger := log.FromContext(ctx).WithValues("method", cmd.method, "nodes", names)
	logger.Info("disrupting nodes", "action", cmd.action(), "reason", cmd.reason, "replacements", len(cmd.replacements),
		"savingsUSDPerHour", cmd.savings)
	ctx = log.IntoContext(ctx, logger)
	for _, name := range names {
		if err := c.setTaint(ctx, name, true); err != nil {
			return c.abandon(ctx, cmd, nil, fmt.Sprintf("tainting the nodes failed: %v", err)), err
		}
	}
	if cmd.validate && c.opts.ValidationDelay > 0 {
		fresh, why, err := c.revalidate(ctx, cmd)
		if err != nil || fresh == nil {
			if err != nil {
				why = err.Error()
			}
			return c.abandon(ctx, cmd, nil, why), err
		}
		cmd = fresh
	}
	machines, err := c.launch(ctx, cmd)
	if err != nil {
		c.metrics.launchFailures.WithLabelValues(string(cmd.method)).Inc()
		return c.abandon(ctx, cmd, machines, err.Error()), nil
	}
	if err := c.awaitInitialized(ctx, cmd, machines); err != nil {
		c.metrics.launchFailures.WithLabelValues(string(cmd.method)).Inc()
		return c.abandon(ctx, cmd, machines, err.Error()), nil
	}
	for _, n := range cmd.nodes {
		if n.machine != nil {
			c.metrics.machineTerminating(n.machine.UID, cmd)
		}
		if err := c.kube.Delete(ctx, n.node); client.IgnoreNotFound(err) != nil {
			// The replacements are up; the next pass finds the remaining nodes again.
			return Outcome{}, fmt.Errorf("deleting node %s, %w", n.node.Name, err)
		}
		message := fmt.Sprintf("Disrupting node via %s (%s): %s", cmd.method, cmd.action(), cmd.reason)
		c.recorder.Eventf(n.node, nil, corev1.EventTypeNormal, EventTerminating, "Disrupt", "%s", message)
		if n.machine != nil {
			c.recorder.Eventf(n.machine, nil, corev1.EventTypeNormal, EventTerminating, "Disrupt", "%s", message)
		}
		c.recorder.Eventf(n.provisioner.Provisioner, n.node, corev1.EventTypeNormal, EventTerminating, "Disrupt",
			"Disrupting node %s via %s (%s): %s", n.node.Name, cmd.method, cmd.action(), cmd.reason)
		c.metrics.disrupted.WithLabelValues(string(cmd.method), n.provisioner.Name).Inc()
		if reason, ok := cmd.drifted[n.node.Name]; ok {
			c.metrics.drifted.WithLabelValues(reason, n.provisioner.Name).Inc()
		}
	}
	c.metrics.actions.WithLabelValues(commandReason(cmd), string(cmd.method)).Inc()
	logger.Info("deleted disrupted nodes", "replacements", machineNames(machines))
	return Outcome{Method: cmd.method, Nodes: names, Replacements: machineNames(machines), Savings: cmd.savings}, nil
}

// revalidate waits the validation delay and checks the command again on a fresh picture, with
// its nodes shown untainted: each node must still be a candidate, and removing them together
// must still be possible with no more replacements than planned, the replacement still cheaper
// than the nodes. The fresh replacement (or none, if the pods now fit elsewhere) is what runs.
func (c *Controller) revalidate(ctx context.Context, cmd *command) (*command, string, error) {
	select {
	case <-ctx.Done():
		return nil, "", ctx.Err()
	case <-c.clock.After(c.opts.ValidationDelay):
	}
	names := cmd.names()
	exempt := map[string]bool{}
	for _, name := range names {
		exempt[name] = true
	}
	v, err := c.view(ctx, exempt)
	if err != nil {
		return nil, "", err
	}
	if v.launching > 0 || v.settling > 0 {
		return nil, "the cluster changed while the command waited: capacity is launching or pods went pending", nil
	}
	fresh := &command{method: cmd.method, reason: cmd.reason, savings: cmd.savings}
	byName := map[string]*node{}
	for _, n := range v.nodes {
		byName[n.node.Name] = n
	}
	price := 0.0
	allSpot := true
	for _, name := range names {
		n := byName[name]
		if why := stillCandidate(n, v.now); why != "" {
			return nil, fmt.Sprintf("node %s %s", name, why), nil
		}
		fresh.nodes = append(fresh.nodes, n)
		price += n.info.Price
		allSpot = allSpot && n.info.CapacityType == v1alpha5.CapacityTypeSpot
	}
	r := consolidation.Relocate(v.input, names, nil)
	switch {
	case r.Blocked.Code != "":
		return nil, fmt.Sprintf("%s: %s", r.Blocked.Code, r.Blocked.Message), nil
	case len(r.Plan.Unschedulable) > 0:
		return nil, fmt.Sprintf("pod %s would now fit nowhere", r.Plan.Unschedulable[0].Pod), nil
	case len(r.Plan.NewNodes) > len(cmd.replacements):
		return nil, fmt.Sprintf("its pods would now need %d new nodes", len(r.Plan.NewNodes)), nil
	case len(r.Plan.NewNodes) == 1 && r.Plan.NewNodes[0].Price() >= price:
		return nil, fmt.Sprintf("the replacement, at $%.4f/h, is no longer cheaper than $%.4f/h", r.Plan.NewNodes[0].Price(), price), nil
	case len(r.Plan.NewNodes) == 1 && allSpot && !c.opts.Consolidation.SpotToSpot:
		return nil, "its pods would now need a spot replacement, and spot-to-spot consolidation is off", nil
	}
	fresh.replacements = r.Plan.NewNodes
	return fresh, "", nil
}

// stillCandidate says why a node chosen for consolidation no longer may go, empty when it may.
func stillCandidate(n *node, now time.Time) string {
	switch {
	case n == nil:
		return "is gone"
	case n.info.Deleting:
		return "is being deleted"
	case n.info.DoNotConsolidate:
		return "was annotated " + v1alpha5.DoNotConsolidateNodeAnnotationKey
	case n.info.Nominated:
		return "had a pending pod nominated to it"
	case !n.provisioner.budget.Open(now):
		return "is outside its Provisioner's disruption window"
	}
	return ""
}

// launch creates a Machine for each replacement, as provisioning would for pending pods.
func (c *Controller) launch(ctx context.Context, cmd *command) ([]*v1alpha5.Machine, error) {
	var out []*v1alpha5.Machine
	for _, r := range cmd.replacements {
		p := &v1alpha5.Provisioner{}
		if err := c.kube.Get(ctx, client.ObjectKey{Name: r.Provisioner}, p); err != nil {
			return out, fmt.Errorf("getting provisioner %s for a replacement, %w", r.Provisioner, err)
		}
		m := provisioning.NewMachine(r, p)
		if err := c.kube.Create(ctx, m); err != nil {
			return out, fmt.Errorf("creating replacement machine, %w", err)
		}
		out = append(out, m)
		c.metrics.machineCreated(p.Name, cmd)
		log.FromContext(ctx).Info("launching replacement", "Machine", klog.KObj(m), "instanceTypes", len(r.InstanceTypes),
			"cheapest", r.InstanceTypes[0].Name, "usdPerHour", r.Price())
	}
	if len(out) == 0 {
		return out, nil
	}
	described := make([]string, len(out))
	for i, m := range out {
		r := cmd.replacements[i]
		described[i] = fmt.Sprintf("%s: %s and %d other type(s), from $%.4f/h", m.Name, r.InstanceTypes[0].Name, len(r.InstanceTypes)-1, r.Price())
	}
	for _, n := range cmd.nodes {
		c.recorder.Eventf(n.node, nil, corev1.EventTypeNormal, EventLaunching, "Disrupt",
			"Launching %d replacement(s) before disrupting via %s (%s)", len(out), cmd.method, strings.Join(described, "; "))
	}
	return out, nil
}

// errReplacementFailed says a replacement Machine was deleted before it was initialized: it could
// not launch (no capacity) or its node never came up.
var errReplacementFailed = errors.New("replacement machine was deleted before it was initialized")

// awaitInitialized waits until every replacement Machine is initialized, fails fast when one is
// deleted, and gives up after the replacement timeout.
func (c *Controller) awaitInitialized(ctx context.Context, cmd *command, machines []*v1alpha5.Machine) error {
	if len(machines) == 0 {
		return nil
	}
	start := c.clock.Now()
	for _, n := range cmd.nodes {
		c.recorder.Eventf(n.node, nil, corev1.EventTypeNormal, EventWaitingReadiness, "Disrupt",
			"Waiting on readiness of %d replacement(s) to continue disruption", len(machines))
	}
	pending := slices.Clone(machines)
	seen := map[string]bool{}
	err := wait.PollUntilContextCancel(ctx, replacementPoll, true, func(ctx context.Context) (bool, error) {
		var still []*v1alpha5.Machine
		for _, m := range pending {
			current := &v1alpha5.Machine{}
			err := c.kube.Get(ctx, client.ObjectKeyFromObject(m), current)
			switch {
			case apierrors.IsNotFound(err) && !seen[m.Name]:
				still = append(still, m) // the cache has not seen the new Machine yet
			case apierrors.IsNotFound(err) || (err == nil && current.DeletionTimestamp != nil):
				return false, fmt.Errorf("%w: %s", errReplacementFailed, m.Name)
			case err != nil:
				return false, err
			case v1alpha5.IsConditionTrue(current.Status.Conditions, v1alpha5.MachineInitialized):
				c.metrics.replacementInitialized.Observe(c.clock.Since(start).Seconds())
			default:
				seen[m.Name] = true
				still = append(still, m)
			}
		}
		pending = still
		if len(pending) > 0 && c.clock.Since(start) > c.opts.ReplacementTimeout {
			return false, fmt.Errorf("replacement %s not initialized after %s", pending[0].Name, c.opts.ReplacementTimeout)
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for replacements, %w", err)
	}
	return nil
}

// abandon drops a command: its replacements are deleted, its nodes untainted, and Events say why.
func (c *Controller) abandon(ctx context.Context, cmd *command, machines []*v1alpha5.Machine, why string) Outcome {
	logger := log.FromContext(ctx)
	logger.Info("abandoning disruption", "reason", why)
	// The ctx may be ending (shutdown); the clean-up must still happen.
	ctx = context.WithoutCancel(ctx)
	for _, m := range machines {
		if err := c.kube.Delete(ctx, m); client.IgnoreNotFound(err) != nil {
			logger.Error(err, "deleting replacement of an abandoned command", "Machine", klog.KObj(m))
		}
	}
	for _, n := range cmd.nodes {
		if err := c.setTaint(ctx, n.node.Name, false); err != nil {
			logger.Error(err, "removing the disruption taint of an abandoned command", "Node", klog.KObj(n.node))
		}
		c.recorder.Eventf(n.node, nil, corev1.EventTypeWarning, EventAbandoned, "Disrupt", "Not disrupting via %s after all: %s", cmd.method, why)
	}
	return Outcome{Method: cmd.method, Abandoned: why}
}

func machineNames(machines []*v1alpha5.Machine) []string {
	out := make([]string, len(machines))
	for i, m := range machines {
		out[i] = m.Name
	}
	return out
}
