package disruption_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/consolidation"
	"github.com/kerf-autoscaler/kerf/pkg/disruption"
	"github.com/kerf-autoscaler/kerf/test/metricstest"
)

func TestEmptiness_MarksEmptyNodesAndDeletesThemAfterTheirTTL(t *testing.T) {
	h := newHarness(t, disruption.Options{})
	h.provisioner(func(p *v1alpha5.Provisioner) { p.Spec.TTLSecondsAfterEmpty = ttl(30) })
	empty := h.node("empty", 2)
	busy := h.node("busy", 2, "1")
	h.nodesSeen(2, 1)

	marker := disruption.NewEmptiness(h.kube, h.clock)
	for _, n := range []*corev1.Node{empty, busy} {
		if _, err := marker.Reconcile(h.ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(n)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := get(t, &corev1.Node{}, busy.Name); n.Annotations[v1alpha5.EmptinessTimestampAnnotationKey] != "" {
		t.Errorf("node with a pod was marked empty")
	}
	h.synced("emptiness timestamp in the cache", func(r client.Reader) error {
		n := &corev1.Node{}
		if err := r.Get(h.ctx, client.ObjectKeyFromObject(empty), n); err != nil {
			return err
		}
		if n.Annotations[v1alpha5.EmptinessTimestampAnnotationKey] == "" {
			return errString("not marked")
		}
		return nil
	})

	if out := h.disrupt(); out.Method != "" {
		t.Fatalf("before the TTL the pass did %+v, want nothing", out)
	}
	h.clock.Step(31 * time.Second)
	out := h.disrupt()
	if out.Method != disruption.MethodEmptiness || strings.Join(out.Nodes, ",") != empty.Name {
		t.Fatalf("after the TTL the pass did %+v, want emptiness deleting %s", out, empty.Name)
	}
	// A 2-cpu node of the harness's catalog costs $0.10/h.
	if math.Abs(out.Savings-0.10) > 1e-9 {
		t.Errorf("emptiness saves $%.4f/h, want $0.1000/h: what the deleted node cost", out.Savings)
	}
	if !deleted(t, empty.Name) || deleted(t, busy.Name) {
		t.Errorf("empty node deleted %v, busy node deleted %v; want true, false", deleted(t, empty.Name), deleted(t, busy.Name))
	}
}

func TestEmptiness_APodLandingClearsTheTimestamp(t *testing.T) {
	h := newHarness(t, disruption.Options{})
	h.provisioner(func(p *v1alpha5.Provisioner) { p.Spec.TTLSecondsAfterEmpty = ttl(30) })
	n := h.node("n", 2)
	h.nodesSeen(1, 0)
	marker := disruption.NewEmptiness(h.kube, h.clock)
	reconcileNode := func() {
		t.Helper()
		if _, err := marker.Reconcile(h.ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(n)}); err != nil {
			t.Fatal(err)
		}
	}
	reconcileNode()
	h.pod(n.Name+"-late", n.Name, "1", nil)
	h.nodesSeen(1, 1)
	kubeenvEventually(t, "timestamp cleared", func() error {
		reconcileNode()
		if got, _ := get(t, &corev1.Node{}, n.Name); got.Annotations[v1alpha5.EmptinessTimestampAnnotationKey] != "" {
			return errString("still marked")
		}
		return nil
	})
}

func TestExpiration_ReplacesBeforeItRemoves(t *testing.T) {
	h := newHarness(t, disruption.Options{})
	h.provisioner(func(p *v1alpha5.Provisioner) { p.Spec.TTLSecondsUntilExpired = ttl(60) })
	old := h.node("old", 2, "1500m")
	h.node("full", 2, "1500m")
	h.nodesSeen(2, 2)
	if out := h.disrupt(); out.Method != "" {
		t.Fatalf("before expiry the pass did %+v, want nothing", out)
	}
	h.pastExpiry(60 * time.Second)
	h.initializeReplacements(false)
	out := h.disrupt()
	// Both nodes expired; without a budget one goes at a time, the older (by name, same age) first.
	if out.Method != disruption.MethodExpiration || len(out.Nodes) != 1 || len(out.Replacements) != 1 {
		t.Fatalf("pass did %+v, want one expired node replaced by one new machine", out)
	}
	if out.Nodes[0] != old.Name && !strings.HasSuffix(out.Nodes[0], "-full") {
		t.Fatalf("deleted %v", out.Nodes)
	}
	m, ok := get(t, &v1alpha5.Machine{}, out.Replacements[0])
	if !ok || m.Labels[v1alpha5.ProvisionerNameLabelKey] != h.prefix {
		t.Errorf("replacement machine %s missing or not the Provisioner's: %+v", out.Replacements[0], m.Labels)
	}
	if !deleted(t, out.Nodes[0]) {
		t.Errorf("expired node %s was not deleted", out.Nodes[0])
	}
	if ev := h.recorder.find(out.Nodes[0], disruption.EventTerminating); len(ev) == 0 {
		t.Errorf("no %s event on the node", disruption.EventTerminating)
	}
	// As Karpenter v0.31 counted them: one machine disrupted by expiration, one created to replace
	// it and the old one terminated, both for "expiration/replace", one such action performed.
	if v, _ := metricstest.Value(t, h.registry, "karpenter_machines_disrupted", map[string]string{"type": "expiration", "provisioner": h.prefix}); v != 1 {
		t.Errorf("karpenter_machines_disrupted{type=expiration} = %v, want 1", v)
	}
	if v, _ := metricstest.Value(t, h.registry, "karpenter_deprovisioning_actions_performed",
		map[string]string{"action": "expiration/replace", "deprovisioner": "expiration"}); v != 1 {
		t.Errorf("karpenter_deprovisioning_actions_performed{action=expiration/replace} = %v, want 1", v)
	}
	if n := h.created.reasons[h.prefix+"/expiration/replace"]; n != 1 {
		t.Errorf("replacements counted as created for expiration/replace: %d (all: %v), want 1", n, h.created.reasons)
	}
	oldMachine, _ := get(t, &v1alpha5.Machine{}, out.Nodes[0]+"-machine")
	if got := h.created.terminatingReason(oldMachine.UID); oldMachine.UID == "" || got != "expiration/replace" {
		t.Errorf("the expired node's machine goes for %q, want expiration/replace", got)
	}
}

func TestReplacementFailure_AbandonsTheCommandAndUntaints(t *testing.T) {
	h := newHarness(t, disruption.Options{})
	h.provisioner(func(p *v1alpha5.Provisioner) { p.Spec.TTLSecondsUntilExpired = ttl(60) })
	n := h.node("n", 2, "1500m")
	h.nodesSeen(1, 1)
	h.pastExpiry(60 * time.Second)
	h.initializeReplacements(true)
	out := h.disrupt()
	if out.Abandoned == "" {
		t.Fatalf("pass did %+v, want the command abandoned", out)
	}
	if deleted(t, n.Name) || tainted(t, n.Name) {
		t.Errorf("node deleted %v, tainted %v; want it kept and untainted", deleted(t, n.Name), tainted(t, n.Name))
	}
	if ev := h.recorder.find(n.Name, disruption.EventAbandoned); len(ev) == 0 {
		t.Errorf("no %s event", disruption.EventAbandoned)
	}
}

func TestBlocked_ADoNotEvictPodKeepsAnExpiredNode(t *testing.T) {
	h := newHarness(t, disruption.Options{})
	h.provisioner(func(p *v1alpha5.Provisioner) { p.Spec.TTLSecondsUntilExpired = ttl(60) })
	n := h.node("n", 2)
	h.pod(n.Name+"-batch", n.Name, "1", func(p *corev1.Pod) {
		p.Annotations = map[string]string{v1alpha5.DoNotEvictPodAnnotationKey: "true"}
	})
	h.nodesSeen(1, 1)
	h.pastExpiry(60 * time.Second)
	if out := h.disrupt(); out.Method != "" {
		t.Fatalf("pass did %+v, want nothing", out)
	}
	ev := h.recorder.find(n.Name, disruption.EventBlocked)
	if len(ev) != 1 || !strings.Contains(ev[0], "may not be evicted") {
		t.Errorf("events %q, want one %s naming the pod", ev, disruption.EventBlocked)
	}
	h.disrupt()
	if ev := h.recorder.find(n.Name, disruption.EventBlocked); len(ev) != 1 {
		t.Errorf("the same reason was Evented again: %q", ev)
	}
}

// A PodDisruptionBudget that allows one disruption lets an expired node with two of its pods go
// (the drain evicts them in turn, as in v0.31); one that allows none keeps it, and says which pod.
func TestBlocked_APodDisruptionBudgetAllowingNoneKeepsAnExpiredNode(t *testing.T) {
	for _, allowed := range []int32{1, 0} {
		t.Run(fmt.Sprintf("allows %d", allowed), func(t *testing.T) {
			h := newHarness(t, disruption.Options{})
			h.provisioner(func(p *v1alpha5.Provisioner) { p.Spec.TTLSecondsUntilExpired = ttl(60) })
			n := h.node("n", 4, "1", "1")
			pdb := &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: h.prefix},
				Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)),
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": h.prefix}}},
			}
			if err := env.Client.Create(h.ctx, pdb); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = env.Client.Delete(context.Background(), pdb) })
			// No disruption controller runs here: the test writes what it would.
			pdb.Status = policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed, CurrentHealthy: 2, DesiredHealthy: 1, ExpectedPods: 2}
			if err := env.Client.Status().Update(h.ctx, pdb); err != nil {
				t.Fatal(err)
			}
			h.nodesSeen(1, 2)
			h.synced("the budget's status in the cache", func(r client.Reader) error {
				got := &policyv1.PodDisruptionBudget{}
				if err := r.Get(h.ctx, client.ObjectKeyFromObject(pdb), got); err != nil {
					return err
				}
				if got.Status.ExpectedPods != 2 {
					return errString("status not seen yet")
				}
				return nil
			})
			h.pastExpiry(60 * time.Second)
			h.initializeReplacements(false)
			out := h.disrupt()
			blocked := h.recorder.find(n.Name, disruption.EventBlocked)
			if allowed == 0 {
				if out.Method != "" || deleted(t, n.Name) {
					t.Fatalf("pass did %+v, want nothing: the budget allows no disruption", out)
				}
				if len(blocked) != 1 || !strings.Contains(blocked[0], string(consolidation.ReasonPDBViolation)) {
					t.Errorf("events %q, want one %s with %s", blocked, disruption.EventBlocked, consolidation.ReasonPDBViolation)
				}
				return
			}
			if out.Method != disruption.MethodExpiration || !deleted(t, n.Name) {
				t.Errorf("pass did %+v (blocked: %q), want the node replaced: the drain evicts its two pods one at a time", out, blocked)
			}
		})
	}
}

