package lifecycle

import (
	"context"
	"time"

	"github.com/patrickmn/go-cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// UnavailableOfferingsTTL is how long an offering that failed for lack of capacity is left out of
// planning. EC2 capacity pools recover within minutes; three is Karpenter's choice too.
const UnavailableOfferingsTTL = 3 * time.Minute

// UnavailableOfferings remembers offerings (instance type, zone, capacity type) that recently
// failed to launch for lack of capacity. The lifecycle controller marks them; the Snapshot reads
// them so the next Solve plans around them. Implementations are safe for concurrent use.
type UnavailableOfferings interface {
	// MarkUnavailable leaves the offering out of planning for a while.
	MarkUnavailable(ctx context.Context, instanceType, zone, capacityType string)
	// IsUnavailable reports whether the offering was marked and has not recovered yet.
	IsUnavailable(instanceType, zone, capacityType string) bool
}

var _ UnavailableOfferings = (*UnavailableOfferingsCache)(nil)

// offeringKey names one capacity pool. go-cache keys are strings; this type is the only way one is
// built, so every key has the same shape.
type offeringKey struct {
	instanceType, zone, capacityType string
}

func (k offeringKey) String() string {
	return k.capacityType + ":" + k.instanceType + ":" + k.zone
}

// UnavailableOfferingsCache is the in-memory UnavailableOfferings. Whether an entry has expired is
// decided by the injected clock, so tests step a fake clock; go-cache's own expiry, which follows
// the wall clock, only frees the memory of entries at least that old.
type UnavailableOfferingsCache struct {
	clock clock.PassiveClock
	ttl   time.Duration
	// entries maps offeringKey.String() to the time.Time the offering becomes available again.
	entries *cache.Cache
}

// NewUnavailableOfferingsCache returns an empty cache whose entries last UnavailableOfferingsTTL.
func NewUnavailableOfferingsCache(clk clock.PassiveClock) *UnavailableOfferingsCache {
	return &UnavailableOfferingsCache{
		clock:   clk,
		ttl:     UnavailableOfferingsTTL,
		entries: cache.New(UnavailableOfferingsTTL, UnavailableOfferingsTTL),
	}
}

// MarkUnavailable implements UnavailableOfferings. Marking again extends the TTL.
func (u *UnavailableOfferingsCache) MarkUnavailable(ctx context.Context, instanceType, zone, capacityType string) {
	key := offeringKey{instanceType: instanceType, zone: zone, capacityType: capacityType}
	u.entries.SetDefault(key.String(), u.clock.Now().Add(u.ttl))
	log.FromContext(ctx).Info("marked offering unavailable",
		"instanceType", instanceType, "zone", zone, "capacityType", capacityType, "ttl", u.ttl)
}

// Len is how many offerings are unavailable now, for the karpenter_cloudprovider_unavailable_offerings gauge.
func (u *UnavailableOfferingsCache) Len() int {
	now := u.clock.Now()
	n := 0
	for _, item := range u.entries.Items() {
		if availableAgain, ok := item.Object.(time.Time); ok && now.Before(availableAgain) {
			n++
		}
	}
	return n
}

// IsUnavailable implements UnavailableOfferings.
func (u *UnavailableOfferingsCache) IsUnavailable(instanceType, zone, capacityType string) bool {
	key := offeringKey{instanceType: instanceType, zone: zone, capacityType: capacityType}
	value, ok := u.entries.Get(key.String())
	if !ok {
		return false
	}
	availableAgain, ok := value.(time.Time)
	return ok && u.clock.Now().Before(availableAgain)
}
