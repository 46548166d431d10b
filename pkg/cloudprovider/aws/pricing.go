package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	pricingtypes "github.com/aws/aws-sdk-go-v2/service/pricing/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// priceRetryAfterFailure is how soon a price source that failed to refresh is tried again. Much
// shorter than the TTLs, so a brief outage does not leave the fallback in force for 12 hours; long
// enough that a Pricing API that is down is not called on every scheduling pass.
const priceRetryAfterFailure = time.Minute

// PricingProvider answers what an instance type costs per hour, on demand and as spot per zone.
type PricingProvider interface {
	// Prices returns the prices in force, first refreshing any source older than its TTL. It does
	// not fail: a source that cannot be refreshed keeps its last answer (or the static table), the
	// failure is logged, and it is tried again a minute later.
	Prices(ctx context.Context) *Prices
}

// Prices is one consistent, read-only view of the prices, so every offering built in one pass is
// priced from the same data.
type Prices struct {
	onDemand map[string]float64
	// spot holds instance type -> zone -> price from DescribeSpotPriceHistory.
	spot map[string]map[string]float64
	// spotKnown is true once spot prices were fetched: from then on a missing pool means EC2 does
	// not sell spot there, rather than that Kerf does not know.
	spotKnown bool
	// OnDemandSource says where the on-demand prices came from: "pricing-api" or "static".
	OnDemandSource string
}

// Price sources, as Prices.OnDemandSource reports them.
const (
	PriceSourcePricingAPI = "pricing-api"
	PriceSourceStatic     = "static"
)

// OnDemand is the hourly on-demand price of an instance type in USD.
func (p *Prices) OnDemand(instanceType string) (float64, bool) {
	price, ok := p.onDemand[instanceType]
	return price, ok
}

// Spot is the hourly spot price of an instance type in a zone in USD. Until spot prices have been
// fetched it answers with the on-demand price: spot never costs more than on-demand, so the
// estimate errs on the expensive side instead of hiding spot capacity.
func (p *Prices) Spot(instanceType, zone string) (float64, bool) {
	if !p.spotKnown {
		return p.OnDemand(instanceType)
	}
	price, ok := p.spot[instanceType][zone]
	return price, ok
}

// PricingOptions configure a DefaultPricingProvider.
type PricingOptions struct {
	// Region whose prices are wanted, e.g. us-east-1.
	Region string
	// IsolatedVPC never calls the Pricing API (it has no VPC endpoint); on-demand prices come from
	// the static table. Spot prices still come from EC2.
	IsolatedVPC bool
}

// DefaultPricingProvider fetches on-demand prices from the Pricing API every OnDemandPricesTTL and
// spot prices from DescribeSpotPriceHistory every SpotPricesTTL, over an embedded static table.
type DefaultPricingProvider struct {
	ec2     EC2API
	pricing PricingAPI
	clock   clock.Clock
	opts    PricingOptions
	static  staticPriceTable

	// refresh serialises refreshes; Prices skips refreshing while another caller holds it.
	refresh sync.Mutex
	// The fields below are guarded by refresh.
	liveOnDemand  map[string]float64
	liveSpot      map[string]map[string]float64
	onDemandAt    time.Time // last successful fetch
	spotAt        time.Time
	onDemandRetry time.Time // no attempt before this after a failure
	spotRetry     time.Time
	// current is the latest snapshot, read without the lock.
	current atomic.Pointer[Prices]
}

var _ PricingProvider = (*DefaultPricingProvider)(nil)

// NewPricingProvider builds a provider; pricingAPI may be nil when opts.IsolatedVPC is set. The
// Pricing API is served only from a few regions (us-east-1, ap-south-1, eu-central-1), so the
// caller builds that client for one of them, whatever opts.Region is.
func NewPricingProvider(ec2api EC2API, pricingAPI PricingAPI, clk clock.Clock, opts PricingOptions) (*DefaultPricingProvider, error) {
	static, err := loadStaticPrices()
	if err != nil {
		return nil, err
	}
	if pricingAPI == nil {
		opts.IsolatedVPC = true
	}
	p := &DefaultPricingProvider{ec2: ec2api, pricing: pricingAPI, clock: clk, opts: opts, static: static}
	p.current.Store(p.snapshot())
	return p, nil
}

