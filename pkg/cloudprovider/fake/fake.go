// Package fake is an in-memory CloudProvider for controller tests: knobs to shape its answers and
// recorders of every call. It launches the cheapest available offering that fits a Machine, the
// way a real provider should, so tests read like production.
package fake

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

var _ cloudprovider.CloudProvider = (*CloudProvider)(nil)

// CloudProvider is safe for concurrent use. Set the knobs before use or under Lock.
type CloudProvider struct {
	sync.Mutex

	// InstanceTypes returned by GetInstanceTypes and launched by Create.
	InstanceTypes []*scheduling.InstanceType
	// CreateErrors are returned by the next Create calls, one each, before any launch.
	CreateErrors []error
	// Drifted is what IsDrifted reports, by provider ID; a Machine not in it is not drifted.
	Drifted map[string]cloudprovider.DriftReason
	// Clock stamps each instance's launch time (its CreationTimestamp in List and Get), which
	// garbage collection compares with its grace period.
	Clock clock.PassiveClock

	// CreateCalls and DeleteCalls record every call's argument.
	CreateCalls []*v1alpha5.Machine
	DeleteCalls []*v1alpha5.Machine

	instances map[string]*v1alpha5.Machine // by provider ID
	launched  map[types.UID]string         // Machine UID to provider ID, for idempotent Create
	next      int
}

// New returns a provider offering the given instance types.
func New(instanceTypes ...*scheduling.InstanceType) *CloudProvider {
	return &CloudProvider{InstanceTypes: instanceTypes, Clock: clock.RealClock{}}
}

// Name implements CloudProvider.
func (c *CloudProvider) Name() string { return "fake" }

// Create implements CloudProvider: the cheapest available offering whose instance type satisfies
// the Machine's requirements and requests.
func (c *CloudProvider) Create(_ context.Context, machine *v1alpha5.Machine) (*v1alpha5.Machine, error) {
	c.Lock()
	defer c.Unlock()
	c.CreateCalls = append(c.CreateCalls, machine.DeepCopy())
	if len(c.CreateErrors) > 0 {
		err := c.CreateErrors[0]
		c.CreateErrors = c.CreateErrors[1:]
		return nil, err
	}
	if id, ok := c.launched[machine.UID]; ok && machine.UID != "" {
		if inst, ok := c.instances[id]; ok {
			return inst.DeepCopy(), nil
		}
	}
	reqs, err := scheduling.RequirementsFromNodeSelector(machine.Spec.Requirements)
	if err != nil {
		return nil, fmt.Errorf("reading machine requirements, %w", err)
	}
	it, offering, ok := c.cheapest(reqs, machine.Spec.Resources.Requests)
	if !ok {
		return nil, cloudprovider.NewInsufficientCapacityError(errors.New("no available offering satisfies the machine"))
	}
	c.next++
	id := fmt.Sprintf("fake:///%s/i-%08d", offering.Zone, c.next)
	launched := machine.DeepCopy()
	labels := it.Requirements.Labels()
	labels[scheduling.LabelInstanceType] = it.Name
	labels[scheduling.LabelZone] = offering.Zone
	labels[scheduling.LabelCapacityType] = offering.CapacityType
	if launched.Labels == nil {
		launched.Labels = map[string]string{}
	}
	for k, v := range labels {
		launched.Labels[k] = v
	}
	launched.Status.ProviderID = id
	launched.CreationTimestamp = metav1.NewTime(c.Clock.Now())
	launched.Status.Capacity = it.Capacity.DeepCopy()
	launched.Status.Allocatable = it.Allocatable()
	if c.instances == nil {
		c.instances, c.launched = map[string]*v1alpha5.Machine{}, map[types.UID]string{}
	}
	c.instances[id] = launched
	c.launched[machine.UID] = id
	return launched.DeepCopy(), nil
}

func (c *CloudProvider) cheapest(reqs scheduling.Requirements, requests corev1.ResourceList) (*scheduling.InstanceType, scheduling.Offering, bool) {
	var best *scheduling.InstanceType
	var bestOffering scheduling.Offering
	for _, it := range c.InstanceTypes {
		if reqs.Intersects(it.Requirements) != nil {
			continue
		}
		if _, fits := scheduling.Fits(requests, it.Allocatable()); !fits {
			continue
		}
		offering, ok := it.Offerings.Available().Compatible(reqs).Cheapest()
		if ok && (best == nil || offering.Price < bestOffering.Price) {
			best, bestOffering = it, offering
		}
	}
	return best, bestOffering, best != nil
}

// Delete implements CloudProvider. A Machine without a provider ID is looked up by its UID, as a
// real provider finds the instance of a launch whose status write was lost.
func (c *CloudProvider) Delete(_ context.Context, machine *v1alpha5.Machine) error {
	c.Lock()
	defer c.Unlock()
	c.DeleteCalls = append(c.DeleteCalls, machine.DeepCopy())
	id := machine.Status.ProviderID
	if id == "" && machine.UID != "" {
		id = c.launched[machine.UID]
	}
	inst, ok := c.instances[id]
	if !ok {
		return cloudprovider.NewMachineNotFoundError(fmt.Errorf("no instance %q", id))
	}
	delete(c.instances, id)
	// The UID may launch again; Create must not hand back the terminated instance.
	if c.launched[inst.UID] == id {
		delete(c.launched, inst.UID)
	}
	return nil
}

// Get implements CloudProvider.
func (c *CloudProvider) Get(_ context.Context, providerID string) (*v1alpha5.Machine, error) {
	c.Lock()
	defer c.Unlock()
	m, ok := c.instances[providerID]
	if !ok {
		return nil, cloudprovider.NewMachineNotFoundError(fmt.Errorf("no instance %q", providerID))
	}
	return m.DeepCopy(), nil
}

// List implements CloudProvider, sorted by provider ID.
func (c *CloudProvider) List(context.Context) ([]*v1alpha5.Machine, error) {
	c.Lock()
	defer c.Unlock()
	out := make([]*v1alpha5.Machine, 0, len(c.instances))
	for _, m := range c.instances {
		out = append(out, m.DeepCopy())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Status.ProviderID < out[j].Status.ProviderID })
	return out, nil
}

// GetInstanceTypes implements CloudProvider.
func (c *CloudProvider) GetInstanceTypes(context.Context, *v1alpha5.Provisioner) ([]*scheduling.InstanceType, error) {
	c.Lock()
	defer c.Unlock()
	return append([]*scheduling.InstanceType(nil), c.InstanceTypes...), nil
}

// IsDrifted implements CloudProvider.
func (c *CloudProvider) IsDrifted(_ context.Context, machine *v1alpha5.Machine) (cloudprovider.DriftReason, error) {
	c.Lock()
	defer c.Unlock()
	return c.Drifted[machine.Status.ProviderID], nil
}
