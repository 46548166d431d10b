package lifecycle_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
)

// The nodes of one plan open to pods together: a Ready node keeps the batch gate until every
// Machine of its batch has a Ready node, then all lose it at once; a batch member that never comes
// holds the others back no longer than the gate's timeout.
func TestReconcile_TheNodesOfABatchOpenTogether(t *testing.T) {
	for _, tc := range []struct {
		name       string
		secondUp   bool
		notReady   bool // the second node is Ready, but the not-ready taint is still on it
		wait       time.Duration
		wantOpened bool
	}{
		{name: "the first node waits for the second", secondUp: false, wantOpened: false},
		{name: "a Ready node still tainted not-ready is not ready for pods", secondUp: true, notReady: true, wantOpened: false},
		{name: "both open once the second is Ready", secondUp: true, wantOpened: true},
		{name: "the first opens alone after the timeout", secondUp: false, wait: lifecycle.DefaultBatchOpenTimeout + time.Second, wantOpened: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for _, name := range []string{"first", "second"} {
				h.createMachine(name, withInstanceType("m5.large"), withLabels(v1alpha5.BatchLabelKey, "b1"))
				h.mustReconcile(name)
			}
			first := h.registerNode(h.machine("first"), nodeReady(true))
			h.mustReconcile("first")
			if !gated(h.node(first.Name)) {
				t.Fatalf("node %s taints %v: want the batch gate from registration", first.Name, h.node(first.Name).Spec.Taints)
			}
			if tc.secondUp {
				h.registerNode(h.machine("second"), nodeReady(true))
				if tc.notReady {
					h.updateNode("node-second", func(n *corev1.Node) {
						n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule})
					}, false)
				}
				h.mustReconcile("second")
			}
			h.clock.Step(tc.wait)
			h.mustReconcile("first")
			h.mustReconcile("first")
			if opened := !gated(h.node(first.Name)); opened != tc.wantOpened {
				t.Fatalf("node %s opened: %v, want %v (taints %v)", first.Name, opened, tc.wantOpened, h.node(first.Name).Spec.Taints)
			}
			if tc.secondUp && tc.wantOpened && gated(h.node("node-second")) {
				t.Errorf("node-second kept the gate while node %s opened", first.Name)
			}
			want := metav1.ConditionUnknown
			if tc.wantOpened {
				want = metav1.ConditionTrue
			}
			if got := condition(h.machine("first"), v1alpha5.MachineInitialized).Status; got != want {
				t.Errorf("machine first initialized %s, want %s: a gated node is not ready for its pods", got, want)
			}
		})
	}
}

func gated(n *corev1.Node) bool {
	return hasTaint(n.Spec.Taints, v1alpha5.BatchGateTaintKey, corev1.TaintEffectNoSchedule) > 0
}

// With the batch open timeout at 0 the gate is off: a node of a batch opens once it is ready.
func TestReconcile_WithoutTheGateANodeOfABatchOpensAlone(t *testing.T) {
	h := newHarness(t)
	h.controller = h.controller.WithBatchOpenTimeout(0)
	for _, name := range []string{"first", "second"} {
		h.createMachine(name, withInstanceType("m5.large"), withLabels(v1alpha5.BatchLabelKey, "b1"))
		h.mustReconcile(name)
	}
	first := h.registerNode(h.machine("first"), nodeReady(true))
	h.mustReconcile("first")
	h.mustReconcile("first")
	if gated(h.node(first.Name)) {
		t.Errorf("node %s taints %v: want no batch gate", first.Name, h.node(first.Name).Spec.Taints)
	}
	if got := condition(h.machine("first"), v1alpha5.MachineInitialized).Status; got != metav1.ConditionTrue {
		t.Errorf("machine first initialized %s, want True without waiting for its batch", got)
	}
}

// Opening a batch tells the kube-scheduler where the plan put each pod still pending — its
// nominated node — so it does not pack the batch its own way and leave pods without room. A pod
// under a hard topology spread is left to the kube-scheduler's scoring, and nothing is hinted
// while the batch is closed.
func TestReconcile_OpeningABatchHintsThePlannedPods(t *testing.T) {
	h := newHarness(t)
	spread := func(p *corev1.Pod) {
		p.Labels = map[string]string{"app": "web"}
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelHostname,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: p.Labels}}}
	}
	planned := plannedPods{
		"first":  {h.pendingPod("a").Name, h.pendingPod("spread", spread).Name, h.bindPod("elsewhere", 0).Name, "gone"},
		"second": {h.pendingPod("b").Name, h.pendingPod("preempting").Name},
	}
	h.setNominatedNode("preempting", "node-elsewhere")
	h.controller = h.controller.WithPlannedPods(planned)
	for _, name := range []string{"first", "second"} {
		h.createMachine(name, withInstanceType("m5.large"), withLabels(v1alpha5.BatchLabelKey, "b1"))
		h.mustReconcile(name)
	}
	first := h.registerNode(h.machine("first"), nodeReady(true))
	h.mustReconcile("first")
	if got := h.pod("a").Status.NominatedNodeName; got != "" {
		t.Fatalf("pod a nominated to %q while its batch is closed: the kube-scheduler would clear it on a failed try", got)
	}
	second := h.registerNode(h.machine("second"), nodeReady(true))
	h.mustReconcile("second")

	for pod, want := range map[string]string{"a": first.Name, "b": second.Name, "spread": "", "elsewhere-pod-0": "", "preempting": "node-elsewhere"} {
		if got := h.pod(pod).Status.NominatedNodeName; got != want {
			t.Errorf("pod %s nominated to %q, want %q", pod, got, want)
		}
	}
	if gated(h.node(first.Name)) || gated(h.node(second.Name)) {
		t.Errorf("the batch did not open")
	}

	// The kube-scheduler clears the name of a pod that fit nowhere yet (its affinity to pods not
	// bound yet): hinted again while the batch's pods are being placed, and no longer after.
	for _, wait := range []time.Duration{0, 20 * time.Second} {
		h.clock.Step(wait)
		h.setNominatedNode("a", "")
		h.mustReconcile("first")
		want := map[bool]string{true: first.Name, false: ""}[wait == 0]
		if got := h.pod("a").Status.NominatedNodeName; got != want {
			t.Errorf("%s after the batch opened, pod a cleared and nominated to %q, want %q", wait, got, want)
		}
	}
}

// setNominatedNode writes a pod's nominated node name, as the kube-scheduler does.
func (h *harness) setNominatedNode(pod, node string) {
	h.t.Helper()
	p := h.pod(pod)
	stored := p.DeepCopy()
	p.Status.NominatedNodeName = node
	if err := env.Client.Status().Patch(h.ctx, p, client.MergeFrom(stored)); err != nil {
		h.t.Fatal(err)
	}
	h.track(p)
}

// plannedPods is a plan: each Machine's pods in namespace default.
type plannedPods map[string][]string

func (p plannedPods) PlannedOn(machine *v1alpha5.Machine) []types.NamespacedName {
	var keys []types.NamespacedName
	for _, name := range p[machine.Name] {
		keys = append(keys, types.NamespacedName{Namespace: "default", Name: name})
	}
	return keys
}
