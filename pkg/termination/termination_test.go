package termination_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
	"github.com/kerf-autoscaler/kerf/pkg/termination"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
	"github.com/kerf-autoscaler/kerf/test/metricstest"

	"github.com/prometheus/client_golang/prometheus"
)

// A node running a Deployment of 5 pods under a PodDisruptionBudget of maxUnavailable 1 is
// deleted: at no moment are more than 1 of the pods unavailable, every pod runs elsewhere, and
// the Node, its Machine and its instance are gone, the instance terminated once.
func TestTermination_DrainNeverTakesMoreThanThePDBAllows(t *testing.T) {
	ctx := context.Background()
	c := startControllers(t, newCloud())
	ns := namespace(t, "pdb")
	machine, node := kerfNode(t, ns, ns)
	deployment(t, ns, "web", 5)
	pdb(t, ns, "web", &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1))})
	waitReady(t, ns, 5, node.Name)
	spare := plainNode(t, ns+"-spare", ns, "")

	watch := watchAvailability(t, ns, 5)
	deleted := time.Now()
	if err := env.Client.Delete(ctx, node); err != nil {
		t.Fatal(err)
	}
	kubeenv.Eventually(t, time.Minute, "node drained and gone", func() error { return gone(&corev1.Node{}, node.Name) })
	t.Logf("drained 5 pods in %s", time.Since(deleted).Round(10*time.Millisecond))
	waitReady(t, ns, 5, spare.Name)
	if got := watch.stop(); got > 1 {
		t.Errorf("at most %d pods were unavailable at once, want at most 1, the PDB's allowance", got)
	}
	kubeenv.Eventually(t, 10*time.Second, "machine gone", func() error { return gone(&v1alpha5.Machine{}, machine.Name) })
	if n := c.cloud.terminations(machine.Status.ProviderID); n != 1 {
		t.Errorf("instance terminated %d times, want once", n)
	}
	events := nodeEvents(t, node.Name)
	for _, reason := range []string{termination.EventDraining, termination.EventInstanceTerminated} {
		if !slices.ContainsFunc(events, func(e string) bool { return strings.Contains(e, " "+reason+": ") }) {
			t.Errorf("no %s Event on the node among %q", reason, events)
		}
	}
	if v, _ := metricstest.Value(t, c.registry, "karpenter_nodes_terminated", map[string]string{"provisioner": "default"}); v != 1 {
		t.Errorf("karpenter_nodes_terminated = %v, want 1", v)
	}
	if v, _ := metricstest.Value(t, c.registry, "karpenter_nodes_eviction_requests_total", map[string]string{"code": "429"}); v == 0 {
		t.Error("no eviction was refused with 429, want the PDB to have held some back")
	}
}