func TestConsolidation_DeletesANodeWhosePodsFitElsewhere(t *testing.T) {
	h := newHarness(t, disruption.Options{})
	h.provisioner(func(p *v1alpha5.Provisioner) { p.Spec.Consolidation = &v1alpha5.Consolidation{Enabled: ptr.To(true)} })
	h.node("a", 4, "1", "500m")
	h.node("b", 4, "1")
	h.nodesSeen(2, 3)
	out := h.disrupt()
	if out.Method != disruption.MethodConsolidation || len(out.Nodes) != 1 || len(out.Replacements) != 0 {
		t.Fatalf("pass did %+v, want consolidation deleting one node", out)
	}
	if !deleted(t, out.Nodes[0]) {
		t.Errorf("node %s not deleted", out.Nodes[0])
	}
}

func TestConsolidation_ACommandNoLongerValidAfterTheWaitIsDropped(t *testing.T) {
	h := newHarness(t, disruption.Options{ValidationDelay: 15 * time.Second})
	h.provisioner(func(p *v1alpha5.Provisioner) { p.Spec.Consolidation = &v1alpha5.Consolidation{Enabled: ptr.To(true)} })
	a := h.node("a", 4, "1")
	b := h.node("b", 4, "1")
	h.nodesSeen(2, 2)
	done := make(chan disruption.Outcome, 1)
	failed := make(chan error, 1)
	go func() {
		out, err := h.controller.Disrupt(h.ctx)
		failed <- err
		done <- out
	}()
	kubeenvEventually(t, "the command waits", func() error {
		if !h.clock.HasWaiters() {
			return errString("not waiting yet")
		}
		return nil
	})
	chosen := a.Name
	if tainted(t, b.Name) {
		chosen = b.Name
	}
	if !tainted(t, chosen) {
		t.Fatalf("no candidate was tainted while the command waited")
	}
	// While the command waits, a pod that may not be evicted lands on the chosen node.
	h.pod(chosen+"-batch", chosen, "100m", func(p *corev1.Pod) {
		p.Annotations = map[string]string{v1alpha5.DoNotEvictPodAnnotationKey: "true"}
	})
	h.nodesSeen(2, 3)
	h.clock.Step(15 * time.Second)
	if err := <-failed; err != nil {
		t.Fatal(err)
	}
	out := <-done
	if out.Abandoned == "" {
		t.Fatalf("pass did %+v, want the command dropped", out)
	}
	if deleted(t, chosen) || tainted(t, chosen) {
		t.Errorf("node %s deleted %v, tainted %v; want kept, untainted", chosen, deleted(t, chosen), tainted(t, chosen))
	}
}

