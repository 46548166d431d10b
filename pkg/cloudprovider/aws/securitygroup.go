package aws

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"k8s.io/utils/clock"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
)

// SecurityGroup is a security group a node template's selector resolved to.
type SecurityGroup struct {
	ID   string
	Name string
}

// SecurityGroupProvider resolves securityGroupSelectors.
type SecurityGroupProvider interface {
	// List returns the security groups the node template selects, sorted by ID.
	List(ctx context.Context, nodeTemplate *v1alpha1.AWSNodeTemplate) ([]SecurityGroup, error)
}

// DefaultSecurityGroupProvider reads groups with DescribeSecurityGroups, cached for NetworkTTL
// per selector.
type DefaultSecurityGroupProvider struct {
	ec2   EC2API
	retry retrier
	cache *expiringCache[[]SecurityGroup]
}

var _ SecurityGroupProvider = (*DefaultSecurityGroupProvider)(nil)

// NewSecurityGroupProvider returns a SecurityGroupProvider backed by ec2.
func NewSecurityGroupProvider(ec2api EC2API, clk clock.Clock) *DefaultSecurityGroupProvider {
	return &DefaultSecurityGroupProvider{ec2: ec2api, retry: newRetrier(clk, 0, 0), cache: newExpiringCache[[]SecurityGroup](clk, NetworkTTL)}
}

// List implements SecurityGroupProvider. The key Name matches the group name or the Name tag,
// since Karpenter users write either; the two queries are unioned.
func (p *DefaultSecurityGroupProvider) List(ctx context.Context, nodeTemplate *v1alpha1.AWSNodeTemplate) ([]SecurityGroup, error) {
	selector := nodeTemplate.Spec.SecurityGroupSelector
	if len(selector) == 0 {
		return nil, fmt.Errorf("listing security groups, node template %s has no securityGroupSelector", nodeTemplate.Name)
	}
	key := selectorKey(selector)
	if groups, ok := p.cache.Get(key); ok {
		return groups, nil
	}
	queries := [][]ec2types.Filter{selectorFilters(selector, "group-id")}
	if name, ok := selector["Name"]; ok && name != "*" {
		rest := map[string]string{}
		for k, v := range selector {
			if k != "Name" {
				rest[k] = v
			}
		}
		byName := append(selectorFilters(rest, "group-id"), ec2types.Filter{Name: aws.String("group-name"), Values: splitList(name)})
		queries = append(queries, byName)
	}
	byID := map[string]SecurityGroup{}
	for _, filters := range queries {
		pages := ec2.NewDescribeSecurityGroupsPaginator(p.ec2, &ec2.DescribeSecurityGroupsInput{Filters: filters})
		for pages.HasMorePages() {
			out, err := call(ctx, p.retry, func() (*ec2.DescribeSecurityGroupsOutput, error) { return pages.NextPage(ctx) })
			if err != nil {
				return nil, fmt.Errorf("describing security groups, %w", err)
			}
			for _, g := range out.SecurityGroups {
				byID[aws.ToString(g.GroupId)] = SecurityGroup{ID: aws.ToString(g.GroupId), Name: aws.ToString(g.GroupName)}
			}
		}
	}
	if len(byID) == 0 {
		return nil, fmt.Errorf("listing security groups, no security group matches selector %v", selector)
	}
	groups := make([]SecurityGroup, 0, len(byID))
	for _, g := range byID {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].ID < groups[j].ID })
	p.cache.Set(key, groups)
	return groups, nil
}
