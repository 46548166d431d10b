package v1alpha5_test

import (
	"testing"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// pkg/scheduling keeps its own copy of the label keys it gives meaning to, so that it does not
// import the API types; a drift would make the simulation and the cluster disagree silently.
func TestLabels_SchedulingSpellsThemTheSame(t *testing.T) {
	for _, pair := range [][2]string{
		{v1alpha5.LabelTopologyZone, scheduling.LabelZone},
		{v1alpha5.LabelHostname, scheduling.LabelHostname},
		{v1alpha5.LabelInstanceType, scheduling.LabelInstanceType},
		{v1alpha5.LabelArch, scheduling.LabelArch},
		{v1alpha5.LabelOS, scheduling.LabelOS},
		{v1alpha5.CapacityTypeLabelKey, scheduling.LabelCapacityType},
		{v1alpha5.ProvisionerNameLabelKey, scheduling.LabelProvisionerName},
		{v1alpha5.CapacityTypeSpot, scheduling.CapacityTypeSpot},
		{v1alpha5.CapacityTypeOnDemand, scheduling.CapacityTypeOnDemand},
	} {
		if pair[0] != pair[1] {
			t.Errorf("pkg/apis says %q, pkg/scheduling says %q", pair[0], pair[1])
		}
	}
}
