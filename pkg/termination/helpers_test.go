package termination_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}},
	}
}

func deployment(t *testing.T, ns, app string, replicas int32) {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns}, Spec: appsv1.DeploymentSpec{
		Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		Template: podTemplate(app),
	}}
	if err := env.Client.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

func pdb(t *testing.T, ns, app string, spec *policyv1.PodDisruptionBudgetSpec) {
	t.Helper()
	spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	budget := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns}, Spec: *spec}
	if err := env.Client.Create(context.Background(), budget); err != nil {
		t.Fatal(err)
	}
}

// barePod creates a pod bound to node, changed by mutate.
func barePod(t *testing.T, ns, name, node string, mutate func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	template := podTemplate(name)
	pod := &corev1.Pod{ObjectMeta: template.ObjectMeta, Spec: template.Spec}
	pod.Name, pod.Namespace, pod.Spec.NodeName = name, ns, node
	if mutate != nil {
		mutate(pod)
	}
	if err := env.Client.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

// waitReady waits until n pods of the namespace are Ready on node.
func waitReady(t *testing.T, ns string, n int, node string) {
	t.Helper()
	kubeenv.Eventually(t, 30*time.Second, fmt.Sprintf("%d pods ready on %s", n, node), func() error {
		pods := &corev1.PodList{}
		if err := env.Client.List(context.Background(), pods, client.InNamespace(ns)); err != nil {
			return err
		}
		ready := 0
		for i := range pods.Items {
			if pods.Items[i].Spec.NodeName == node && available(&pods.Items[i]) {
				ready++
			}
		}
		if ready != n {
			return fmt.Errorf("%d ready", ready)
		}
		return nil
	})
}

func available(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func goneIn(ns, name string) error {
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &corev1.Pod{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("pod %s/%s still exists", ns, name)
}

// watcher polls a namespace's pods until stopped.
type watcher struct {
	done    chan struct{}
	stopped chan struct{}
}

func poll(t *testing.T, ns string, observe func([]corev1.Pod)) *watcher {
	t.Helper()
	w := &watcher{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		for {
			pods := &corev1.PodList{}
			if err := env.Client.List(context.Background(), pods, client.InNamespace(ns)); err == nil {
				observe(pods.Items)
			}
			select {
			case <-w.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(w.halt)
	return w
}

func (w *watcher) halt() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	<-w.stopped
}

// availability records the most pods of a namespace unavailable at once, of want.
type availability struct {
	*watcher
	mu  sync.Mutex
	max int
}

func watchAvailability(t *testing.T, ns string, want int) *availability {
	a := &availability{}
	a.watcher = poll(t, ns, func(pods []corev1.Pod) {
		up := 0
		for i := range pods {
			if available(&pods[i]) {
				up++
			}
		}
		a.mu.Lock()
		a.max = max(a.max, want-up)
		a.mu.Unlock()
	})
	return a
}

func (a *availability) stop() int {
	a.halt()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.max
}

// deletion is when a pod was first seen terminating and when it was first seen gone.
type deletion struct{ deleting, gone time.Time }

type deletions struct {
	*watcher
	mu   sync.Mutex
	seen map[string]deletion
}

func watchDeletions(t *testing.T, ns string) *deletions {
	d := &deletions{seen: map[string]deletion{}}
	present := map[string]bool{}
	d.watcher = poll(t, ns, func(pods []corev1.Pod) {
		now := time.Now()
		d.mu.Lock()
		defer d.mu.Unlock()
		current := map[string]bool{}
		for i := range pods {
			current[pods[i].Name] = true
			if _, ok := d.seen[pods[i].Name]; !ok && pods[i].DeletionTimestamp != nil {
				d.seen[pods[i].Name] = deletion{deleting: now}
			}
		}
		for name := range present {
			if current[name] {
				continue
			}
			// A pod that went between two looks without being seen terminating went now.
			if e, ok := d.seen[name]; !ok {
				d.seen[name] = deletion{deleting: now, gone: now}
			} else if e.gone.IsZero() {
				e.gone = now
				d.seen[name] = e
			}
		}
		present = current
	})
	return d
}

func (d *deletions) stop() map[string]deletion {
	d.halt()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seen
}
