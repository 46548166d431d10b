package aws_test

import (
	"testing"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

func TestDefaultRequirements_LeaveKeysTheProvisionerChose(t *testing.T) {
	for _, tc := range []struct {
		name         string
		provisioner  scheduling.Requirements
		wantCategory bool // c, m and r only
		wantGen      bool // generation 3 and later only
	}{
		{name: "empty", wantCategory: true, wantGen: true},
		{name: "families", provisioner: scheduling.NewRequirements(scheduling.In(v1alpha5.LabelInstanceFamily, "t3")), wantCategory: false, wantGen: false},
		{name: "categories", provisioner: scheduling.NewRequirements(scheduling.In(v1alpha5.LabelInstanceCategory, "t")), wantCategory: false, wantGen: true},
		// A GPU Provisioner must reach g and p types.
		{name: "gpu manufacturer", provisioner: scheduling.NewRequirements(scheduling.In(v1alpha5.LabelInstanceGPUManufacturer, "nvidia")), wantCategory: false, wantGen: true},
		{name: "accelerator", provisioner: scheduling.NewRequirements(scheduling.In(v1alpha5.LabelInstanceAcceleratorManufacturer, "aws")), wantCategory: false, wantGen: true},
		// Ruling GPUs out is no reason to open every category, as in Karpenter v0.31.
		{name: "no gpus", provisioner: scheduling.NewRequirements(scheduling.DoesNotExist(v1alpha5.LabelInstanceGPUCount)), wantCategory: true, wantGen: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defaults := aws.DefaultRequirements(tc.provisioner)
			_, category := defaults.Get(v1alpha5.LabelInstanceCategory)
			_, gen := defaults.Get(v1alpha5.LabelInstanceGeneration)
			if category != tc.wantCategory || gen != tc.wantGen {
				t.Errorf("defaults %v: category default %t, generation default %t; want %t, %t", defaults, category, gen, tc.wantCategory, tc.wantGen)
			}
			if ct, ok := defaults.Get(v1alpha5.CapacityTypeLabelKey); !ok || !ct.Has(v1alpha5.CapacityTypeOnDemand) || ct.Has(v1alpha5.CapacityTypeSpot) {
				t.Errorf("defaults %v, want on-demand capacity", defaults)
			}
		})
	}
}
