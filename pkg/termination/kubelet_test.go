package termination_test

import (
	"context"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// poolLabel groups the Nodes the fake kubelet binds one namespace's pods to.
const poolLabel = "test.kerf.sh/pool"

// kubeletDelay is how long a pod takes to start and to stop: long enough that a drain's order
// is observable, short enough that tests stay quick.
const kubeletDelay = 150 * time.Millisecond

// runKubelet plays the kube-scheduler and the kubelets of every test Node: it binds a pending pod
// to the first schedulable Node of the pool named like its namespace, starts bound pods (Running,
// Ready) and finishes deleted ones, each after kubeletDelay.
func runKubelet(ctx context.Context) {
	seen := map[string]time.Time{}
	var mu sync.Mutex
	due := func(key string) bool {
		mu.Lock()
		defer mu.Unlock()
		first, ok := seen[key]
		if !ok {
			seen[key] = time.Now()
			return false
		}
		return time.Since(first) >= kubeletDelay
	}
	for ctx.Err() == nil {
		time.Sleep(25 * time.Millisecond)
		pods := &corev1.PodList{}
		nodes := &corev1.NodeList{}
		if env.Client.List(ctx, pods) != nil || env.Client.List(ctx, nodes) != nil {
			continue
		}
		sort.Slice(nodes.Items, func(i, j int) bool { return nodes.Items[i].Name < nodes.Items[j].Name })
		for i := range pods.Items {
			pod := &pods.Items[i]
			key := string(pod.UID)
			switch {
			case pod.DeletionTimestamp != nil:
				if due(key + "/stop") {
					_ = env.Client.Delete(ctx, pod, client.GracePeriodSeconds(0))
				}
			case pod.Spec.NodeName == "":
				if target := schedulable(nodes.Items, pod.Namespace); target != "" {
					binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
						Target: corev1.ObjectReference{Kind: "Node", Name: target}}
					_ = env.Client.SubResource("binding").Create(ctx, pod, binding)
				}
			case pod.Status.Phase == corev1.PodPending && due(key+"/start"):
				started := pod.DeepCopy()
				started.Status.Phase = corev1.PodRunning
				started.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
				_ = env.Client.Status().Patch(ctx, started, client.MergeFromWithOptions(pod, client.MergeFromWithOptimisticLock{}))
			}
		}
	}
}

func schedulable(nodes []corev1.Node, pool string) string {
	for _, n := range nodes {
		if n.Labels[poolLabel] == pool && !n.Spec.Unschedulable && n.DeletionTimestamp == nil {
			return n.Name
		}
	}
	return ""
}
