package cloudprovider

import (
	"context"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// CloudProvider launches and removes the instances behind Machines. Every method is safe to call
// concurrently and to repeat: Create is idempotent on the Machine's UID, Delete on a missing
// instance returns a MachineNotFoundError.
type CloudProvider interface {
	// Create launches one instance satisfying the Machine's requirements and returns the Machine
	// with its status (provider ID, capacity, allocatable) and instance labels filled in.
	Create(ctx context.Context, machine *v1alpha5.Machine) (*v1alpha5.Machine, error)
	// Delete terminates the Machine's instance.
	Delete(ctx context.Context, machine *v1alpha5.Machine) error
	// Get returns the Machine view of the instance with this provider ID.
	Get(ctx context.Context, providerID string) (*v1alpha5.Machine, error)
	// List returns every instance this cluster launched, as Machines.
	List(ctx context.Context) ([]*v1alpha5.Machine, error)
	// GetInstanceTypes returns the instance types a Provisioner may launch, with offerings and
	// prices, for the scheduling simulation.
	GetInstanceTypes(ctx context.Context, provisioner *v1alpha5.Provisioner) ([]*scheduling.InstanceType, error)
	// IsDrifted reports why the Machine's instance no longer matches what a launch would use now,
	// or "" when it still does.
	IsDrifted(ctx context.Context, machine *v1alpha5.Machine) (DriftReason, error)
	// Name of the provider, e.g. aws.
	Name() string
}

// DriftReason says which part of a Machine's instance no longer matches what a launch would use
// now; empty when none. Reasons are data: the disruption controller puts them in its Events.
type DriftReason string

// Drift reasons a cloud provider finds.
const (
	// DriftAMI: the instance's image is not one the node template resolves to now.
	DriftAMI DriftReason = "AMIDrift"
	// DriftSecurityGroup: the instance's security groups are not those the template selects now.
	DriftSecurityGroup DriftReason = "SecurityGroupDrift"
	// DriftSubnet: the instance's subnet is not one the template selects now.
	DriftSubnet DriftReason = "SubnetDrift"
	// DriftNodeTemplate: a static field of the node template changed since the launch.
	DriftNodeTemplate DriftReason = "NodeTemplateStaticDrift"
)
