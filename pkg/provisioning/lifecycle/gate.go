package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// BatchGateTaint keeps the nodes of one plan closed to pods until they can all take them.
//
// The kube-scheduler places pending pods on whichever node turns Ready first. A plan's nodes turn
// Ready seconds apart, so the first fills with pods the plan put elsewhere, and pods it counted on
// finding room there (or that a topology spread holds back while other nodes of the plan are
// still NotReady) go pending again: a second batch, and nodes left empty. Opening the batch's
// nodes together lets the kube-scheduler see what the plan saw.
var BatchGateTaint = corev1.Taint{Key: v1alpha5.BatchGateTaintKey, Effect: corev1.TaintEffectNoSchedule}

// DefaultBatchOpenTimeout is the longest a node ready for pods waits for the rest of its batch: a
// slow or failed launch must not hold back the pods of the others.
const DefaultBatchOpenTimeout = 30 * time.Second

// WithBatchOpenTimeout sets how long a node ready for pods waits for the rest of its batch; 0 opens
// every node as soon as it is ready, as if it had no batch.
func (c *Controller) WithBatchOpenTimeout(timeout time.Duration) *Controller {
	c.batchOpenTimeout = timeout
	return c
}

// PlannedPods answers which pending pods a plan put on a Machine's node.
type PlannedPods interface {
	PlannedOn(machine *v1alpha5.Machine) []types.NamespacedName
}

// WithPlannedPods has the batch gate tell the kube-scheduler, as it opens a node, which pods the
// plan put there (see hint).
func (c *Controller) WithPlannedPods(planned PlannedPods) *Controller {
	c.plannedPods = planned
	return c
}

// gatePoll is how often a gated Machine looks at its batch again.
const gatePoll = time.Second

// openGate lifts the batch gate from every node of the Machine's batch at once, when all of the
// batch's Machines have a node ready for pods or this one registered the batch open timeout ago.
func (c *Controller) openGate(ctx context.Context, s *scope) (phaseResult, error) {
	machine, node := s.machine, s.node
	batch := machine.Labels[v1alpha5.BatchLabelKey]
	if batch == "" || node == nil {
		return phaseResult{}, nil
	}
	if !hasTaint(node.Spec.Taints, BatchGateTaint) {
		return c.hintAgain(ctx, machine, node)
	}
	if !readyButForTheGate(machine, node) {
		return phaseResult{requeueAfter: gatePoll}, nil
	}
	if c.batchOpenTimeout == 0 {
		// Gated before the gate was turned off: nothing to wait for.
		return phaseResult{}, c.open(ctx, batch, node, []gatedNode{{machine, node}}, 0)
	}
	members := &v1alpha5.MachineList{}
	if err := c.kubeClient.List(ctx, members, client.MatchingLabels{v1alpha5.BatchLabelKey: batch}); err != nil {
		return phaseResult{}, fmt.Errorf("listing machines of batch %s, %w", batch, err)
	}
	var gated []gatedNode
	waiting := 0
	for i := range members.Items {
		m := &members.Items[i]
		if m.DeletionTimestamp != nil {
			continue
		}
		var member *corev1.Node
		if m.UID == machine.UID {
			member = node
		} else if m.Status.ProviderID != "" {
			var err error
			if member, err = state.NodeForProviderID(ctx, c.kubeClient, m.Status.ProviderID); err != nil {
				return phaseResult{}, fmt.Errorf("reading the node of machine %s, %w", m.Name, err)
			}
		}
		if member == nil || !readyButForTheGate(m, member) {
			waiting++
			continue
		}
		if hasTaint(member.Spec.Taints, BatchGateTaint) {
			gated = append(gated, gatedNode{m, member})
		}
	}
	if waiting > 0 {
		registered := v1alpha5.FindCondition(machine.Status.Conditions, v1alpha5.MachineRegistered)
		if registered != nil {
			if waited := c.clock.Since(registered.LastTransitionTime.Time); waited < c.batchOpenTimeout {
				return phaseResult{requeueAfter: min(gatePoll, c.batchOpenTimeout-waited)}, nil
			}
		}
	}
	return phaseResult{}, c.open(ctx, batch, node, gated, waiting)
}

// gatedNode is a node of the batch still behind the gate, with its Machine.
type gatedNode struct {
	machine *v1alpha5.Machine
	node    *corev1.Node
}