// A pod that opted out of eviction, with Kerf's annotation or Cluster Autoscaler's, is never
// evicted: the drain evicts the rest, says on the Node which pod holds it, and completes once the
// annotation is removed or the pod finishes.
func TestTermination_DoNotEvictPodBlocksTheDrainUntilItGoesOrFinishes(t *testing.T) {
	for _, tc := range []struct {
		name, annotation, value string
		release                 func(*corev1.Pod) (status bool)
	}{
		{name: "do-not-evict removed", annotation: v1alpha5.DoNotEvictPodAnnotationKey, value: "true",
			release: func(p *corev1.Pod) bool { delete(p.Annotations, v1alpha5.DoNotEvictPodAnnotationKey); return false }},
		{name: "safe-to-evict false, pod finishes", annotation: "cluster-autoscaler.kubernetes.io/safe-to-evict", value: "false",
			release: func(p *corev1.Pod) bool { p.Status.Phase = corev1.PodSucceeded; return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			startControllers(t, newCloud())
			ns := namespace(t, "blocked")
			_, node := kerfNode(t, ns, ns)
			blocker := barePod(t, ns, "batch", node.Name, func(p *corev1.Pod) { p.Annotations = map[string]string{tc.annotation: tc.value} })
			ordinary := barePod(t, ns, "web", node.Name, nil)
			waitReady(t, ns, 2, node.Name)

			if err := env.Client.Delete(ctx, node); err != nil {
				t.Fatal(err)
			}
			kubeenv.Eventually(t, 20*time.Second, "ordinary pod evicted", func() error { return goneIn(ns, ordinary.Name) })
			kubeenv.Eventually(t, 10*time.Second, "FailedDraining event", func() error {
				events := nodeEvents(t, node.Name)
				if !slices.ContainsFunc(events, func(e string) bool {
					return strings.HasPrefix(e, "Warning FailedDraining: ") && strings.Contains(e, ns+"/batch") && strings.Contains(e, tc.annotation)
				}) {
					return fmt.Errorf("events %q", events)
				}
				return nil
			})
			time.Sleep(time.Second)
			current := &corev1.Pod{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: blocker.Name}, current); err != nil || current.DeletionTimestamp != nil {
				t.Fatalf("blocking pod %v deleting since %v, want it left running", err, current.DeletionTimestamp)
			}
			if err := gone(&corev1.Node{}, node.Name); err == nil {
				t.Fatal("node gone while a do-not-evict pod runs on it")
			}

			released := current.DeepCopy()
			if tc.release(released) {
				err := env.Client.Status().Patch(ctx, released, client.MergeFrom(current))
				if err != nil {
					t.Fatal(err)
				}
			} else if err := env.Client.Patch(ctx, released, client.MergeFrom(current)); err != nil {
				t.Fatal(err)
			}
			kubeenv.Eventually(t, 20*time.Second, "node gone once released", func() error { return gone(&corev1.Node{}, node.Name) })
		})
	}
}

// DaemonSet, mirror, finished pods and pods tolerating the cordon are left alone; ordinary pods
// are evicted first and system-critical ones only once those are gone.
func TestTermination_EvictsCriticalPodsLastAndLeavesTheRestAlone(t *testing.T) {
	ctx := context.Background()
	startControllers(t, newCloud())
	ns := namespace(t, "waves")
	_, node := kerfNode(t, ns, ns)
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns}, Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
		Template: podTemplate("agent"),
	}}
	if err := env.Client.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	left := []*corev1.Pod{
		barePod(t, ns, "daemon", node.Name, func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID, Controller: ptr(true)}}
		}),
		barePod(t, ns, "static", node.Name, func(p *corev1.Pod) { p.Annotations = map[string]string{"kubernetes.io/config.mirror": "hash"} }),
		barePod(t, ns, "tolerant", node.Name, func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		}),
	}
	critical := barePod(t, ns, "dns", node.Name, func(p *corev1.Pod) { p.Spec.PriorityClassName = "system-cluster-critical" })
	ordinary := []*corev1.Pod{barePod(t, ns, "web-1", node.Name, nil), barePod(t, ns, "web-2", node.Name, nil)}
	waitReady(t, ns, 6, node.Name)
	finished := barePod(t, ns, "job", node.Name, nil)
	kubeenv.Eventually(t, 10*time.Second, "job pod finished", func() error {
		p := &corev1.Pod{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(finished), p); err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		done := p.DeepCopy()
		done.Status.Phase = corev1.PodSucceeded
		return env.Client.Status().Patch(ctx, done, client.MergeFrom(p))
	})
	left = append(left, finished)

	timeline := watchDeletions(t, ns)
	if err := env.Client.Delete(ctx, node); err != nil {
		t.Fatal(err)
	}
	kubeenv.Eventually(t, 30*time.Second, "node gone", func() error { return gone(&corev1.Node{}, node.Name) })
	seen := timeline.stop()
	for _, pod := range left {
		if _, evicted := seen[pod.Name]; evicted {
			t.Errorf("pod %s was deleted by the drain, want it left alone", pod.Name)
		}
	}
	started, ok := seen[critical.Name]
	if !ok {
		t.Fatalf("critical pod never evicted; deletions %v", seen)
	}
	for _, pod := range ordinary {
		deleting, ok := seen[pod.Name]
		// Seen in one look, a pod's going and the next wave's start are simultaneous.
		if !ok || deleting.gone.IsZero() || started.deleting.Before(deleting.gone) {
			t.Errorf("ordinary pod %s deleting %v gone %v, want gone before critical pod's eviction at %v", pod.Name, deleting.deleting, deleting.gone, started.deleting)
		}
	}
}