// One Provisioner whose budget allows nothing must not keep another's nodes from consolidating:
// the engine plans around its nodes.
func TestConsolidation_AFrozenProvisionerDoesNotStopTheOthers(t *testing.T) {
	h := newHarness(t, disruption.Options{ValidationDelay: 15 * time.Second})
	enabled := func(p *v1alpha5.Provisioner) { p.Spec.Consolidation = &v1alpha5.Consolidation{Enabled: ptr.To(true)} }
	h.namedProvisioner(h.prefix+"-frozen", func(p *v1alpha5.Provisioner) {
		enabled(p)
		p.Annotations = map[string]string{disruption.BudgetAnnotationKey: "0"}
	})
	h.provisioner(enabled)
	frozen := h.nodeOf(h.prefix+"-frozen", "frozen", 4, "500m")
	h.node("a", 4, "1")
	h.node("b", 4, "1")
	h.nodesSeen(3, 3)
	out := h.disruptStepping(15 * time.Second)
	if out.Method != disruption.MethodConsolidation || len(out.Nodes) == 0 || slices.Contains(out.Nodes, frozen.Name) {
		t.Fatalf("pass did %+v, want the other Provisioner's nodes consolidated (their pods may move to the frozen node)", out)
	}
	if deleted(t, frozen.Name) {
		t.Errorf("the frozen Provisioner's node was deleted")
	}
}

