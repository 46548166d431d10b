package provisioning

import (
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
	initialized := []metav1.Condition{{Type: v1alpha5.MachineInitialized, Status: metav1.ConditionTrue}}
	for _, tc := range []struct {
		name    string
		machine *v1alpha5.Machine // nil: gone
		node    string            // the Snapshot node the pod is nominated to
		wait    time.Duration
		held    bool
	}{
		{name: "a launching Machine", machine: &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m1"}}, node: "m1", held: true},
		{name: "a registered node waiting for its batch", node: "node-1", held: true,
			machine: &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m1"}, Status: v1alpha5.MachineStatus{NodeName: "node-1"}}},
		{name: "an initialized node: the kube-scheduler decides now", node: "node-1", held: false,
			machine: &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m1"}, Status: v1alpha5.MachineStatus{NodeName: "node-1", Conditions: initialized}}},
		{name: "a Machine gone", node: "m1", held: false},
		{name: "too old", machine: &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m1"}}, node: "m1", wait: nominationTTL + time.Second, held: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Now())
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
			n.Apply(&snap, machines)
			onNode := len(snap.Nodes[0].Pods) == 1 && snap.Nodes[0].Pods[0] == nominated
			if onNode != tc.held || len(snap.Pods) != map[bool]int{true: 1, false: 2}[tc.held] {
				t.Errorf("pending %d, on node %s %d; want the nominated pod held there: %v", len(snap.Pods), tc.node, len(snap.Nodes[0].Pods), tc.held)
			}
		})
	}
}