// open lifts the batch gate from the gated nodes, all in one go, after hinting each node's planned
// pods to the kube-scheduler.
//
// The Machines of a batch reconcile concurrently and may all find it ready at once: the nodes are
// opened under one lock and remembered, so each is hinted and opened once (two writers would also
// conflict on the taints and leave the opening unlogged).
func (c *Controller) open(ctx context.Context, batch string, node *corev1.Node, gated []gatedNode, waiting int) error {
	c.gateMu.Lock()
	defer c.gateMu.Unlock()
	gated = slices.DeleteFunc(gated, func(g gatedNode) bool {
		_, done := c.openedNodes.Get(string(g.node.UID))
		return done
	})
	if len(gated) == 0 {
		return nil
	}
	hinted := 0
	for _, g := range gated {
		n, err := c.hint(ctx, g)
		hinted += n
		if err != nil {
			return err
		}
	}
	// All at once: a node opened a few milliseconds before the others fills with their pods.
	errs := make([]error, len(gated))
	workqueue.ParallelizeUntil(ctx, len(gated), len(gated), func(i int) {
		n := gated[i].node
		stored := n.DeepCopy()
		n.Spec.Taints = withoutBatchGate(n.Spec.Taints)
		if err := c.kubeClient.Patch(ctx, n, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
			errs[i] = fmt.Errorf("opening node %s of batch %s, %w", n.Name, batch, err)
			return
		}
		c.openedNodes.SetDefault(string(n.UID), c.clock.Now())
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.FromContext(ctx).Info("opened batch", "batch", batch, "nodes", len(gated), "stillWaiting", waiting, "hintedPods", hinted, "Node", klog.KObj(node))
	return nil
}

// hintWindow is how long after a batch opened its nodes' planned pods are hinted again: about
// the time provisioning leaves them to the kube-scheduler before planning them afresh.
const hintWindow = 15 * time.Second

// hintAgain hints the node's planned pods again for hintWindow after Kerf opened it. The
// kube-scheduler clears a pod's nominated node when the pod fits nowhere yet: a pod with required
// affinity to pods of the batch that are not bound yet, or one tried while the node was opening.
// Hinted again, it keeps its room and tries its node first once those pods are bound.
func (c *Controller) hintAgain(ctx context.Context, machine *v1alpha5.Machine, node *corev1.Node) (phaseResult, error) {
	opened, ok := c.openedNodes.Get(string(node.UID))
	if !ok || c.clock.Since(opened.(time.Time)) >= hintWindow {
		return phaseResult{}, nil
	}
	if _, err := c.hint(ctx, gatedNode{machine, node}); err != nil {
		return phaseResult{}, err
	}
	return phaseResult{requeueAfter: hintPoll}, nil
}

// hintPoll is how often a hint is restored while the batch's pods are placed: well within the
// kube-scheduler's one-second backoff before it tries a failed pod again, so the pod finds its
// hint back when it does.
const hintPoll = 200 * time.Millisecond

// hint sets the nominated node name of each pod the plan put on the gated node that is still
// pending, and returns how many it set.
//
// Once the gate opens, the kube-scheduler places the batch's pods in its own queue order and
// scores the nodes by how empty they are, not by the plan's packing: a few pods land where the
// plan put others, which then find no room and go pending again. A nominated node is tried first
// and, for pods of lower or equal priority, its nominated pods count as already there, so each
// pod finds the room the plan kept for it. The hint must be set while the node is still gated:
// a pod tried before it could fit would have the hint cleared by the kube-scheduler's failed
// preemption attempt, and once the node is open the kube-scheduler places the pods within
// milliseconds. A pod the node cannot take after all is placed elsewhere as usual.
func (c *Controller) hint(ctx context.Context, g gatedNode) (int, error) {
	if c.plannedPods == nil {
		return 0, nil
	}
	planned := c.plannedPods.PlannedOn(g.machine)
	var hinted atomic.Int32
	errs := make([]error, len(planned))
	// The node stays gated until every hint is written: in parallel, so the pods wait no longer.
	workqueue.ParallelizeUntil(ctx, hintWorkers, len(planned), func(i int) {
		pod := &corev1.Pod{}
		if err := c.kubeClient.Get(ctx, planned[i], pod); err != nil {
			if !apierrors.IsNotFound(err) {
				errs[i] = fmt.Errorf("reading pod %s planned onto node %s, %w", planned[i], g.node.Name, err)
			}
			return
		}
		// A pod nominated elsewhere is preempting there, or being bound there.
		if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil || pod.Status.NominatedNodeName != "" || hardSpread(pod) {
			return
		}
		stored := pod.DeepCopy()
		pod.Status.NominatedNodeName = g.node.Name
		if err := c.kubeClient.Status().Patch(ctx, pod, client.MergeFrom(stored)); client.IgnoreNotFound(err) != nil {
			errs[i] = fmt.Errorf("nominating node %s for pod %s, %w", g.node.Name, planned[i], err)
			return
		}
		hinted.Add(1)
	})
	return int(hinted.Load()), errors.Join(errs...)
}

// hardSpread reports whether pod has a topology spread constraint the kube-scheduler enforces.
// Such a pod is not hinted: the kube-scheduler counts the pods nominated to the node it evaluates
// as if they were there, but not those nominated elsewhere, so with the batch's pods all still
// nominated a node looks skewed and the pod is refused everywhere. Left to the kube-scheduler's
// scoring, it goes to the least crowded domain, where the room the hints kept for the others
// leaves the room the plan made for it.
func hardSpread(pod *corev1.Pod) bool {
	return slices.ContainsFunc(pod.Spec.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool {
		return c.WhenUnsatisfiable == corev1.DoNotSchedule
	})
}

// hintWorkers is how many pods are hinted at once.
const hintWorkers = 16

// readyButForTheGate reports whether the Machine's node could take pods if it were not for the
// batch gate: Ready, and rid of the not-ready and startup taints (which a node lifecycle
// controller or an agent lifts seconds after Ready; a node opened before would leave the others
// of its batch to take its pods).
func readyButForTheGate(machine *v1alpha5.Machine, node *corev1.Node) bool {
	open := *node
	open.Spec.Taints = withoutBatchGate(node.Spec.Taints)
	reason, _ := notInitialized(machine, &open)
	return reason == ""
}

// withoutBatchGate returns a copy of taints without the batch gate.
func withoutBatchGate(taints []corev1.Taint) []corev1.Taint {
	return slices.DeleteFunc(slices.Clone(taints), func(t corev1.Taint) bool { return t.MatchTaint(&BatchGateTaint) })
}