// A budget smaller than the number of empty nodes: the command keeps as many as it allows, and
// still holds when checked again after the validation delay.
func TestConsolidation_ABudgetTrimsEmptyNodesAndTheRestStillRuns(t *testing.T) {
	h := newHarness(t, disruption.Options{ValidationDelay: 15 * time.Second})
	h.provisioner(func(p *v1alpha5.Provisioner) {
		p.Spec.Consolidation = &v1alpha5.Consolidation{Enabled: ptr.To(true)}
		p.Annotations = map[string]string{disruption.BudgetAnnotationKey: "1"}
	})
	h.node("busy", 4, "1")
	for _, s := range []string{"a", "b", "c"} {
		h.node(s, 2)
	}
	h.nodesSeen(4, 1)
	out := h.disruptStepping(15 * time.Second)
	if out.Abandoned != "" || len(out.Nodes) != 1 {
		t.Fatalf("pass did %+v, want one empty node deleted", out)
	}
}

// A Node without the termination finalizer is not Kerf's to remove (deleting it would skip the
// drain and leave the instance running), whatever its labels say.
func TestEmptiness_NeverDeletesANodeWithoutTheTerminationFinalizer(t *testing.T) {
	h := newHarness(t, disruption.Options{})
	h.provisioner(func(p *v1alpha5.Provisioner) { p.Spec.TTLSecondsAfterEmpty = ttl(30) })
	n := h.node("n", 2)
	n.Finalizers = nil
	n.Annotations = map[string]string{v1alpha5.EmptinessTimestampAnnotationKey: h.clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}
	if err := env.Client.Update(h.ctx, n); err != nil {
		t.Fatal(err)
	}
	h.synced("node without finalizer in the cache", func(r client.Reader) error {
		got := &corev1.Node{}
		if err := r.Get(h.ctx, client.ObjectKeyFromObject(n), got); err != nil {
			return err
		}
		if len(got.Finalizers) > 0 {
			return errString("stale")
		}
		return nil
	})
	if out := h.disrupt(); out.Method != "" || deleted(t, n.Name) {
		t.Fatalf("pass did %+v, want nothing", out)
	}
}

