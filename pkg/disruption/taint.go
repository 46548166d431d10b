package disruption

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

// DisruptionTaintKey marks a node a command has chosen: no new pod lands there while its
// replacement launches. The key and value are later Karpenter releases' (v0.31 cordoned, which
// could not tell Kerf's mark from a user's cordon and so could not safely undo it).
const DisruptionTaintKey = v1alpha5.Group + "/disruption"

var disruptionTaint = corev1.Taint{Key: DisruptionTaintKey, Value: "disrupting", Effect: corev1.TaintEffectNoSchedule}

func hasDisruptionTaint(n *corev1.Node) bool {
	return slices.ContainsFunc(n.Spec.Taints, isDisruptionTaint)
}

func isDisruptionTaint(t corev1.Taint) bool { return t.Key == DisruptionTaintKey }

func withoutDisruptionTaint(taints []corev1.Taint) []corev1.Taint {
	if !slices.ContainsFunc(taints, isDisruptionTaint) {
		return taints
	}
	return slices.DeleteFunc(slices.Clone(taints), isDisruptionTaint)
}

// setTaint adds or removes the disruption taint. The patch carries the node's resource version,
// so a concurrent change of its taints (a kubelet's, a user's) is never overwritten; it is read
// again and retried instead. A node already gone needs no taint.
func (c *Controller) setTaint(ctx context.Context, name string, on bool) error {
	for attempt := 0; ; attempt++ {
		n := &corev1.Node{}
		if err := c.kube.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			return client.IgnoreNotFound(err)
		}
		if hasDisruptionTaint(n) == on || n.DeletionTimestamp != nil {
			return nil
		}
		patch := client.MergeFromWithOptions(n.DeepCopy(), client.MergeFromWithOptimisticLock{})
		if on {
			n.Spec.Taints = append(n.Spec.Taints, disruptionTaint)
		} else {
			n.Spec.Taints = withoutDisruptionTaint(n.Spec.Taints)
		}
		err := c.kube.Patch(ctx, n, patch)
		switch {
		case err == nil || apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err) && attempt < 5:
			// The cache lags the write that conflicted; give it a moment (real time: informer
			// latency is not on the injected clock).
			time.Sleep(100 * time.Millisecond)
			continue
		default:
			return fmt.Errorf("patching taints of node %s, %w", name, err)
		}
	}
}
