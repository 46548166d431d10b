package lifecycle_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
)

// The counters a dashboard plots move once per Machine and step, whatever the number of
// reconciles, and say why each Machine went.
func TestMetrics_CountEachStepOfAMachinesLifeOnce(t *testing.T) {
	byProvisioner := map[string]string{"provisioner": "default"}
	reason := func(r string) map[string]string { return map[string]string{"provisioner": "default", "reason": r} }
	errorClass := func(c string) map[string]string { return map[string]string{"provisioner": "default", "error": c} }
	for _, tc := range []struct {
		name string
		life func(h *harness)
		want map[string]map[string]float64 // metric name to label set (as key) to value
	}{
		{
			name: "launched, registered, initialized, deleted",
			life: func(h *harness) {
				h.createMachine("life", withInstanceType("m5.large"))
				h.mustReconcile("life")
				h.mustReconcile("life")
				h.registerNode(h.machine("life"), nodeReady(true))
				h.mustReconcile("life")
				h.mustReconcile("life")
				h.clock.Step(time.Minute) // EC2 describes the instance by now
				if err := env.Client.Delete(h.ctx, h.machine("life")); err != nil {
					h.t.Fatal(err)
				}
				h.mustReconcile("life")
				h.releaseNode("node-life")
				h.mustReconcile("life")
				h.mustReconcile("life")
			},
			want: map[string]map[string]float64{
				"karpenter_machines_launched":    {"": 1},
				"karpenter_machines_registered":  {"": 1},
				"karpenter_machines_initialized": {"": 1},
				"karpenter_machines_terminated":  {lifecycle.TerminationReasonDeleted: 1, lifecycle.TerminationReasonLiveness: 0},
			},
		},
		{
			name: "disrupted: deleted for the reason disruption recorded",
			life: func(h *harness) {
				h.createMachine("old", withInstanceType("m5.large"))
				h.mustReconcile("old")
				h.mustReconcile("old")
				h.registerNode(h.machine("old"), nodeReady(true))
				h.mustReconcile("old")
				h.clock.Step(time.Minute)
				h.metrics.Terminating(h.machine("old").UID, "consolidation/delete")
				if err := env.Client.Delete(h.ctx, h.machine("old")); err != nil {
					h.t.Fatal(err)
				}
				h.mustReconcile("old")
				h.releaseNode("node-old")
				h.mustReconcile("old")
				h.mustReconcile("old")
			},
			want: map[string]map[string]float64{
				"karpenter_machines_terminated": {"consolidation/delete": 1, lifecycle.TerminationReasonDeleted: 0},
			},
		},
		{
			name: "out of capacity in two offerings",
			life: func(h *harness) {
				h.cloud.CreateErrors = []error{iceError(
					cloudprovider.UnavailableOffering{InstanceType: "m5.large", Zone: zoneA, CapacityType: v1alpha5.CapacityTypeSpot},
					cloudprovider.UnavailableOffering{InstanceType: "m5.large", Zone: zoneB, CapacityType: v1alpha5.CapacityTypeSpot})}
				h.createMachine("ice", withInstanceType("m5.large"))
				h.mustReconcile("ice")
				h.mustReconcile("ice")
			},
			want: map[string]map[string]float64{
				"karpenter_machines_launched":                   {"": 0},
				"karpenter_machines_launch_failures":            {"insufficient_capacity": 1},
				"karpenter_machines_terminated":                 {lifecycle.TerminationReasonInsufficientCapacity: 1},
				"karpenter_cloudprovider_unavailable_offerings": {"": 2},
			},
		},
		{
			name: "throttled, then launched, never registered",
			life: func(h *harness) {
				h.cloud.CreateErrors = []error{&smithy.GenericAPIError{Code: "RequestLimitExceeded"}, errors.New("connection reset")}
				h.createMachine("slow", withInstanceType("m5.large"))
				for range 2 {
					if _, err := h.reconcile("slow"); err == nil {
						h.t.Fatal("reconcile succeeded, want the queued launch error")
					}
				}
				h.mustReconcile("slow")
				h.clock.Step(lifecycle.DefaultRegistrationTTL)
				h.mustReconcile("slow")
				h.mustReconcile("slow")
				h.mustReconcile("slow")
			},
			want: map[string]map[string]float64{
				"karpenter_machines_launched":        {"": 1},
				"karpenter_machines_registered":      {"": 0},
				"karpenter_machines_launch_failures": {"RequestLimitExceeded": 1, "other": 1},
				"karpenter_machines_terminated":      {lifecycle.TerminationReasonLiveness: 1, lifecycle.TerminationReasonDeleted: 0},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tc.life(h)
			for name, series := range tc.want {
				for key, want := range series {
					labels := byProvisioner
					switch name {
					case "karpenter_machines_terminated":
						labels = reason(key)
					case "karpenter_machines_launch_failures":
						labels = errorClass(key)
					case "karpenter_cloudprovider_unavailable_offerings":
						labels = nil
					}
					expectMetric(t, h.registry, name, labels, want)
				}
			}
		})
	}
}
