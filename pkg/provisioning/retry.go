package provisioning

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// How soon a batch is tried again without a new trigger. A failed batch (the cache or the cloud
// errored) backs off from a second to a minute. Pods the last plan could not place are retried
// more slowly: what would let them schedule (an offering recovering from insufficient capacity,
// an AWSNodeTemplate fixed) rarely changes within seconds, and every retry repeats their Events.
const (
	errorRetryInitial         = time.Second
	errorRetryMax             = time.Minute
	unschedulableRetryInitial = 10 * time.Second
	unschedulableRetryMax     = 5 * time.Minute
)

// backoff doubles a delay from initial up to max with each consecutive failure.
type backoff struct {
	initial, max time.Duration
	failures     int
}

// next returns the delay before the next attempt and counts one more failure.
func (b *backoff) next() time.Duration {
	d := b.initial
	for i := 0; i < b.failures && d < b.max; i++ {
		d *= 2
	}
	b.failures++
	return min(d, b.max)
}

func (b *backoff) reset() { b.failures = 0 }

// retrier triggers the batcher once after a delay on the injected clock. Scheduling a new retry
// cancels the pending one, so there is at most one and its delay is the latest decision's.
type retrier struct {
	clock   clock.Clock
	batcher *Batcher
	cancel  context.CancelFunc
}

// after replaces any pending retry with one in d; d <= 0 only cancels.
func (r *retrier) after(ctx context.Context, d time.Duration) {
	r.stop()
	if d <= 0 {
		return
	}
	ctx, r.cancel = context.WithCancel(ctx)
	timer := r.clock.NewTimer(d)
	go func() {
		defer timer.Stop()
		select {
		case <-timer.C():
			r.batcher.Trigger()
		case <-ctx.Done():
		}
	}()
}

func (r *retrier) stop() {
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
}
