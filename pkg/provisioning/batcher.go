package provisioning

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Batcher groups pending pods into one scheduling decision: a batch opens on the first trigger and
// closes after idle without another trigger, or after max in all, so a burst of pods is solved
// together instead of one at a time.
type Batcher struct {
	clock     clock.WithTicker
	idle, max time.Duration
	triggers  chan struct{}
}

// NewBatcher returns a Batcher with the given idle and maximum durations.
func NewBatcher(clk clock.WithTicker, idle, max time.Duration) *Batcher {
	return &Batcher{clock: clk, idle: idle, max: max, triggers: make(chan struct{}, 1)}
}

// Trigger records that a pod is pending. It never blocks; triggers during a batch extend it.
func (b *Batcher) Trigger() {
	select {
	case b.triggers <- struct{}{}:
	default:
	}
}

// Wait blocks until a batch opens and closes, and reports whether it did (false: ctx ended).
func (b *Batcher) Wait(ctx context.Context) bool {
	select {
	case <-b.triggers:
	case <-ctx.Done():
		return false
	}
	maxTimer := b.clock.NewTimer(b.max)
	defer maxTimer.Stop()
	idleTimer := b.clock.NewTimer(b.idle)
	defer idleTimer.Stop()
	for {
		select {
		case <-b.triggers:
			if !idleTimer.Stop() {
				// Drain a tick that fired while we were here, so Reset starts a clean wait.
				select {
				case <-idleTimer.C():
				default:
				}
			}
			idleTimer.Reset(b.idle)
		case <-idleTimer.C():
			return true
		case <-maxTimer.C():
			return true
		case <-ctx.Done():
			return false
		}
	}
}