func TestBudgets_CapAndWindowAndMalformedAnnotations(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		deleted     int
		event       string // reason of an Event expected on the Provisioner or a node
	}{
		{name: "no budget removes every empty node", deleted: 3},
		{name: "a budget of one", annotations: map[string]string{disruption.BudgetAnnotationKey: "1"}, deleted: 1},
		{name: "a percentage rounds up", annotations: map[string]string{disruption.BudgetAnnotationKey: "50%"}, deleted: 2},
		{name: "a closed window", deleted: 0, event: disruption.EventBlocked, annotations: map[string]string{
			// Never open now: a one-minute window starting at the minute that just passed is
			// over, and the next one is a day away.
			disruption.ScheduleAnnotationKey: "@yearly", disruption.DurationAnnotationKey: "1m",
			disruption.TimeZoneAnnotationKey: "Europe/Berlin"}},
		{name: "a malformed budget is the default, never unlimited", annotations: map[string]string{disruption.BudgetAnnotationKey: "lots"},
			deleted: 3, event: disruption.EventInvalidBudget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, disruption.Options{})
			p := h.provisioner(func(p *v1alpha5.Provisioner) {
				p.Spec.TTLSecondsAfterEmpty = ttl(30)
				p.Annotations = tt.annotations
			})
			var names []string
			for _, s := range []string{"a", "b", "c"} {
				n := h.node(s, 2)
				n.Annotations = map[string]string{v1alpha5.EmptinessTimestampAnnotationKey: h.clock.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}
				if err := env.Client.Update(h.ctx, n); err != nil {
					t.Fatal(err)
				}
				names = append(names, n.Name)
			}
			h.nodesSeen(3, 0)
			h.synced("annotations in the cache", func(r client.Reader) error {
				for _, name := range names {
					n := &corev1.Node{}
					if err := r.Get(h.ctx, client.ObjectKey{Name: name}, n); err != nil {
						return err
					}
					if n.Annotations[v1alpha5.EmptinessTimestampAnnotationKey] == "" {
						return errString("not annotated yet")
					}
				}
				return nil
			})
			out := h.disrupt()
			if len(out.Nodes) != tt.deleted {
				t.Errorf("pass deleted %v, want %d node(s)", out.Nodes, tt.deleted)
			}
			if tt.event != "" {
				found := len(h.recorder.find(p.Name, tt.event))
				for _, name := range names {
					found += len(h.recorder.find(name, tt.event))
				}
				if found == 0 {
					t.Errorf("no %s event; events: %q", tt.event, h.recorder.events)
				}
			}
		})
	}
}

