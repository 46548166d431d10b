package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"k8s.io/utils/clock"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
)

// selectorIDsKey selects resources by ID (comma-separated) instead of by tag, in every selector.
const selectorIDsKey = "aws-ids"

// Subnet is a subnet a node template's selector resolved to.
type Subnet struct {
	ID   string
	Zone string
	// AvailableIPs as EC2 last reported it.
	AvailableIPs int64
}

// SubnetProvider resolves subnetSelectors and picks the subnet to launch into per zone.
type SubnetProvider interface {
	// List returns the subnets the node template selects, sorted by ID.
	List(ctx context.Context, nodeTemplate *v1alpha1.AWSNodeTemplate) ([]Subnet, error)
	// ZonalSubnets returns, per zone, the selected subnet with the most free addresses, counting
	// addresses taken by launches since the last refresh.
	ZonalSubnets(ctx context.Context, nodeTemplate *v1alpha1.AWSNodeTemplate) (map[string]Subnet, error)
	// MarkLaunched records that an instance took an address in the subnet, until the next refresh
	// shows it.
	MarkLaunched(subnetID string)
}

// DefaultSubnetProvider reads subnets with DescribeSubnets, cached for NetworkTTL per selector.
type DefaultSubnetProvider struct {
	ec2   EC2API
	retry retrier
	cache *expiringCache[[]Subnet]

	mu       sync.Mutex
	inFlight map[string]int64 // subnet ID -> addresses taken since the subnet was last described
}

var _ SubnetProvider = (*DefaultSubnetProvider)(nil)

// NewSubnetProvider returns a SubnetProvider backed by ec2.
func NewSubnetProvider(ec2api EC2API, clk clock.Clock) *DefaultSubnetProvider {
	return &DefaultSubnetProvider{ec2: ec2api, retry: newRetrier(clk, 0, 0),
		cache: newExpiringCache[[]Subnet](clk, NetworkTTL), inFlight: map[string]int64{}}
}

// List implements SubnetProvider.
func (p *DefaultSubnetProvider) List(ctx context.Context, nodeTemplate *v1alpha1.AWSNodeTemplate) ([]Subnet, error) {
	selector := nodeTemplate.Spec.SubnetSelector
	if len(selector) == 0 {
		return nil, fmt.Errorf("listing subnets, node template %s has no subnetSelector", nodeTemplate.Name)
	}
	key := selectorKey(selector)
	if subnets, ok := p.cache.Get(key); ok {
		return subnets, nil
	}
	input := &ec2.DescribeSubnetsInput{Filters: selectorFilters(selector, "subnet-id")}
	byID := map[string]Subnet{}
	pages := ec2.NewDescribeSubnetsPaginator(p.ec2, input)
	for pages.HasMorePages() {
		out, err := call(ctx, p.retry, func() (*ec2.DescribeSubnetsOutput, error) { return pages.NextPage(ctx) })
		if err != nil {
			return nil, fmt.Errorf("describing subnets, %w", err)
		}
		for _, s := range out.Subnets {
			byID[aws.ToString(s.SubnetId)] = Subnet{ID: aws.ToString(s.SubnetId), Zone: aws.ToString(s.AvailabilityZone),
				AvailableIPs: int64(aws.ToInt32(s.AvailableIpAddressCount))}
		}
	}
	if len(byID) == 0 {
		return nil, fmt.Errorf("listing subnets, no subnet matches selector %v", selector)
	}
	subnets := make([]Subnet, 0, len(byID))
	p.mu.Lock()
	for id, s := range byID {
		delete(p.inFlight, id) // the fresh count already includes earlier launches
		subnets = append(subnets, s)
	}
	p.mu.Unlock()
	sort.Slice(subnets, func(i, j int) bool { return subnets[i].ID < subnets[j].ID })
	p.cache.Set(key, subnets)
	return subnets, nil
}

// ZonalSubnets implements SubnetProvider. Ties go to the lower subnet ID so the choice is stable.
func (p *DefaultSubnetProvider) ZonalSubnets(ctx context.Context, nodeTemplate *v1alpha1.AWSNodeTemplate) (map[string]Subnet, error) {
	subnets, err := p.List(ctx, nodeTemplate)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	best := map[string]Subnet{}
	for _, s := range subnets {
		s.AvailableIPs -= p.inFlight[s.ID]
		if cur, ok := best[s.Zone]; !ok || s.AvailableIPs > cur.AvailableIPs {
			best[s.Zone] = s
		}
	}
	return best, nil
}

// MarkLaunched implements SubnetProvider.
func (p *DefaultSubnetProvider) MarkLaunched(subnetID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight[subnetID]++
}

// selectorFilters turns a Karpenter selector into EC2 filters: aws-ids becomes an ID filter,
// "*" matches any value of the tag, and comma-separated values match any of them (EC2 filter
// values are ORed, keys ANDed).
func selectorFilters(selector map[string]string, idFilter string) []ec2types.Filter {
	keys := make([]string, 0, len(selector))
	for k := range selector {
		keys = append(keys, k)
	}
	sort.Strings(keys) // stable requests, stable cache keys
	var filters []ec2types.Filter
	for _, k := range keys {
		v := selector[k]
		switch {
		case k == selectorIDsKey:
			filters = append(filters, ec2types.Filter{Name: aws.String(idFilter), Values: splitList(v)})
		case v == "*":
			filters = append(filters, ec2types.Filter{Name: aws.String("tag-key"), Values: []string{k}})
		default:
			filters = append(filters, ec2types.Filter{Name: aws.String("tag:" + k), Values: splitList(v)})
		}
	}
	return filters
}

// selectorKey identifies a selector in a cache.
func selectorKey(selector map[string]string) string {
	data, _ := json.Marshal(selector) // map keys marshal sorted; a map of strings cannot fail
	return string(data)
}

// splitList splits a comma-separated selector value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
