package lifecycle_test

import (
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
)

// Two minutes after its node is initialized, a Machine Kerf planned pods onto records how many pods
// its node runs (DaemonSet pods aside) — once, however often it is reconciled — and a node that
// received none is counted as such: the waste of a plan the kube-scheduler did not follow shows.
func TestReconcile_RecordsWhetherThePlannedNodeReceivedPods(t *testing.T) {
	for _, tc := range []struct {
		name        string
		pods        int
		wantOutcome string
	}{
		{name: "the kube-scheduler placed the pods elsewhere", pods: 0, wantOutcome: "no_pods"},
		{name: "the pods landed", pods: 2, wantOutcome: "received_pods"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			name := "planned-" + strconv.Itoa(tc.pods)
			h.createMachine(name, withInstanceType("m5.large"), func(m *v1alpha5.Machine) {
				m.Annotations = map[string]string{v1alpha5.PlannedPodsAnnotationKey: "3"}
			})
			h.mustReconcile(name)
			node := h.registerNode(h.machine(name), nodeReady(true))
			h.mustReconcile(name)
			h.mustReconcile(name)
			for i := range tc.pods {
				h.bindPod(node.Name, i)
			}
			// A DaemonSet pod is not one the plan launched the node for.
			h.bindPod(node.Name, 99, func(p *corev1.Pod) {
				p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "ds", Controller: ptr.To(true)}}
			})
			if got := h.machine(name).Annotations[v1alpha5.ReceivedPodsAnnotationKey]; got != "" {
				t.Fatalf("recorded %q before the window passed", got)
			}
			h.clock.Step(lifecycle.ReceivedPodsWindow + time.Second)
			h.mustReconcile(name)
			h.mustReconcile(name)
			if got, want := h.machine(name).Annotations[v1alpha5.ReceivedPodsAnnotationKey], tc.pods; got != strconv.Itoa(want) {
				t.Errorf("%s = %q, want %d", v1alpha5.ReceivedPodsAnnotationKey, got, want)
			}
			expectMetric(t, h.registry, "karpenter_machines_received_pods", map[string]string{"provisioner": "default", "outcome": tc.wantOutcome}, 1)
		})
	}
}
