package aws

import (
	"context"
	"fmt"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
)

// IsDrifted implements cloudprovider.CloudProvider: an instance is drifted when its image is no
// longer one the node template resolves to (a new EKS-optimized release, a changed amiSelector).
// Instances from a user-named launch template are never drifted: Kerf does not own that image.
func (c *CloudProvider) IsDrifted(ctx context.Context, machine *v1alpha5.Machine) (cloudprovider.DriftReason, error) {
	nodeTemplate, err := c.nodeTemplate(ctx, machine.Spec.MachineTemplateRef)
	if err != nil {
		return "", fmt.Errorf("checking drift of machine %s, %w", machine.Name, err)
	}
	if nodeTemplate.Spec.LaunchTemplate != nil {
		return "", nil
	}
	id, err := c.instanceID(ctx, machine)
	if err != nil {
		return "", fmt.Errorf("checking drift of machine %s, %w", machine.Name, err)
	}
	inst, err := c.instances.Get(ctx, id)
	if err != nil {
		return "", fmt.Errorf("checking drift of machine %s, %w", machine.Name, err)
	}
	amis, err := c.amis.List(ctx, nodeTemplate)
	if err != nil {
		return "", fmt.Errorf("checking drift of machine %s, %w", machine.Name, err)
	}
	for _, ami := range amis {
		if ami.ID == inst.ImageID {
			return "", nil
		}
	}
	return cloudprovider.DriftAMI, nil
}
