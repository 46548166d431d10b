package provisioning

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

func TestBackoff_DoublesUpToTheCapAndResets(t *testing.T) {
	for _, tc := range []struct {
		name         string
		initial, max time.Duration
		want         []time.Duration
	}{
		{"errors", errorRetryInitial, errorRetryMax, []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}},
		{"unschedulable pods", unschedulableRetryInitial, unschedulableRetryMax, []time.Duration{10, 20, 40, 80, 160, 300, 300}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := backoff{initial: tc.initial, max: tc.max}
			for round := range 2 {
				for i, want := range tc.want {
					if got := b.next(); got != want*time.Second {
						t.Fatalf("round %d, attempt %d: delay %s, want %s", round, i+1, got, want*time.Second)
					}
				}
				b.reset()
			}
		})
	}
}

// scriptedCluster answers Snapshot with whatever the test set last, and counts the calls.
type scriptedCluster struct {
	mu    sync.Mutex
	snap  scheduling.Snapshot
	err   error
	calls chan struct{}
}

func (c *scriptedCluster) Snapshot(context.Context) (scheduling.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls <- struct{}{}
	return c.snap, c.err
}

func (c *scriptedCluster) set(snap scheduling.Snapshot, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap, c.err = snap, err
}

// A batch that fails, or leaves pods unplaced, is tried again on its own, but only after a
// backoff: a broken cloud must not be asked every second, and a fixed one is used right away.
func TestStart_RetriesFailedAndUnplacedBatchesWithBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := clocktesting.NewFakeClock(time.Now())
	cluster := &scriptedCluster{calls: make(chan struct{}, 100), err: errors.New("cache not synced")}
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	// Batch windows on the real clock, milliseconds long; retries on the fake one.
	batcher := NewBatcher(clock.RealClock{}, time.Millisecond, 5*time.Millisecond)
	p := NewProvisioner(env.Client, cluster, batcher, &recorder{}, clk, metrics)
	done := make(chan error, 1)
	go func() { done <- p.Start(ctx) }()
	defer func() { cancel(); <-done }()

	expectBatch := func(step string) {
		t.Helper()
		select {
		case <-cluster.calls:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no batch", step)
		}
	}
	expectNoBatch := func(step string) {
		t.Helper()
		select {
		case <-cluster.calls:
			t.Fatalf("%s: a batch ran", step)
		case <-time.After(50 * time.Millisecond):
		}
	}
	// waitRetry waits until a retry is scheduled, then steps the clock to just before it, checks
	// nothing runs, and steps to it.
	waitRetry := func(step string, delay time.Duration) {
		t.Helper()
		settle(t, clk, 1)
		clk.Step(delay - time.Millisecond)
		expectNoBatch(step + ", before the delay")
		clk.Step(time.Millisecond)
		expectBatch(step)
	}

	// Start reads the cluster once to warm the cloud's caches; a failure there is not retried.
	expectBatch("warming at start")
	expectNoBatch("after warming")
	batcher.Trigger()
	expectBatch("first pod")
	waitRetry("first retry", time.Second)
	waitRetry("second retry", 2*time.Second)
	waitRetry("third retry", 4*time.Second)

	// The cloud recovers: the batch succeeds, and with nothing pending there is no retry.
	cluster.set(scheduling.Snapshot{}, nil)
	waitRetry("fourth retry", 8*time.Second)
	settle(t, clk, 0)
	clk.Step(time.Hour)
	expectNoBatch("after success")

	// A pod no Provisioner can take is looked at again after 10 s, then 20 s.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "default"}}
	cluster.set(scheduling.Snapshot{Pods: []*corev1.Pod{pod}}, nil)
	batcher.Trigger()
	expectBatch("unplaceable pod")
	waitRetry("first unplaced retry", 10*time.Second)
	waitRetry("second unplaced retry", 20*time.Second)

	// A failure after that starts again from a second.
	cluster.set(scheduling.Snapshot{}, errors.New("throttled"))
	waitRetry("unplaced retry that fails", 40*time.Second)
	waitRetry("retry after the new failure", time.Second)
}
