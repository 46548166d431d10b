package aws

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"k8s.io/utils/clock"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
)

// Tags Kerf puts on every instance it launches.
const (
	TagManagedBy   = v1alpha5.Group + "/managed-by"
	TagMachineName = v1alpha5.Group + "/machine-name"
	TagName        = "Name"
)

// ClusterTagKey is kubernetes.io/cluster/<cluster>, the tag EKS and its add-ons read ownership from.
func ClusterTagKey(clusterName string) string { return "kubernetes.io/cluster/" + clusterName }

// Instance is the part of an EC2 instance Kerf reads.
type Instance struct {
	ID           string
	Type         string
	Zone         string
	CapacityType string
	ImageID      string
	SubnetID     string
	// SecurityGroupIDs are the instance's security groups (DescribeInstances' groupSet).
	SecurityGroupIDs []string
	State            string
	LaunchTime       time.Time
	Tags             map[string]string
	// UnavailableOfferings, set by Launch only, are the pools EC2 found out of capacity before
	// it launched this instance in another.
	UnavailableOfferings []cloudprovider.UnavailableOffering
}

// ProviderID is the Kubernetes provider ID of the instance: aws:///<zone>/<instance-id>.
func (i *Instance) ProviderID() string { return fmt.Sprintf("aws:///%s/%s", i.Zone, i.ID) }

// ParseProviderID returns the instance ID of aws:///<zone>/<instance-id> (the zone may be empty).
func ParseProviderID(providerID string) (string, error) {
	rest, ok := strings.CutPrefix(providerID, "aws://")
	parts := strings.Split(rest, "/")
	id := parts[len(parts)-1]
	if !ok || !strings.HasPrefix(id, "i-") {
		return "", fmt.Errorf("parsing provider ID %q, want aws:///<zone>/<instance-id>", providerID)
	}
	return id, nil
}

// InstanceProvider launches, finds and terminates the cluster's instances.
type InstanceProvider interface {
	// Launch starts one instance with EC2 Fleet; see LaunchRequest.
	Launch(ctx context.Context, req LaunchRequest) (*Instance, error)
	// Get returns a live instance, or a cloudprovider.MachineNotFoundError.
	Get(ctx context.Context, id string) (*Instance, error)
	// List returns the cluster's instances that are not terminated.
	List(ctx context.Context) ([]*Instance, error)
	// GetByMachine returns the live instance launched for the named Machine, or a
	// cloudprovider.MachineNotFoundError.
	GetByMachine(ctx context.Context, machineName string) (*Instance, error)
	// Terminate terminates an instance; one already gone or going is a MachineNotFoundError.
	Terminate(ctx context.Context, id string) error
}

// DefaultInstanceProvider talks to EC2 for one cluster.
type DefaultInstanceProvider struct {
	ec2         EC2API
	clusterName string
	retry       retrier
}

var _ InstanceProvider = (*DefaultInstanceProvider)(nil)

// NewInstanceProvider returns an InstanceProvider. Throttled calls are retried up to
// throttleAttempts times with backoff from throttleBackoff (0 for the defaults).
func NewInstanceProvider(ec2api EC2API, clusterName string, clk clock.Clock, throttleAttempts int, throttleBackoff time.Duration) *DefaultInstanceProvider {
	return &DefaultInstanceProvider{ec2: ec2api, clusterName: clusterName, retry: newRetrier(clk, throttleAttempts, throttleBackoff)}
}

// liveStates are the states of an instance that still exists for Kerf.
func liveStates() []string {
	return []string{"pending", "running", "stopping", "stopped", "shutting-down"}
}

// Get implements InstanceProvider.
func (p *DefaultInstanceProvider) Get(ctx context.Context, id string) (*Instance, error) {
	out, err := call(ctx, p.retry, func() (*ec2.DescribeInstancesOutput, error) {
		return p.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	})
	if errorCode(err) == codeInstanceNotFound {
		return nil, cloudprovider.NewMachineNotFoundError(fmt.Errorf("describing instance %s, %w", id, err))
	}
	if err != nil {
		return nil, fmt.Errorf("describing instance %s, %w", id, err)
	}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			if aws.ToString(inst.InstanceId) != id {
				continue
			}
			i := instanceFrom(inst)
			if i.State == string(ec2types.InstanceStateNameTerminated) {
				return nil, cloudprovider.NewMachineNotFoundError(fmt.Errorf("instance %s is terminated", id))
			}
			return i, nil
		}
	}
	return nil, cloudprovider.NewMachineNotFoundError(fmt.Errorf("instance %s not described", id))
}

