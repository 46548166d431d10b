package aws_test

import (
	"testing"
	"time"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/test/awsim"
)

// m5LargeStaticPrice is m5.large's us-east-1 on-demand price in the embedded static table.
const m5LargeStaticPrice = 0.096

// offeringPrice is the price of one offering, -1 when there is none.
func offeringPrice(it *scheduling.InstanceType, zone, capacityType string) float64 {
	for _, o := range it.Offerings {
		if o.Zone == zone && o.CapacityType == capacityType {
			return o.Price
		}
	}
	return -1
}

func (e *catalogEnv) m5Large(types aws.InstanceTypeProvider) *scheduling.InstanceType {
	e.t.Helper()
	it := e.list(types, nil, nil)["m5.large"]
	if it == nil {
		e.t.Fatal("m5.large missing")
	}
	return it
}

func (e *catalogEnv) wantOnDemand(types aws.InstanceTypeProvider, prices *aws.DefaultPricingProvider, price float64, source string) {
	e.t.Helper()
	if got := offeringPrice(e.m5Large(types), "us-east-1a", v1alpha5.CapacityTypeOnDemand); got != price {
		e.t.Errorf("m5.large on-demand %v, want %v", got, price)
	}
	if got := prices.Prices(e.ctx).OnDemandSource; got != source {
		e.t.Errorf("on-demand prices from %q, want %q", got, source)
	}
}

func TestPrices_OnDemandFromThePricingAPI(t *testing.T) {
	e := newCatalogEnv(t)
	e.srv.World.SetOnDemandPrice("m5.large", 0.5)
	types, prices := e.providers(aws.PricingOptions{})
	e.wantOnDemand(types, prices, 0.5, aws.PriceSourcePricingAPI)
	if e.pricing.calls.Load() == 0 {
		t.Error("the Pricing API was never called")
	}
}

func TestPrices_IsolatedVPCNeverCallsThePricingAPI(t *testing.T) {
	e := newCatalogEnv(t)
	e.srv.World.SetOnDemandPrice("m5.large", 0.5)
	types, prices := e.providers(aws.PricingOptions{IsolatedVPC: true})
	e.wantOnDemand(types, prices, m5LargeStaticPrice, aws.PriceSourceStatic)
	e.clock.Step(aws.OnDemandPricesTTL + time.Hour)
	e.wantOnDemand(types, prices, m5LargeStaticPrice, aws.PriceSourceStatic)
	if n := e.pricing.calls.Load(); n != 0 {
		t.Errorf("an isolated VPC called the Pricing API %d times", n)
	}
	// Spot prices come from EC2, which an isolated VPC reaches through its endpoint.
	e.srv.World.SetSpotPrice("m5.large", "us-east-1a", 0.0123)
	e.clock.Step(aws.SpotPricesTTL)
	if got := offeringPrice(e.m5Large(types), "us-east-1a", v1alpha5.CapacityTypeSpot); got != 0.0123 {
		t.Errorf("spot in an isolated VPC %v, want 0.0123", got)
	}
}

func TestPrices_StaticTableWhileThePricingAPIFailsThenLivePricesAMinuteLater(t *testing.T) {
	e := newCatalogEnv(t)
	e.srv.World.SetOnDemandPrice("m5.large", 0.5)
	e.srv.World.SetFault("GetProducts", awsim.Fault{ErrorCode: "AccessDeniedException", ErrorStatus: 400})
	types, prices := e.providers(aws.PricingOptions{})
	e.wantOnDemand(types, prices, m5LargeStaticPrice, aws.PriceSourceStatic)
	calls := e.pricing.calls.Load()
	// A failed source waits a minute before the next attempt, however often prices are read.
	e.clock.Step(30 * time.Second)
	e.wantOnDemand(types, prices, m5LargeStaticPrice, aws.PriceSourceStatic)
	if got := e.pricing.calls.Load(); got != calls {
		t.Errorf("Pricing API called %d more times within a minute of failing", got-calls)
	}
	e.srv.World.SetFault("GetProducts", awsim.Fault{})
	e.clock.Step(30 * time.Second)
	e.wantOnDemand(types, prices, 0.5, aws.PriceSourcePricingAPI)
}

func TestPrices_OnDemandRefreshedAfterOnDemandPricesTTL(t *testing.T) {
	e := newCatalogEnv(t)
	e.srv.World.SetOnDemandPrice("m5.large", 0.5)
	types, prices := e.providers(aws.PricingOptions{})
	e.wantOnDemand(types, prices, 0.5, aws.PriceSourcePricingAPI)
	e.srv.World.SetOnDemandPrice("m5.large", 0.7)
	e.clock.Step(aws.OnDemandPricesTTL - time.Second)
	e.wantOnDemand(types, prices, 0.5, aws.PriceSourcePricingAPI)
	e.clock.Step(time.Second)
	e.wantOnDemand(types, prices, 0.7, aws.PriceSourcePricingAPI)
}

func TestPrices_SpotPerZoneRefreshedAfterSpotPricesTTL(t *testing.T) {
	e := newCatalogEnv(t)
	e.srv.World.SetSpotPrice("m5.large", "us-east-1a", 0.0123)
	e.srv.World.SetSpotPrice("m5.large", "us-east-1b", 0.0456)
	types, _ := e.providers(aws.PricingOptions{})
	it := e.m5Large(types)
	for zone, want := range map[string]float64{"us-east-1a": 0.0123, "us-east-1b": 0.0456} {
		if got := offeringPrice(it, zone, v1alpha5.CapacityTypeSpot); got != want {
			t.Errorf("spot in %s %v, want %v", zone, got, want)
		}
	}
	e.srv.World.SetSpotPrice("m5.large", "us-east-1a", 0.02)
	e.clock.Step(aws.SpotPricesTTL - time.Second)
	if got := offeringPrice(e.m5Large(types), "us-east-1a", v1alpha5.CapacityTypeSpot); got != 0.0123 {
		t.Errorf("spot before SpotPricesTTL %v, want the cached 0.0123", got)
	}
	e.clock.Step(time.Second)
	if got := offeringPrice(e.m5Large(types), "us-east-1a", v1alpha5.CapacityTypeSpot); got != 0.02 {
		t.Errorf("spot after SpotPricesTTL %v, want 0.02", got)
	}
}

func TestPrices_SpotAtTheOnDemandPriceUntilSpotPricesAreKnown(t *testing.T) {
	e := newCatalogEnv(t)
	e.srv.World.SetOnDemandPrice("m5.large", 0.5)
	e.srv.World.SetFault("DescribeSpotPriceHistory", awsim.Fault{ErrorCode: "InternalError", ErrorStatus: 500})
	types, _ := e.providers(aws.PricingOptions{})
	it := e.m5Large(types)
	if got := offeringPrice(it, "us-east-1a", v1alpha5.CapacityTypeSpot); got != 0.5 {
		t.Errorf("spot without spot prices %v, want the on-demand 0.5", got)
	}
}
