package aws

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"k8s.io/utils/clock"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// DefaultInstanceTypeProvider describes EC2's instance types and where they are offered, keeps
// the answers for InstanceTypesTTL, and turns them into scheduling instance types priced by a
// PricingProvider.
type DefaultInstanceTypeProvider struct {
	ec2                     EC2API
	pricing                 PricingProvider
	clock                   clock.Clock
	vmMemoryOverheadPercent float64
	networking              PodNetworking
	facts                   map[string]staticTypeFacts

	// mu guards catalog; holding it across a fetch makes concurrent callers share one fetch.
	mu      sync.Mutex
	catalog *ec2Catalog
}

var _ InstanceTypeProvider = (*DefaultInstanceTypeProvider)(nil)

// ec2Catalog is one fetch of DescribeInstanceTypes and DescribeInstanceTypeOfferings. It is never
// modified after the fetch, so callers may read it without the lock.
type ec2Catalog struct {
	infos     []ec2types.InstanceTypeInfo // sorted by name
	zones     map[string][]string         // instance type -> zones offering it, sorted
	fetchedAt time.Time
}

// NewInstanceTypeProvider builds a provider. vmMemoryOverheadPercent is the fraction of EC2's
// memory figure the hypervisor keeps (the --vm-memory-overhead-percent option, 0.075 by default).
func NewInstanceTypeProvider(ec2api EC2API, pricing PricingProvider, clk clock.Clock, vmMemoryOverheadPercent float64, networking PodNetworking) (*DefaultInstanceTypeProvider, error) {
	if vmMemoryOverheadPercent < 0 || vmMemoryOverheadPercent >= 1 {
		return nil, fmt.Errorf("vm memory overhead percent %v must be in [0, 1)", vmMemoryOverheadPercent)
	}
	facts, err := loadStaticTypeFacts()
	if err != nil {
		return nil, err
	}
	return &DefaultInstanceTypeProvider{ec2: ec2api, pricing: pricing, clock: clk,
		vmMemoryOverheadPercent: vmMemoryOverheadPercent, networking: networking, facts: facts}, nil
}

// List implements InstanceTypeProvider (declared with the CloudProvider that consumes it): the
// instance types for nodes launched from nodeTemplate (nil: AL2 defaults) with the Provisioner's
// kubelet configuration (nil: none), sorted by name, owned by the caller.
func (p *DefaultInstanceTypeProvider) List(ctx context.Context, nodeTemplate *v1alpha1.AWSNodeTemplate, kubelet *v1alpha5.KubeletConfiguration) ([]*scheduling.InstanceType, error) {
	catalog, err := p.fetch(ctx)
	if err != nil {
		return nil, err
	}
	prices := p.pricing.Prices(ctx)
	shape := nodeShape{vmMemoryOverheadPercent: p.vmMemoryOverheadPercent, networking: p.networking, family: nodeFamilyModelFor(v1alpha1.AMIFamilyAL2)}
	if kubelet != nil {
		shape.kubelet = *kubelet
	}
	var subnetZones []string
	if nodeTemplate != nil {
		shape.family = nodeFamilyModelFor(amiFamily(nodeTemplate))
		shape.blockDevices = nodeTemplate.Spec.BlockDeviceMappings
		for _, s := range nodeTemplate.Status.Subnets {
			subnetZones = append(subnetZones, s.Zone)
		}
	}
	out := make([]*scheduling.InstanceType, 0, len(catalog.infos))
	for i := range catalog.infos {
		info := &catalog.infos[i]
		arch, ok := kubeArch(info)
		// A description without vCPUs or memory cannot be sized; skip it rather than guess.
		if !ok || info.VCpuInfo == nil || info.MemoryInfo == nil || (shape.family.amd64Only && arch != v1alpha5.ArchAMD64) {
			continue
		}
		it, err := p.instanceType(info, arch, shape, p.offerings(info, catalog.zones[string(info.InstanceType)], subnetZones, prices))
		if err != nil {
			return nil, fmt.Errorf("building instance type %s, %w", info.InstanceType, err)
		}
		out = append(out, it)
	}
	return out, nil
}