// Prices implements PricingProvider. When another caller is already refreshing, it answers at
// once with the prices in force rather than queueing behind a Pricing API walk that can take
// seconds; there is always an answer, the static table at worst.
func (p *DefaultPricingProvider) Prices(ctx context.Context) *Prices {
	if !p.refresh.TryLock() {
		return p.current.Load()
	}
	defer p.refresh.Unlock()
	now := p.clock.Now()
	if !p.opts.IsolatedVPC && priceRefreshDue(now, p.onDemandAt, p.onDemandRetry, OnDemandPricesTTL) {
		if err := p.updateOnDemandLocked(ctx); err != nil {
			log.FromContext(ctx).Error(err, "refreshing on-demand prices failed, keeping the previous prices",
				"source", p.current.Load().OnDemandSource)
		}
	}
	if priceRefreshDue(now, p.spotAt, p.spotRetry, SpotPricesTTL) {
		if err := p.updateSpotLocked(ctx); err != nil {
			log.FromContext(ctx).Error(err, "refreshing spot prices failed, keeping the previous prices")
		}
	}
	return p.current.Load()
}

// UpdateOnDemandPrices fetches on-demand prices now, for a caller that wants the error.
func (p *DefaultPricingProvider) UpdateOnDemandPrices(ctx context.Context) error {
	p.refresh.Lock()
	defer p.refresh.Unlock()
	return p.updateOnDemandLocked(ctx)
}

// UpdateSpotPrices fetches spot prices now, for a caller that wants the error.
func (p *DefaultPricingProvider) UpdateSpotPrices(ctx context.Context) error {
	p.refresh.Lock()
	defer p.refresh.Unlock()
	return p.updateSpotLocked(ctx)
}

// priceRefreshDue reports whether a source fetched at fetched (zero: never) is older than ttl and not
// waiting out a failure.
func priceRefreshDue(now, fetched, retry time.Time, ttl time.Duration) bool {
	if now.Before(retry) {
		return false
	}
	return fetched.IsZero() || now.Sub(fetched) >= ttl
}

func (p *DefaultPricingProvider) updateOnDemandLocked(ctx context.Context) error {
	if p.opts.IsolatedVPC {
		return nil
	}
	prices, err := p.fetchOnDemand(ctx)
	if err != nil {
		p.onDemandRetry = p.clock.Now().Add(priceRetryAfterFailure)
		return err
	}
	p.liveOnDemand, p.onDemandAt = prices, p.clock.Now()
	p.current.Store(p.snapshot())
	return nil
}

func (p *DefaultPricingProvider) updateSpotLocked(ctx context.Context) error {
	prices, err := p.fetchSpot(ctx)
	if err != nil {
		p.spotRetry = p.clock.Now().Add(priceRetryAfterFailure)
		return err
	}
	p.liveSpot, p.spotAt = prices, p.clock.Now()
	p.current.Store(p.snapshot())
	return nil
}

// snapshot merges the live prices over the static table. Types the Pricing API did not mention
// (new ones, or all of them before the first fetch) keep their static price.
func (p *DefaultPricingProvider) snapshot() *Prices {
	out := &Prices{onDemand: make(map[string]float64, len(p.static.OnDemandUSDPerHour)), OnDemandSource: PriceSourceStatic}
	for k, v := range p.static.OnDemandUSDPerHour {
		out.onDemand[k] = v
	}
	if p.liveOnDemand != nil {
		out.OnDemandSource = PriceSourcePricingAPI
		for k, v := range p.liveOnDemand {
			out.onDemand[k] = v
		}
	}
	if p.liveSpot != nil {
		out.spot, out.spotKnown = p.liveSpot, true
	}
	return out
}

