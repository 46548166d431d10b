package aws

import (
	"context"
	"fmt"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
)

// IsDrifted implements cloudprovider.CloudProvider. It compares the instance with what a launch
// would use now, in this order, and returns the first difference:
//
//   - AMIDrift: its image is not one the node template resolves to (a new EKS-optimized release,
//     a changed amiSelector);
//   - SecurityGroupDrift: its security groups, as a set, are not those the securityGroupSelector
//     finds;
//   - SubnetDrift: its subnet is not one the subnetSelector finds;
//   - NodeTemplateStaticDrift: the Machine records a hash of the template's static fields that
//     differs from the template's now (no hash recorded: not drifted).
//
// An instance from a user-named launch template is checked on the static fields only: its image
// and security groups are the launch template's, not Kerf's to compare.
func (c *CloudProvider) IsDrifted(ctx context.Context, machine *v1alpha5.Machine) (cloudprovider.DriftReason, error) {
	nodeTemplate, err := c.nodeTemplate(ctx, machine.Spec.MachineTemplateRef)
	if err != nil {
		return "", fmt.Errorf("checking drift of machine %s, %w", machine.Name, err)
	}
	if nodeTemplate.Spec.LaunchTemplate == nil {
		reason, err := c.resolvedDrift(ctx, machine, nodeTemplate)
		if err != nil {
			return "", fmt.Errorf("checking drift of machine %s, %w", machine.Name, err)
		}
		if reason != "" {
			return reason, nil
		}
	}
	if nodeTemplate.StaticFieldsDrifted(machine.Annotations) {
		return cloudprovider.DriftNodeTemplate, nil
	}
	return "", nil
}

// resolvedDrift compares the instance with what the template's selectors resolve to now.
func (c *CloudProvider) resolvedDrift(ctx context.Context, machine *v1alpha5.Machine, nodeTemplate *v1alpha1.AWSNodeTemplate) (cloudprovider.DriftReason, error) {
	id, err := c.instanceID(ctx, machine)
	if err != nil {
		return "", err
	}
	inst, err := c.instances.Get(ctx, id)
	if err != nil {
		return "", err
	}
	for _, check := range []func(context.Context, *Instance, *v1alpha1.AWSNodeTemplate) (cloudprovider.DriftReason, error){
		c.amiDrift, c.securityGroupDrift, c.subnetDrift,
	} {
		if reason, err := check(ctx, inst, nodeTemplate); err != nil || reason != "" {
			return reason, err
		}
	}
	return "", nil
}

func (c *CloudProvider) amiDrift(ctx context.Context, inst *Instance, nodeTemplate *v1alpha1.AWSNodeTemplate) (cloudprovider.DriftReason, error) {
	amis, err := c.amis.List(ctx, nodeTemplate)
	if err != nil {
		return "", err
	}
	for _, ami := range amis {
		if ami.ID == inst.ImageID {
			return "", nil
		}
	}
	return cloudprovider.DriftAMI, nil
}

func (c *CloudProvider) securityGroupDrift(ctx context.Context, inst *Instance, nodeTemplate *v1alpha1.AWSNodeTemplate) (cloudprovider.DriftReason, error) {
	groups, err := c.securityGroups.List(ctx, nodeTemplate)
	if err != nil {
		return "", err
	}
	want := map[string]bool{}
	for _, g := range groups {
		want[g.ID] = true
	}
	have := map[string]bool{}
	for _, id := range inst.SecurityGroupIDs {
		have[id] = true
	}
	if len(have) != len(want) {
		return cloudprovider.DriftSecurityGroup, nil
	}
	for id := range have {
		if !want[id] {
			return cloudprovider.DriftSecurityGroup, nil
		}
	}
	return "", nil
}

func (c *CloudProvider) subnetDrift(ctx context.Context, inst *Instance, nodeTemplate *v1alpha1.AWSNodeTemplate) (cloudprovider.DriftReason, error) {
	subnets, err := c.subnets.List(ctx, nodeTemplate)
	if err != nil {
		return "", err
	}
	for _, s := range subnets {
		if s.ID == inst.SubnetID {
			return "", nil
		}
	}
	return cloudprovider.DriftSubnet, nil
}