func TestDrift_ReplacesNodesThatNoLongerMatch(t *testing.T) {
	tests := []struct {
		name     string
		disabled bool
		// drift changes the world after the node launched.
		drift  func(h *harness, p *v1alpha5.Provisioner, n *corev1.Node)
		reason string // in the Terminating Event; empty: the node stays
	}{{
		name:   "the cloud provider says the image changed",
		drift:  func(h *harness, _ *v1alpha5.Provisioner, n *corev1.Node) { h.cloudDrift(n, cloudprovider.DriftAMI) },
		reason: string(cloudprovider.DriftAMI),
	}, {
		name:     "drift is off unless enabled",
		disabled: true,
		drift:    func(h *harness, _ *v1alpha5.Provisioner, n *corev1.Node) { h.cloudDrift(n, cloudprovider.DriftAMI) },
	}, {
		name: "a static field of the Provisioner changed",
		drift: func(h *harness, p *v1alpha5.Provisioner, _ *corev1.Node) {
			h.updateProvisioner(p, func(p *v1alpha5.Provisioner) { p.Spec.Labels = map[string]string{"team": "b"} })
		},
		reason: disruption.DriftProvisionerStatic,
	}, {
		name: "a behavioural field of the Provisioner is not drift",
		drift: func(h *harness, p *v1alpha5.Provisioner, _ *corev1.Node) {
			h.updateProvisioner(p, func(p *v1alpha5.Provisioner) { p.Spec.Weight = ptr.To[int32](50) })
		},
	}, {
		name: "the node's instance type left the requirements",
		drift: func(h *harness, p *v1alpha5.Provisioner, n *corev1.Node) {
			h.updateProvisioner(p, func(p *v1alpha5.Provisioner) {
				p.Spec.Requirements = []v1alpha5.NodeSelectorRequirement{{Key: v1alpha5.LabelInstanceType,
					Operator: corev1.NodeSelectorOpNotIn, Values: []string{n.Labels[v1alpha5.LabelInstanceType]}}}
			})
		},
		reason: disruption.DriftRequirements,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, disruption.Options{DriftEnabled: !tt.disabled})
			p := h.provisioner(nil)
			n := h.node("n", 2, "1")
			h.nodesSeen(1, 1)
			tt.drift(h, p, n)
			h.initializeReplacements(false)
			out := h.disrupt()
			if tt.reason == "" {
				if out.Method != "" || deleted(t, n.Name) {
					t.Fatalf("pass did %+v, want nothing", out)
				}
				return
			}
			if out.Method != disruption.MethodDrift || len(out.Replacements) != 1 || !deleted(t, n.Name) {
				t.Fatalf("pass did %+v (node deleted %v), want the node replaced for drift", out, deleted(t, n.Name))
			}
			if ev := h.recorder.find(n.Name, disruption.EventTerminating); len(ev) != 1 || !strings.Contains(ev[0], tt.reason) {
				t.Errorf("events %q, want one %s naming %s", ev, disruption.EventTerminating, tt.reason)
			}
			if v, _ := metricstest.Value(t, h.registry, "karpenter_machines_drifted", map[string]string{"type": tt.reason, "provisioner": p.Name}); v != 1 {
				t.Errorf("karpenter_machines_drifted{type=%s} = %v, want 1", tt.reason, v)
			}
		})
	}
}

func TestStart_RemovesTaintsLeftByAnEarlierRun(t *testing.T) {
	h := newHarness(t, disruption.Options{})
	h.provisioner(nil)
	n := h.node("n", 2, "1")
	n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: disruption.DisruptionTaintKey, Value: "disrupting", Effect: corev1.TaintEffectNoSchedule})
	if err := env.Client.Update(h.ctx, n); err != nil {
		t.Fatal(err)
	}
	h.synced("taint in the cache", func(r client.Reader) error {
		got := &corev1.Node{}
		if err := r.Get(h.ctx, client.ObjectKeyFromObject(n), got); err != nil {
			return err
		}
		if len(got.Spec.Taints) == 0 {
			return errString("no taint yet")
		}
		return nil
	})
	go func() { _ = h.controller.Start(h.ctx) }()
	kubeenvEventually(t, "taint removed", func() error {
		if tainted(t, n.Name) {
			return errString("still tainted")
		}
		return nil
	})
}