// An instance terminated behind Kerf's back: garbage collection deletes its Machine, the Node's
// pods are deleted without waiting on evictions (here a PDB would refuse them forever), and the
// Node and Machine are gone.
func TestTermination_NodeWhoseInstanceIsGoneIsRemovedWithoutDraining(t *testing.T) {
	ctx := context.Background()
	c := startControllers(t, newCloud())
	ns := namespace(t, "gone")
	machine, node := kerfNode(t, ns, ns)
	pod := barePod(t, ns, "guarded", node.Name, nil)
	pdb(t, ns, "guarded", &policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(1))})
	waitReady(t, ns, 1, node.Name)
	if err := c.cloud.CloudProvider.Delete(ctx, machine); err != nil {
		t.Fatal(err)
	}

	clk := clocktesting.NewFakeClock(time.Now().Add(time.Minute))
	metrics, err := lifecycle.NewMetrics(prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := lifecycle.NewGarbageCollector(env.Client, c.cloud, clk, lifecycle.DefaultGarbageCollectionGracePeriod, metrics).Collect(ctx); err != nil {
		t.Fatal(err)
	}
	kubeenv.Eventually(t, 30*time.Second, "node and machine gone", func() error {
		if err := gone(&corev1.Node{}, node.Name); err != nil {
			return err
		}
		return gone(&v1alpha5.Machine{}, machine.Name)
	})
	t.Logf("node removed %s after garbage collection found its instance gone", time.Since(began).Round(10*time.Millisecond))
	if err := goneIn(ns, pod.Name); err != nil {
		t.Errorf("pod of the vanished node: %v", err)
	}
	if n := c.cloud.terminations(machine.Status.ProviderID); n != 0 {
		t.Errorf("terminated a vanished instance %d times", n)
	}
}

// The controller dies in the middle of a drain, and again right after terminating the instance,
// before the finalizer is released. Each run resumes where the last stopped: the PDB holds
// throughout, the instance is terminated exactly once, and nothing is left.
func TestTermination_RestartsResumeTheDrainAndTerminateOnce(t *testing.T) {
	ctx := context.Background()
	cloud := newCloud()
	first := startControllers(t, cloud)
	ns := namespace(t, "restart")
	machine, node := kerfNode(t, ns, ns)
	deployment(t, ns, "web", 4)
	pdb(t, ns, "web", &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1))})
	waitReady(t, ns, 4, node.Name)
	plainNode(t, ns+"-spare", ns, "")
	watch := watchAvailability(t, ns, 4)

	if err := env.Client.Delete(ctx, node); err != nil {
		t.Fatal(err)
	}
	kubeenv.Eventually(t, 20*time.Second, "first eviction", func() error {
		pods := &corev1.PodList{}
		if err := env.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, p := range pods.Items {
			if p.Spec.NodeName != node.Name {
				return nil
			}
		}
		return fmt.Errorf("no pod moved yet")
	})
	first.stop()

	terminated := make(chan struct{})
	var once sync.Once
	cloud.mu.Lock()
	cloud.afterDelete = func() { once.Do(func() { close(terminated) }) }
	cloud.mu.Unlock()
	second := startControllers(t, cloud)
	select {
	case <-terminated:
		second.stop()
	case <-time.After(time.Minute):
		t.Fatal("instance not terminated within a minute of the restart")
	}
	if err := gone(&corev1.Node{}, node.Name); err == nil {
		t.Log("node released before the second stop; the crash window was missed this run")
	}

	startControllers(t, cloud)
	kubeenv.Eventually(t, 30*time.Second, "node and machine gone", func() error {
		if err := gone(&corev1.Node{}, node.Name); err != nil {
			return err
		}
		return gone(&v1alpha5.Machine{}, machine.Name)
	})
	if got := watch.stop(); got > 1 {
		t.Errorf("at most %d pods were unavailable at once across restarts, want at most 1", got)
	}
	if n := cloud.terminations(machine.Status.ProviderID); n != 1 {
		t.Errorf("instance terminated %d times, want once", n)
	}
	if instances, _ := cloud.List(ctx); len(instances) != 0 {
		t.Errorf("%d instances left", len(instances))
	}
}
