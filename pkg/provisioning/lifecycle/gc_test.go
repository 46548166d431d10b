package lifecycle_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
	"github.com/kerf-autoscaler/kerf/test/metricstest"
)

// launchUntracked launches an instance the way a controller that then lost track of it would:
// through the cloud, for a Machine the API server does not hold (or holds without its status).
func (h *harness) launchUntracked(m *v1alpha5.Machine) string {
	h.t.Helper()
	launched, err := h.cloud.CloudProvider.Create(h.ctx, m)
	if err != nil {
		h.t.Fatal(err)
	}
	return launched.Status.ProviderID
}

func TestGarbageCollect_TerminatesUntrackedInstancesAndDeletesMachinesWhoseInstanceIsGone(t *testing.T) {
	grace := lifecycle.DefaultGarbageCollectionGracePeriod
	h := newHarness(t)
	gc := lifecycle.NewGarbageCollector(cached, h.cloud, h.clock, grace, h.metrics)

	// An instance whose Machine was removed by force: nothing in the cluster names it.
	leaked := h.launchUntracked(&v1alpha5.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "force-deleted", UID: types.UID("force-deleted"), Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: "default"}},
		Spec:       v1alpha5.MachineSpec{Requirements: []corev1.NodeSelectorRequirement{{Key: v1alpha5.LabelInstanceType, Operator: corev1.NodeSelectorOpIn, Values: []string{"m5.large"}}}},
	})
	// A launch whose status write was lost: the Machine names the instance only by its name.
	lostStatus := h.launchUntracked(h.createMachine("lost-status", withInstanceType("m5.large")))
	h.createMachine("tracked", withInstanceType("m5.large"))
	h.mustReconcile("tracked")
	tracked := h.machine("tracked").Status.ProviderID
	// A second instance of a Machine that has its own: a launch retried past EC2's consistency
	// window, whose tag lookup missed the first. Its name matches a live Machine, not its ID.
	duplicate := h.launchUntracked(&v1alpha5.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "tracked", UID: types.UID("tracked-second-launch"), Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: "default"}},
		Spec:       v1alpha5.MachineSpec{Requirements: []corev1.NodeSelectorRequirement{{Key: v1alpha5.LabelInstanceType, Operator: corev1.NodeSelectorOpIn, Values: []string{"m5.large"}}}},
	})
	// A launched Machine whose instance was terminated behind Kerf's back.
	h.createMachine("instance-gone", withInstanceType("m5.large"))
	h.mustReconcile("instance-gone")
	if err := h.cloud.CloudProvider.Delete(h.ctx, h.machine("instance-gone")); err != nil {
		t.Fatal(err)
	}
	// A Machine still launching: the cloud has nothing for it yet.
	h.createMachine("launching", withInstanceType("m5.large"))

	type want struct {
		instances []string
		machines  map[string]bool // name to deleting
	}
	for _, step := range []struct {
		name  string
		after time.Duration
		want  want
	}{
		{"within the grace period, just launched", 0, want{
			instances: []string{leaked, lostStatus, tracked, duplicate},
			machines:  map[string]bool{"lost-status": false, "tracked": false, "instance-gone": false, "launching": false},
		}},
		{"past the grace period", grace, want{
			instances: []string{lostStatus, tracked},
			machines:  map[string]bool{"lost-status": false, "tracked": false, "instance-gone": true, "launching": false},
		}},
	} {
		t.Run(step.name, func(t *testing.T) {
			h.clock.Step(step.after)
			if err := gc.Collect(h.ctx); err != nil {
				t.Fatal(err)
			}
			h.sync()
			instances, err := h.cloud.List(h.ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, inst := range instances {
				got = append(got, inst.Status.ProviderID)
			}
			if fmt.Sprint(got) != fmt.Sprint(sorted(step.want.instances)) {
				t.Errorf("instances %v, want %v", got, sorted(step.want.instances))
			}
			for name, wantDeleting := range step.want.machines {
				m := h.machine(name)
				if m == nil || !m.DeletionTimestamp.IsZero() != wantDeleting {
					t.Errorf("machine %s: %v, want present and deleting=%v", name, m, wantDeleting)
				}
			}
		})
	}

	// The finalizer lets the orphaned Machine go; every collection counts under "garbage_collected": the leaked
	// and the duplicate instances, the orphaned Machine.
	h.mustReconcile("instance-gone")
	if m := h.machine("instance-gone"); m != nil {
		t.Errorf("machine instance-gone still exists with finalizers %v", m.Finalizers)
	}
	expectMetric(t, h.registry, "karpenter_machines_terminated", map[string]string{"provisioner": "default", "reason": lifecycle.TerminationReasonGarbageCollected}, 3)
}

func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// expectMetric fails unless the series has this value in what registry serves.
func expectMetric(t *testing.T, registry prometheus.Gatherer, name string, labels map[string]string, want float64) {
	t.Helper()
	if got := metricValue(t, registry, name, labels); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// metricValue reads one counter or gauge series; 0 when absent, as Prometheus reads a counter
// never incremented.
func metricValue(t *testing.T, registry prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := metricstest.Value(t, registry, name, labels)
	return v
}