// List implements InstanceProvider: instances tagged as managed by this cluster.
func (p *DefaultInstanceProvider) List(ctx context.Context) ([]*Instance, error) {
	input := &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + TagManagedBy), Values: []string{p.clusterName}},
		{Name: aws.String("tag-key"), Values: []string{ClusterTagKey(p.clusterName)}},
		{Name: aws.String("instance-state-name"), Values: liveStates()},
	}}
	var out []*Instance
	pages := ec2.NewDescribeInstancesPaginator(p.ec2, input)
	for pages.HasMorePages() {
		page, err := call(ctx, p.retry, func() (*ec2.DescribeInstancesOutput, error) { return pages.NextPage(ctx) })
		if err != nil {
			return nil, fmt.Errorf("listing instances, %w", err)
		}
		for _, r := range page.Reservations {
			for _, inst := range r.Instances {
				out = append(out, instanceFrom(inst))
			}
		}
	}
	return out, nil
}

// Terminate implements InstanceProvider. An instance already shutting down counts as gone, so
// a repeated delete reports not-found instead of terminating again.
func (p *DefaultInstanceProvider) Terminate(ctx context.Context, id string) error {
	inst, err := p.Get(ctx, id)
	if err != nil {
		return err
	}
	if inst.State == string(ec2types.InstanceStateNameShuttingDown) {
		return cloudprovider.NewMachineNotFoundError(fmt.Errorf("instance %s is already shutting down", id))
	}
	_, err = call(ctx, p.retry, func() (*ec2.TerminateInstancesOutput, error) {
		return p.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	})
	if errorCode(err) == codeInstanceNotFound {
		return cloudprovider.NewMachineNotFoundError(fmt.Errorf("terminating instance %s, %w", id, err))
	}
	if err != nil {
		return fmt.Errorf("terminating instance %s, %w", id, err)
	}
	return nil
}

// GetByMachine implements InstanceProvider, by the Machine tag.
func (p *DefaultInstanceProvider) GetByMachine(ctx context.Context, machineName string) (*Instance, error) {
	out, err := call(ctx, p.retry, func() (*ec2.DescribeInstancesOutput, error) {
		return p.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
			{Name: aws.String("tag:" + TagManagedBy), Values: []string{p.clusterName}},
			{Name: aws.String("tag:" + TagMachineName), Values: []string{machineName}},
			{Name: aws.String("instance-state-name"), Values: liveStates()},
		}})
	})
	if err != nil {
		return nil, fmt.Errorf("finding the instance of machine %s, %w", machineName, err)
	}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			return instanceFrom(inst), nil
		}
	}
	return nil, cloudprovider.NewMachineNotFoundError(fmt.Errorf("no live instance is tagged for machine %s", machineName))
}

func instanceFrom(inst ec2types.Instance) *Instance {
	i := &Instance{ID: aws.ToString(inst.InstanceId), Type: string(inst.InstanceType), ImageID: aws.ToString(inst.ImageId),
		SubnetID: aws.ToString(inst.SubnetId), CapacityType: v1alpha5.CapacityTypeOnDemand, LaunchTime: aws.ToTime(inst.LaunchTime),
		Tags: map[string]string{}}
	if inst.Placement != nil {
		i.Zone = aws.ToString(inst.Placement.AvailabilityZone)
	}
	if inst.State != nil {
		i.State = string(inst.State.Name)
	}
	if inst.InstanceLifecycle == ec2types.InstanceLifecycleTypeSpot {
		i.CapacityType = v1alpha5.CapacityTypeSpot
	}
	for _, t := range inst.Tags {
		i.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	for _, g := range inst.SecurityGroups {
		i.SecurityGroupIDs = append(i.SecurityGroupIDs, aws.ToString(g.GroupId))
	}
	return i
}
