package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
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

// gatePoll is how often a gated Machine looks at its batch again.
const gatePoll = time.Second

// openGate lifts the batch gate from every node of the Machine's batch at once, when all of the
// batch's Machines have a node ready for pods or this one registered the batch open timeout ago.
func (c *Controller) openGate(ctx context.Context, s *scope) (phaseResult, error) {
	machine, node := s.machine, s.node
	batch := machine.Labels[v1alpha5.BatchLabelKey]
	if batch == "" || node == nil || !hasTaint(node.Spec.Taints, BatchGateTaint) {
		return phaseResult{}, nil
	}
	if !readyButForTheGate(machine, node) {
		return phaseResult{requeueAfter: gatePoll}, nil
	}
	if c.batchOpenTimeout == 0 {
		// Gated before the gate was turned off: nothing to wait for.
		return phaseResult{}, c.open(ctx, batch, node, []*corev1.Node{node}, 0)
	}
	members := &v1alpha5.MachineList{}
	if err := c.kubeClient.List(ctx, members, client.MatchingLabels{v1alpha5.BatchLabelKey: batch}); err != nil {
		return phaseResult{}, fmt.Errorf("listing machines of batch %s, %w", batch, err)
	}
	var gated []*corev1.Node
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
			gated = append(gated, member)
		}
	}
	if waiting > 0 {
		registered := meta.FindStatusCondition(machine.Status.Conditions, v1alpha5.MachineRegistered)
		if registered != nil {
			if waited := c.clock.Since(registered.LastTransitionTime.Time); waited < c.batchOpenTimeout {
				return phaseResult{requeueAfter: min(gatePoll, c.batchOpenTimeout-waited)}, nil
			}
		}
	}
	return phaseResult{}, c.open(ctx, batch, node, gated, waiting)
}

// open lifts the batch gate from the gated nodes, all in one go.
func (c *Controller) open(ctx context.Context, batch string, node *corev1.Node, gated []*corev1.Node, waiting int) error {
	for _, n := range gated {
		stored := n.DeepCopy()
		n.Spec.Taints = withoutBatchGate(n.Spec.Taints)
		if err := c.kubeClient.Patch(ctx, n, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("opening node %s of batch %s, %w", n.Name, batch, err)
		}
	}
	log.FromContext(ctx).Info("opened batch", "batch", batch, "nodes", len(gated), "stillWaiting", waiting, "Node", klog.KObj(node))
	return nil
}

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
