package termination

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Backoff between eviction attempts of one pod. A PodDisruptionBudget refuses with 429 until a
// replacement is Ready, usually seconds, so the cap stays short.
const (
	evictionBackoffInitial = 250 * time.Millisecond
	evictionBackoffMax     = 5 * time.Second
)

// evictionOutcome is what one eviction request came to.
type evictionOutcome int

const (
	// evicted: the API server accepted the eviction; the pod is terminating.
	evicted evictionOutcome = iota
	// gone: the pod no longer exists.
	gone
	// refused: a PodDisruptionBudget (429) or another error; the pod is retried after its backoff.
	refused
	// deferred: the pod's backoff has not passed; no request was made.
	deferred
)

// evictor evicts pods through the Eviction API and backs off per pod. It never falls back to a
// plain delete: that would bypass PodDisruptionBudgets.
type evictor struct {
	kubeClient client.Client
	clock      clock.PassiveClock
	metrics    *Metrics

	mu       sync.Mutex
	attempts map[types.UID]backoff
}

type backoff struct {
	next  time.Time
	delay time.Duration
}

func newEvictor(kubeClient client.Client, clk clock.PassiveClock, metrics *Metrics) *evictor {
	return &evictor{kubeClient: kubeClient, clock: clk, metrics: metrics, attempts: map[types.UID]backoff{}}
}

// evict asks the API server to evict pod unless its backoff has not passed. The error explains a
// refusal; it is for logs and Events, not for the caller to fail on.
func (e *evictor) evict(ctx context.Context, pod *corev1.Pod) (evictionOutcome, error) {
	now := e.clock.Now()
	e.mu.Lock()
	b, seen := e.attempts[pod.UID]
	e.mu.Unlock()
	if seen && now.Before(b.next) {
		return deferred, nil
	}
	eviction := &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		// The UID precondition keeps a pod recreated under the same name (a StatefulSet's) from
		// being evicted by a decision made about its predecessor.
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}},
	}
	err := e.kubeClient.SubResource("eviction").Create(ctx, pod, eviction)
	e.metrics.evictionRequests.WithLabelValues(responseCode(err)).Inc()
	switch {
	case err == nil:
		e.forget(pod.UID)
		return evicted, nil
	case apierrors.IsNotFound(err):
		e.forget(pod.UID)
		return gone, nil
	case apierrors.IsConflict(err) && pod.UID != "":
		// The precondition failed: the pod of that UID is gone, another has its name.
		e.forget(pod.UID)
		return gone, nil
	}
	delay := evictionBackoffInitial
	if seen {
		delay = min(2*b.delay, evictionBackoffMax)
	}
	e.mu.Lock()
	e.attempts[pod.UID] = backoff{next: now.Add(delay), delay: delay}
	e.mu.Unlock()
	return refused, fmt.Errorf("evicting pod %s/%s, %w", pod.Namespace, pod.Name, err)
}

// retryAt returns when pod may be tried again; zero when it may be now.
func (e *evictor) retryAt(uid types.UID) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.attempts[uid].next
}

// retryNow lets every refused pod be tried again at once, keeping its backoff for the next
// refusal.
func (e *evictor) retryNow() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for uid, b := range e.attempts {
		b.next = time.Time{}
		e.attempts[uid] = b
	}
}

func (e *evictor) forget(uids ...types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, uid := range uids {
		delete(e.attempts, uid)
	}
}

// responseCode is the HTTP status of an eviction request, the code label of the eviction metric.
func responseCode(err error) string {
	if err == nil {
		return strconv.Itoa(http.StatusOK)
	}
	if status, ok := err.(apierrors.APIStatus); ok {
		return strconv.Itoa(int(status.Status().Code))
	}
	return "error"
}
