package lifecycle_test

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
)

func TestUnavailableOfferings_RecoverAfterTheTTL(t *testing.T) {
	const spot, onDemand = v1alpha5.CapacityTypeSpot, v1alpha5.CapacityTypeOnDemand
	ttl := lifecycle.UnavailableOfferingsTTL
	for _, tc := range []struct {
		name               string
		remarkAfter        time.Duration // mark again after this long; 0: marked once
		wait               time.Duration // since the first mark
		instanceType, zone string
		capacityType       string
		wantUnavailable    bool
	}{
		{name: "just marked", instanceType: "m5.large", zone: zoneA, capacityType: spot, wantUnavailable: true},
		{name: "a second before the TTL", wait: ttl - time.Second, instanceType: "m5.large", zone: zoneA, capacityType: spot, wantUnavailable: true},
		{name: "at the TTL", wait: ttl, instanceType: "m5.large", zone: zoneA, capacityType: spot},
		{name: "marked again extends the TTL", remarkAfter: 2 * time.Minute, wait: ttl + time.Minute, instanceType: "m5.large", zone: zoneA, capacityType: spot, wantUnavailable: true},
		{name: "other zone", instanceType: "m5.large", zone: zoneB, capacityType: spot},
		{name: "other capacity type", instanceType: "m5.large", zone: zoneA, capacityType: onDemand},
		{name: "other instance type", instanceType: "m5.xlarge", zone: zoneA, capacityType: spot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			offerings := lifecycle.NewUnavailableOfferingsCache(clk)
			offerings.MarkUnavailable(context.Background(), "m5.large", zoneA, spot)
			if tc.remarkAfter > 0 {
				clk.Step(tc.remarkAfter)
				offerings.MarkUnavailable(context.Background(), "m5.large", zoneA, spot)
				clk.Step(tc.wait - tc.remarkAfter)
			} else {
				clk.Step(tc.wait)
			}
			if got := offerings.IsUnavailable(tc.instanceType, tc.zone, tc.capacityType); got != tc.wantUnavailable {
				t.Errorf("%s %s %s unavailable: %v, want %v", tc.instanceType, tc.zone, tc.capacityType, got, tc.wantUnavailable)
			}
		})
	}
}
