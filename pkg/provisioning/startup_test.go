package provisioning

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kerf-autoscaler/kerf/pkg/state"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
	"github.com/kerf-autoscaler/kerf/test/metricstest"
)

func histogramSamples(t *testing.T, registry prometheus.Gatherer, name string, labels map[string]string) (uint64, float64) {
	t.Helper()
	return metricstest.Histogram(t, registry, name, labels)
}

func TestStartupDuration_FromUnschedulableOrCreationToScheduledOrNow(t *testing.T) {
	created := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := created.Add(time.Hour)
	pod := func(status corev1.ConditionStatus, reason string, at time.Time) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
		p.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(created.Add(-time.Hour))},
			{Type: corev1.PodScheduled, Status: status, Reason: reason, LastTransitionTime: metav1.NewTime(at)},
		}
		return p
	}
	for _, tc := range []struct {
		name     string
		old, pod *corev1.Pod
		want     time.Duration
	}{
		{"unschedulable to scheduled",
			pod(corev1.ConditionFalse, corev1.PodReasonUnschedulable, created.Add(10*time.Second)),
			pod(corev1.ConditionTrue, "", created.Add(70*time.Second)), time.Minute},
		{"no unschedulable time counts from creation",
			pod(corev1.ConditionFalse, corev1.PodReasonUnschedulable, time.Time{}),
			pod(corev1.ConditionTrue, "", created.Add(70*time.Second)), 70 * time.Second},
		{"no scheduled time counts to now",
			pod(corev1.ConditionFalse, corev1.PodReasonUnschedulable, created.Add(10*time.Second)),
			pod(corev1.ConditionTrue, "", time.Time{}), time.Hour - 10*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := startupDuration(tc.old, tc.pod, now); got != tc.want {
				t.Errorf("startupDuration = %v, want %v", got, tc.want)
			}
		})
	}
}

// Only a pod that waited unschedulable and then bound to a Provisioner's Node is timed, once,
// from the unschedulable condition's transition to the binding's.
func TestStartup_TimesPodsThatWaitedAndBoundToAProvisionersNodeOnce(t *testing.T) {
	f := newFixture(t, "startup", nil)
	ctx, cancel := context.WithCancel(context.Background())
	m := manage(t, f)
	registry := prometheus.NewRegistry()
	metrics, err := NewMetrics(registry)
	if err != nil {
		t.Fatal(err)
	}
	controller := NewStartupController(m.mgr.GetClient(), clocktesting.NewFakeClock(time.Now()), metrics)
	if err := controller.Register(m.mgr); err != nil {
		t.Fatal(err)
	}
	m.start(ctx, cancel)
	kerfNode := f.node("startup-kerf", true, nil)
	otherNode := f.node("startup-other", false, nil)
	waitedSince := metav1.NewTime(time.Now().Add(-90 * time.Second).Truncate(time.Second))

	bind := func(pod *corev1.Pod, node string) *corev1.Pod {
		t.Helper()
		binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
		if err := env.Client.SubResource("binding").Create(ctx, pod, binding); err != nil {
			t.Fatal(err)
		}
		bound := &corev1.Pod{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), bound); err != nil {
			t.Fatal(err)
		}
		return bound
	}
	waiting := func(name string) *corev1.Pod {
		t.Helper()
		pod := f.pendingPod(name, "1")
		pod.Status.Conditions[0].LastTransitionTime = waitedSince
		if err := env.Client.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
		m.cachedPending(ctx, pod)
		return pod
	}

	// The controller's watch starts after the test's first writes may be done: a pod that waited
	// and bound to a node Kerf does not own shows it running, reconciled and left out. Later such
	// pods show every event before them reached the controller.
	reconciled := func() float64 {
		return metricValue(t, ctrlmetrics.Registry, "controller_runtime_reconcile_total", map[string]string{"controller": "provisioning.podstartup", "result": "success"})
	}
	probe := func(name string, timeout time.Duration) bool {
		t.Helper()
		before := reconciled()
		bind(waiting(name), otherNode.Name)
		for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if reconciled() > before {
				return true
			}
		}
		return false
	}
	for i := 0; !probe(fmt.Sprintf("elsewhere-%d", i), time.Second); i++ {
		if i == 10 {
			t.Fatal("the controller never reconciled a pod that waited and bound")
		}
	}

	bind(f.unscheduledPod("direct"), kerfNode.Name)
	bound := bind(waiting("web"), kerfNode.Name)
	scheduled := state.PodScheduled(bound)
	if scheduled == nil || scheduled.Status != corev1.ConditionTrue {
		t.Fatalf("bound pod's conditions %v, want PodScheduled True", bound.Status.Conditions)
	}
	// A later status change to the bound pod is not a second start.
	bound.Status.Conditions = append(bound.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
	if err := env.Client.Status().Update(ctx, bound); err != nil {
		t.Fatal(err)
	}
	if !probe("elsewhere-last", 10*time.Second) {
		t.Fatal("the controller never reconciled the last pod")
	}
	kubeenv.Eventually(t, 10*time.Second, "the pod timed", func() error {
		if n, _ := histogramSamples(t, registry, "karpenter_provisioner_pod_startup_duration_seconds", nil); n == 0 {
			return fmt.Errorf("no pod timed")
		}
		return nil
	})

	want := scheduled.LastTransitionTime.Sub(waitedSince.Time).Seconds()
	if n, sum := histogramSamples(t, registry, "karpenter_provisioner_pod_startup_duration_seconds", nil); n != 1 || sum != want {
		t.Errorf("observed %d pods waiting %vs in all, want 1 waiting %vs", n, sum, want)
	}
	if n, _ := histogramSamples(t, registry, "karpenter_provisioner_pod_startup_duration_seconds", map[string]string{"provisioner": f.provisioner.Name}); n != 1 {
		t.Errorf("observed %d pods for provisioner %s, want 1", n, f.provisioner.Name)
	}
	// A pod that starts running counts once under Karpenter v0.31's karpenter_pods_startup_time_seconds,
	// however many status changes follow.
	for _, ready := range []corev1.ConditionStatus{corev1.ConditionFalse, corev1.ConditionTrue} {
		bound.Status.Phase = corev1.PodRunning
		bound.Status.Conditions = append(bound.Status.Conditions, corev1.PodCondition{Type: corev1.ContainersReady, Status: ready})
		if err := env.Client.Status().Update(ctx, bound); err != nil {
			t.Fatal(err)
		}
	}
	if !probe("elsewhere-running", 10*time.Second) {
		t.Fatal("the controller never reconciled the pod after the running one")
	}
	if series := metricstest.Series(t, registry, "karpenter_pods_startup_time_seconds", nil); len(series) != 1 || series[0].GetSummary().GetSampleCount() != 1 {
		t.Errorf("pods_startup_time_seconds series %v, want one pod counted once", series)
	}
	controller.mu.Lock()
	defer controller.mu.Unlock()
	if len(controller.bound) != 0 {
		t.Errorf("%d bindings still held after their reconciles, want none", len(controller.bound))
	}
}

// unscheduledPod creates a pod that no scheduler has looked at yet.
func (f *fixture) unscheduledPod(name string) *corev1.Pod {
	f.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "pause"}}},
	}
	if err := env.Client.Create(context.Background(), pod); err != nil {
		f.t.Fatal(err)
	}
	return pod
}
