package aws

import (
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// DefaultRequirements are what a Provisioner means on AWS when it leaves a key open, as Karpenter
// v0.31 defines: on-demand, amd64, Linux, and (unless the user picked instance types, families or
// categories) the general-purpose, compute and memory categories of generation 3 or later, so an
// empty Provisioner never launches a t2.nano or a p4d. A Provisioner that demands GPUs or
// accelerators keeps every category.
func DefaultRequirements(reqs scheduling.Requirements) scheduling.Requirements {
	mentions := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := reqs.Get(k); ok {
				return true
			}
		}
		return false
	}
	defaults := []scheduling.Requirement{
		scheduling.In(v1alpha5.CapacityTypeLabelKey, v1alpha5.CapacityTypeOnDemand),
		scheduling.In(v1alpha5.LabelArch, v1alpha5.ArchAMD64),
		scheduling.In(v1alpha5.LabelOS, "linux"),
	}
	// Demanding a GPU or accelerator asks for g, p, inf or trn types, none of them c, m or r: with
	// the default such a Provisioner could launch nothing at all. Excluding them (DoesNotExist,
	// NotIn) keeps v0.31's default.
	demands := func(keys ...string) bool {
		for _, k := range keys {
			if r, ok := reqs.Get(k); ok && !r.AllowsAbsent() {
				return true
			}
		}
		return false
	}
	if !mentions(v1alpha5.LabelInstanceType, v1alpha5.LabelInstanceFamily, v1alpha5.LabelInstanceCategory) &&
		!demands(v1alpha5.LabelInstanceGPUName, v1alpha5.LabelInstanceGPUManufacturer, v1alpha5.LabelInstanceGPUCount, v1alpha5.LabelInstanceGPUMemory,
			v1alpha5.LabelInstanceAcceleratorName, v1alpha5.LabelInstanceAcceleratorManufacturer, v1alpha5.LabelInstanceAcceleratorCount) {
		defaults = append(defaults, scheduling.In(v1alpha5.LabelInstanceCategory, "c", "m", "r"))
	}
	if !mentions(v1alpha5.LabelInstanceType, v1alpha5.LabelInstanceFamily, v1alpha5.LabelInstanceGeneration) {
		// A constant Gt requirement is well formed; the state tests pin that it is present.
		if generation, err := scheduling.NewRequirement(v1alpha5.LabelInstanceGeneration, "Gt", "2"); err == nil {
			defaults = append(defaults, generation)
		}
	}
	return scheduling.NewRequirements(defaults...)
}
