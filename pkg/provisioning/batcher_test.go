package provisioning

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// waitResult runs Wait in the background.
func waitResult(ctx context.Context, b *Batcher) <-chan bool {
	done := make(chan bool, 1)
	go func() { done <- b.Wait(ctx) }()
	return done
}

// settle waits until the batcher sleeps on n timers, so stepping the clock means something.
func settle(t *testing.T, clk *clocktesting.FakeClock, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Waiters() != n {
		if time.Now().After(deadline) {
			t.Fatalf("batcher waits on %d timers, want %d", clk.Waiters(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func expectOpen(t *testing.T, done <-chan bool) {
	t.Helper()
	select {
	case got := <-done:
		t.Fatalf("batch closed early (Wait returned %v)", got)
	case <-time.After(20 * time.Millisecond):
	}
}

func expectClosed(t *testing.T, done <-chan bool, want bool) {
	t.Helper()
	select {
	case got := <-done:
		if got != want {
			t.Fatalf("Wait returned %v, want %v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("batch never closed")
	}
}

func TestBatcher_ClosesAfterIdle(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	b := NewBatcher(clk, time.Second, 10*time.Second)
	done := waitResult(context.Background(), b)
	expectOpen(t, done) // no pod yet: no batch
	b.Trigger()
	settle(t, clk, 2)
	clk.Step(999 * time.Millisecond)
	expectOpen(t, done)
	clk.Step(time.Millisecond)
	expectClosed(t, done, true)
}

func TestBatcher_NewPodsExtendTheBatchUpToMax(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	b := NewBatcher(clk, time.Second, 10*time.Second)
	b.Trigger()
	done := waitResult(context.Background(), b)
	settle(t, clk, 2)
	// A pod every 900 ms keeps the batch open past the idle time...
	for elapsed := 900 * time.Millisecond; elapsed < 10*time.Second; elapsed += 900 * time.Millisecond {
		clk.Step(900 * time.Millisecond)
		expectOpen(t, done)
		b.Trigger()
		settle(t, clk, 2)
	}
	// ...until the maximum closes it: 11 steps of 900 ms have passed 9.9 s.
	clk.Step(100 * time.Millisecond)
	expectClosed(t, done, true)
}

func TestBatcher_StopsWithTheContext(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	b := NewBatcher(clk, time.Second, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := waitResult(ctx, b)
	cancel()
	expectClosed(t, done, false)
}
