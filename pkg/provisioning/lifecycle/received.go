package lifecycle

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/podutil"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// ReceivedPodsWindow is how long after its node is initialized a Machine Kerf planned pods onto
// is checked for having received any. The kube-scheduler binds pending pods within seconds of a
// node turning ready; a node still without a pod this long after was launched for nothing: the
// kube-scheduler placed its pods elsewhere.
const ReceivedPodsWindow = 2 * time.Minute

// received records, once per Machine, how many pods its node runs ReceivedPodsWindow after it was
// initialized, against how many the plan put there: the annotation for `kubectl`, a counter for
// dashboards, and a log line for a node that received none. Plans the kube-scheduler does not
// follow show here.
func (c *Controller) received(ctx context.Context, s *scope) (phaseResult, error) {
	machine, node := s.machine, s.node
	planned, ok := machine.Annotations[v1alpha5.PlannedPodsAnnotationKey]
	if !ok || node == nil || machine.Annotations[v1alpha5.ReceivedPodsAnnotationKey] != "" {
		return phaseResult{}, nil
	}
	initialized := v1alpha5.FindCondition(machine.Status.Conditions, v1alpha5.MachineInitialized)
	if initialized == nil || initialized.Status != metav1.ConditionTrue {
		return phaseResult{}, nil
	}
	if waited := c.clock.Since(initialized.LastTransitionTime.Time); waited < ReceivedPodsWindow {
		return phaseResult{requeueAfter: ReceivedPodsWindow - waited}, nil
	}
	pods := &corev1.PodList{}
	if err := c.kubeClient.List(ctx, pods, client.MatchingFields{state.PodNodeNameIndex: node.Name}); err != nil {
		return phaseResult{}, fmt.Errorf("listing pods of node %s, %w", node.Name, err)
	}
	got := 0
	for i := range pods.Items {
		if p := &pods.Items[i]; !podutil.IsOwnedByDaemonSet(p) && !podutil.IsMirror(p) {
			got++
		}
	}
	machine.Annotations[v1alpha5.ReceivedPodsAnnotationKey] = strconv.Itoa(got)
	outcome := "received_pods"
	if got == 0 {
		outcome = "no_pods"
		log.FromContext(ctx).Info("launched node received no pod", "Node", klog.KObj(node), "plannedPods", planned,
			"instanceType", machine.Labels[v1alpha5.LabelInstanceType], "window", ReceivedPodsWindow)
	}
	c.metrics.received.WithLabelValues(provisionerOf(machine), outcome).Inc()
	return phaseResult{}, nil
}