// fetchOnDemand reads Linux, shared-tenancy, on-demand hourly prices for the region.
func (p *DefaultPricingProvider) fetchOnDemand(ctx context.Context) (map[string]float64, error) {
	term := func(field, value string) pricingtypes.Filter {
		return pricingtypes.Filter{Type: pricingtypes.FilterTypeTermMatch, Field: aws.String(field), Value: aws.String(value)}
	}
	in := &pricing.GetProductsInput{
		ServiceCode:   aws.String("AmazonEC2"),
		FormatVersion: aws.String("aws_v1"),
		Filters: []pricingtypes.Filter{
			term("regionCode", p.opts.Region),
			term("productFamily", "Compute Instance"),
			term("operatingSystem", "Linux"),
			term("tenancy", "Shared"),
			term("preInstalledSw", "NA"),
			term("capacitystatus", "Used"),
			term("marketoption", "OnDemand"),
		},
	}
	prices := map[string]float64{}
	pages := pricing.NewGetProductsPaginator(p.pricing, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("getting on-demand prices, %w", err)
		}
		for _, doc := range out.PriceList {
			if name, price, ok := parsePriceListItem(doc); ok {
				prices[name] = price
			}
		}
	}
	if len(prices) == 0 {
		return nil, fmt.Errorf("getting on-demand prices, no prices for region %q", p.opts.Region)
	}
	return prices, nil
}

// priceListItem is the part of a Pricing API product document (a JSON string inside the JSON
// response) that holds the instance type and its hourly USD price.
type priceListItem struct {
	Product struct {
		Attributes struct {
			InstanceType string `json:"instanceType"`
		} `json:"attributes"`
	} `json:"product"`
	Terms struct {
		OnDemand map[string]struct {
			PriceDimensions map[string]struct {
				Unit         string            `json:"unit"`
				PricePerUnit map[string]string `json:"pricePerUnit"`
			} `json:"priceDimensions"`
		} `json:"OnDemand"`
	} `json:"terms"`
}

// parsePriceListItem extracts one product's price; documents that do not parse or carry no
// positive hourly USD price are skipped rather than failing the whole table.
func parsePriceListItem(doc string) (string, float64, bool) {
	var item priceListItem
	if err := json.Unmarshal([]byte(doc), &item); err != nil || item.Product.Attributes.InstanceType == "" {
		return "", 0, false
	}
	for _, term := range item.Terms.OnDemand {
		for _, dim := range term.PriceDimensions {
			if dim.Unit != "" && dim.Unit != "Hrs" {
				continue
			}
			price, err := strconv.ParseFloat(dim.PricePerUnit["USD"], 64)
			if err == nil && price > 0 {
				return item.Product.Attributes.InstanceType, price, true
			}
		}
	}
	return "", 0, false
}

// fetchSpot reads the current Linux spot price of every pool in the region.
func (p *DefaultPricingProvider) fetchSpot(ctx context.Context) (map[string]map[string]float64, error) {
	in := &ec2.DescribeSpotPriceHistoryInput{
		// A start time of now asks for the price in force in each pool, not a history.
		StartTime:           aws.Time(p.clock.Now()),
		ProductDescriptions: []string{"Linux/UNIX", "Linux/UNIX (Amazon VPC)"},
	}
	type stamped struct {
		price float64
		at    time.Time
	}
	newest := map[string]map[string]stamped{}
	pages := ec2.NewDescribeSpotPriceHistoryPaginator(p.ec2, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing spot price history, %w", err)
		}
		for _, rec := range out.SpotPriceHistory {
			typ, zone := string(rec.InstanceType), aws.ToString(rec.AvailabilityZone)
			price, err := strconv.ParseFloat(aws.ToString(rec.SpotPrice), 64)
			if typ == "" || zone == "" || err != nil || price <= 0 {
				continue
			}
			at := aws.ToTime(rec.Timestamp)
			if newest[typ] == nil {
				newest[typ] = map[string]stamped{}
			}
			if old, ok := newest[typ][zone]; !ok || at.After(old.at) {
				newest[typ][zone] = stamped{price: price, at: at}
			}
		}
	}
	prices := make(map[string]map[string]float64, len(newest))
	for typ, zones := range newest {
		prices[typ] = make(map[string]float64, len(zones))
		for zone, s := range zones {
			prices[typ][zone] = s.price
		}
	}
	return prices, nil
}

// PricingAPIRegion is the Pricing API endpoint region to use for prices of region: the API is
// served only from us-east-1, eu-central-1 and ap-south-1, and any of them answers for every
// region, so the nearest one is picked to keep the call short.
func PricingAPIRegion(region string) string {
	switch {
	case strings.HasPrefix(region, "ap-"):
		return "ap-south-1"
	case strings.HasPrefix(region, "eu-"), strings.HasPrefix(region, "me-"), strings.HasPrefix(region, "af-"), strings.HasPrefix(region, "il-"):
		return "eu-central-1"
	}
	return "us-east-1"
}
