package termination

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/podutil"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// drain evicts the Node's pods, ordinary pods first and system-critical ones once those are gone,
// and returns how long to wait before looking again; zero once nothing is left to wait for.
func (c *Controller) drain(ctx context.Context, node *corev1.Node, d *drain) (time.Duration, error) {
	pods, err := c.podsOn(ctx, node)
	if err != nil {
		return 0, err
	}
	now := c.clock.Now()
	var first, second, blockers []*corev1.Pod
	firstWaveLeft, terminatingLeft := false, false
	for i := range pods {
		pod := &pods[i]
		class := classify(pod, now)
		switch class {
		case evictable:
			first = append(first, pod)
		case critical:
			second = append(second, pod)
		case blocking:
			blockers = append(blockers, pod)
		case terminating:
			terminatingLeft = true
		}
		if (class == terminating || class == blocking) && !isCritical(pod) {
			firstWaveLeft = true
		}
	}
	if len(first) == 0 && len(second) == 0 && len(blockers) == 0 && !terminatingLeft {
		return c.confirmEmpty(ctx, node, now)
	}
	c.reportBlockers(ctx, node, d, blockers, now)
	wave := first
	if len(first) == 0 && !firstWaveLeft {
		wave = second
	}
	wait := waitInterval
	var refusedPod *corev1.Pod
	var refusal error
	for _, pod := range wave {
		d.tried[pod.UID] = true
		outcome, err := c.evictor.evict(ctx, pod)
		switch outcome {
		case evicted:
			c.recorder.Eventf(pod, node, corev1.EventTypeNormal, EventEvicted, "Evict", "Evicted from node %s, which is being terminated", node.Name)
			log.FromContext(ctx).V(1).Info("evicted pod", "Pod", klog.KObj(pod))
		case refused:
			log.FromContext(ctx).V(1).Info("eviction refused, retrying", "Pod", klog.KObj(pod), "reason", err.Error())
			if refusedPod == nil {
				refusedPod, refusal = pod, err
			}
		}
		if outcome == refused || outcome == deferred {
			wait = min(wait, max(c.evictor.retryAt(pod.UID).Sub(now), 10*time.Millisecond))
		}
	}
	if refusedPod != nil && len(blockers) == 0 && now.Sub(d.started) >= blockedEventInterval && now.Sub(d.lastBlockedEvent) >= blockedEventInterval {
		// Refusals are usually a PodDisruptionBudget doing its job for seconds; a drain still
		// refused after a minute says so on the Node, at most once a minute.
		d.lastBlockedEvent = now
		c.recorder.Eventf(node, refusedPod, corev1.EventTypeWarning, EventFailedDraining, "Drain",
			"Eviction of pod %s/%s refused, retrying: %v", refusedPod.Namespace, refusedPod.Name, refusal)
	}
	return wait, nil
}

// confirmEmpty checks with the API server itself that no pod is left to evict or wait for: the
// cache may not yet hold a pod bound just before the cordon. It returns how long to wait when
// one is.
func (c *Controller) confirmEmpty(ctx context.Context, node *corev1.Node, now time.Time) (time.Duration, error) {
	pods := &corev1.PodList{}
	if err := c.apiReader.List(ctx, pods, client.MatchingFields{state.PodNodeNameIndex: node.Name}); err != nil {
		return 0, fmt.Errorf("listing pods on node %s, %w", node.Name, err)
	}
	for i := range pods.Items {
		if class := classify(&pods.Items[i], now); class != ignored {
			return time.Second, nil
		}
	}
	return 0, nil
}

// reportBlockers puts a Warning Event on the Node naming a pod that keeps the drain from
// finishing, at most once per blockedEventInterval.
func (c *Controller) reportBlockers(ctx context.Context, node *corev1.Node, d *drain, blockers []*corev1.Pod, now time.Time) {
	if len(blockers) == 0 || now.Sub(d.lastBlockedEvent) < blockedEventInterval {
		return
	}
	d.lastBlockedEvent = now
	pod := blockers[0]
	others := ""
	if len(blockers) > 1 {
		others = fmt.Sprintf(" (and %d more such pods)", len(blockers)-1)
	}
	c.recorder.Eventf(node, pod, corev1.EventTypeWarning, EventFailedDraining, "Drain",
		"Pod %s/%s has %s; the drain waits for it to finish%s", pod.Namespace, pod.Name, podutil.DoNotEvictReason(pod), others)
	log.FromContext(ctx).Info("drain blocked by a pod that may not be evicted", "Pod", klog.KObj(pod), "blockingPods", len(blockers))
}
