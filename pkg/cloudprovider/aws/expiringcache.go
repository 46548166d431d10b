package aws

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// expiringCache is a typed map whose entries expire a fixed time after they were set. It reads
// time from an injected clock rather than using go-cache's wall-clock janitor, so tests step a
// fake clock through expiry instead of sleeping.
type expiringCache[V any] struct {
	mu      sync.Mutex
	clock   clock.Clock
	ttl     time.Duration
	entries map[string]expiringEntry[V]
}

type expiringEntry[V any] struct {
	value   V
	expires time.Time
}

func newExpiringCache[V any](clk clock.Clock, ttl time.Duration) *expiringCache[V] {
	return &expiringCache[V]{clock: clk, ttl: ttl, entries: map[string]expiringEntry[V]{}}
}

// Get returns the value under key unless it is missing or expired.
func (c *expiringCache[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !c.clock.Now().Before(e.expires) {
		delete(c.entries, key)
		var zero V
		return zero, false
	}
	return e.value, true
}

// Set stores value under key for the cache's TTL.
func (c *expiringCache[V]) Set(key string, value V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[key] = expiringEntry[V]{value: value, expires: c.clock.Now().Add(c.ttl)}
}

// Delete forgets key.
func (c *expiringCache[V]) Delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}
