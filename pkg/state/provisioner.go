package state

import (
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// DefaultRequirements returns the requirements a cloud adds to a Provisioner's own, given those.
// They are applied here, when the Snapshot is built, and never written back into the user's object.
type DefaultRequirements func(scheduling.Requirements) scheduling.Requirements

// Provisioner converts a Provisioner into the simulation's view: its requirements with the cloud's
// defaults, its labels (plus the provisioner-name label every node carries), taints, limits, the
// capacity it already uses, and the instance types its node template allows.
func Provisioner(p *v1alpha5.Provisioner, instanceTypes []*scheduling.InstanceType, usage corev1.ResourceList, defaults DefaultRequirements) (scheduling.Provisioner, error) {
	core := make([]corev1.NodeSelectorRequirement, 0, len(p.Spec.Requirements))
	for _, r := range p.Spec.Requirements {
		core = append(core, r.ToCore())
	}
	reqs, err := scheduling.RequirementsFromNodeSelector(core)
	if err != nil {
		return scheduling.Provisioner{}, fmt.Errorf("reading requirements of provisioner %s, %w", p.Name, err)
	}
	labels := make(map[string]string, len(p.Spec.Labels)+1)
	maps.Copy(labels, p.Spec.Labels)
	labels[v1alpha5.ProvisionerNameLabelKey] = p.Name
	view := scheduling.Provisioner{
		Name:          p.Name,
		Weight:        ptr.Deref(p.Spec.Weight, 0),
		Requirements:  reqs,
		Labels:        labels,
		Taints:        p.Spec.Taints,
		StartupTaints: p.Spec.StartupTaints,
		Usage:         usage,
		InstanceTypes: instanceTypes,
	}
	if defaults != nil {
		// Labels pin keys just as requirements do, so a label also keeps a default off its key.
		view.Defaults = defaults(reqs.Intersect(scheduling.RequirementsFromLabels(labels)))
	}
	if p.Spec.Limits != nil {
		view.Limits = p.Spec.Limits.Resources
	}
	return view, nil
}
