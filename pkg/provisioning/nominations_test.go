package provisioning

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// A pod planned onto a node on its way counts as already there in the next batch — whether the
// node is still a launching Machine or registered and waiting for its batch — and is planned
// afresh once that node is initialized, its Machine gone, or the nomination too old.
func TestNominations_HoldPodsOnNodesOnTheirWay(t *testing.T) {
	start := time.Now()
	initialized := []v1alpha5.Condition{{Type: v1alpha5.MachineInitialized, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(start)}}
	for _, tc := range []struct {
		name    string
		machine *v1alpha5.Machine // nil: gone
		node    string            // the Snapshot node the pod is nominated to
		wait    time.Duration
		held    bool
		recheck time.Duration
	}{
		{name: "a launching Machine", machine: &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m1"}}, node: "m1", held: true},
		{name: "a registered node waiting for its batch", node: "node-1", held: true,
			machine: &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m1"}, Status: v1alpha5.MachineStatus{NodeName: "node-1"}}},
		{name: "a node just initialized: the kube-scheduler is placing its pods", node: "node-1", wait: 5 * time.Second, held: true, recheck: placementGrace - 5*time.Second,
			machine: &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m1"}, Status: v1alpha5.MachineStatus{NodeName: "node-1", Conditions: initialized}}},
		{name: "a node initialized longer ago than the grace: planned afresh", node: "node-1", wait: placementGrace + time.Second, held: false,
			machine: &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m1"}, Status: v1alpha5.MachineStatus{NodeName: "node-1", Conditions: initialized}}},
		{name: "a Machine gone", node: "m1", held: false},
		{name: "too old", machine: &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m1"}}, node: "m1", wait: nominationTTL + time.Second, held: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(start)
			n := NewNominations(clk)
			nominated := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default", UID: types.UID("a")}}
			other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "default", UID: types.UID("b")}}
			n.Nominate(nominated, "m1")
			clk.Step(tc.wait)
			snap := scheduling.Snapshot{Pods: []*corev1.Pod{nominated, other}, Nodes: []scheduling.Node{{Name: tc.node}}}
			var machines []v1alpha5.Machine
			if tc.machine != nil {
				machines = append(machines, *tc.machine)
			}
			if recheck := n.Apply(&snap, machines); recheck != tc.recheck {
				t.Errorf("recheck in %s, want %s: held pods are planned afresh when their node's grace ends", recheck, tc.recheck)
			}
			onNode := len(snap.Nodes[0].Pods) == 1 && snap.Nodes[0].Pods[0] == nominated
			if onNode != tc.held || len(snap.Pods) != map[bool]int{true: 1, false: 2}[tc.held] {
				t.Errorf("pending %d, on node %s %d; want the nominated pod held there: %v", len(snap.Pods), tc.node, len(snap.Nodes[0].Pods), tc.held)
			}
		})
	}
}

// The gate hints each node's planned pods: a Machine's, whether nominated while it launched or
// once its node registered, and no other's.
func TestNominations_PlannedOnAMachine(t *testing.T) {
	n := NewNominations(clocktesting.NewFakeClock(time.Now()))
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)}}
	}
	n.Nominate(pod("launching"), "m1")
	n.Nominate(pod("registered"), "node-1")
	n.Nominate(pod("other"), "m2")
	n.Nominate(pod("moved"), "m2")
	n.Nominate(pod("moved"), "m1") // a later batch planned it elsewhere
	m := &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m1"}, Status: v1alpha5.MachineStatus{NodeName: "node-1"}}
	got := n.PlannedOn(m)
	slices.SortFunc(got, func(a, b types.NamespacedName) int { return strings.Compare(a.Name, b.Name) })
	want := []types.NamespacedName{{Namespace: "default", Name: "launching"}, {Namespace: "default", Name: "moved"}, {Namespace: "default", Name: "registered"}}
	if !slices.Equal(got, want) {
		t.Errorf("planned on m1: %v, want %v", got, want)
	}
	if got := n.PlannedOn(&v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m2"}}); len(got) != 1 || got[0].Name != "other" {
		t.Errorf("planned on m2: %v, want only other", got)
	}
}
