package v1alpha5_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

// A condition's transition time says when its status last changed: a new reason alone keeps it,
// and an entry Karpenter v0.31 stored without one gets one.
func TestSetCondition_MovesTheTransitionTimeOnlyWithTheStatus(t *testing.T) {
	t0, t1 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), metav1.NewTime(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	conditions := []v1alpha5.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Severity: "Info"}}
	for _, step := range []struct {
		set         v1alpha5.Condition
		wantChanged bool
		wantTime    metav1.Time
	}{
		{v1alpha5.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "NotLaunched", LastTransitionTime: t0}, true, t0},
		{v1alpha5.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "NotLaunched", LastTransitionTime: t1}, false, t0},
		{v1alpha5.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "NotRegistered", LastTransitionTime: t1}, true, t0},
		{v1alpha5.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: t1}, true, t1},
	} {
		if changed := v1alpha5.SetCondition(&conditions, step.set); changed != step.wantChanged {
			t.Errorf("setting %s/%s reported changed %v, want %v", step.set.Status, step.set.Reason, changed, step.wantChanged)
		}
		got := v1alpha5.FindCondition(conditions, "Ready")
		if len(conditions) != 1 || got.Reason != step.set.Reason || got.Severity != "" || !got.LastTransitionTime.Equal(&step.wantTime) {
			t.Errorf("after %s/%s: %+v, want its transition at %s", step.set.Status, step.set.Reason, conditions, step.wantTime)
		}
	}
	if !v1alpha5.IsConditionTrue(conditions, "Ready") || v1alpha5.IsConditionTrue(conditions, "MachineDrifted") {
		t.Errorf("IsConditionTrue disagrees with %+v", conditions)
	}
}