func (p *DefaultInstanceTypeProvider) instanceType(info *ec2types.InstanceTypeInfo, arch string, shape nodeShape, offerings scheduling.Offerings) (*scheduling.InstanceType, error) {
	facts := p.facts[string(info.InstanceType)]
	capacity, overhead, err := shape.resources(info, arch, facts)
	if err != nil {
		return nil, err
	}
	pods := capacity.Pods().Value()
	return &scheduling.InstanceType{
		Name:         string(info.InstanceType),
		Requirements: instanceTypeRequirements(info, arch, shape.family, pods, facts, offerings),
		Capacity:     capacity,
		Overhead:     overhead,
		Offerings:    offerings,
	}, nil
}

// offerings are the zone and capacity-type pairs the type is sold in, restricted to the zones of
// the node template's subnets when it has resolved any (a node can only launch where it has a
// subnet). A pair without a price is left out: Kerf cannot rank what it cannot price.
//
// Prices are Linux prices for every AMI family, Windows included: the Pricing API query, the spot
// history query and the static fallback table all hold Linux prices only. Windows instances cost
// more, by a licence fee per vCPU, so their prices are understated and the cheapest Windows type
// by Kerf's ranking can lean towards many vCPUs. Left as is until a Windows price source exists.
func (p *DefaultInstanceTypeProvider) offerings(info *ec2types.InstanceTypeInfo, zones, subnetZones []string, prices *Prices) scheduling.Offerings {
	name := string(info.InstanceType)
	var out scheduling.Offerings
	for _, zone := range zones {
		if len(subnetZones) > 0 && !slices.Contains(subnetZones, zone) {
			continue
		}
		for _, ct := range offeredCapacityTypes(info) {
			var price float64
			var ok bool
			if ct == v1alpha5.CapacityTypeSpot {
				price, ok = prices.Spot(name, zone)
			} else {
				price, ok = prices.OnDemand(name)
			}
			if ok {
				// Availability is the unavailable-offerings cache's business, applied by its owner.
				out = append(out, scheduling.Offering{Zone: zone, CapacityType: ct, Price: price, Available: true})
			}
		}
	}
	return out
}

// fetch returns the cached EC2 catalog, describing it again once it is older than
// InstanceTypesTTL. A failed refresh is returned rather than hidden behind stale data.
func (p *DefaultInstanceTypeProvider) fetch(ctx context.Context) (*ec2Catalog, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	if p.catalog != nil && now.Sub(p.catalog.fetchedAt) < InstanceTypesTTL {
		return p.catalog, nil
	}
	infos, err := p.describeInstanceTypes(ctx)
	if err != nil {
		return nil, err
	}
	zones, err := p.describeOfferings(ctx)
	if err != nil {
		return nil, err
	}
	p.catalog = &ec2Catalog{infos: infos, zones: zones, fetchedAt: now}
	return p.catalog, nil
}

func (p *DefaultInstanceTypeProvider) describeInstanceTypes(ctx context.Context) ([]ec2types.InstanceTypeInfo, error) {
	in := &ec2.DescribeInstanceTypesInput{
		// Only types an EKS node image can boot: hardware virtualisation, 64-bit x86 or Arm.
		Filters: []ec2types.Filter{
			{Name: aws.String("supported-virtualization-type"), Values: []string{"hvm"}},
			{Name: aws.String("processor-info.supported-architecture"), Values: []string{"x86_64", "arm64"}},
		},
	}
	var infos []ec2types.InstanceTypeInfo
	pages := ec2.NewDescribeInstanceTypesPaginator(p.ec2, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing instance types, %w", err)
		}
		infos = append(infos, out.InstanceTypes...)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].InstanceType < infos[j].InstanceType })
	return infos, nil
}

func (p *DefaultInstanceTypeProvider) describeOfferings(ctx context.Context) (map[string][]string, error) {
	in := &ec2.DescribeInstanceTypeOfferingsInput{LocationType: ec2types.LocationTypeAvailabilityZone}
	zones := map[string][]string{}
	pages := ec2.NewDescribeInstanceTypeOfferingsPaginator(p.ec2, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing instance type offerings, %w", err)
		}
		for _, o := range out.InstanceTypeOfferings {
			name, zone := string(o.InstanceType), aws.ToString(o.Location)
			if name != "" && zone != "" {
				zones[name] = append(zones[name], zone)
			}
		}
	}
	for name := range zones {
		slices.Sort(zones[name])
		zones[name] = slices.Compact(zones[name])
	}
	return zones, nil
}
