package provisioning

import (
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// nominationTTL bounds how long a pod stays planned onto a Machine whose node never comes to take
// it; the Machine's own registration TTL usually ends it sooner.
const nominationTTL = 20 * time.Minute

// placementGrace is how long after a node is initialized its nominated pods are still left to the
// kube-scheduler: a batch's nodes open together and it places their pods within seconds, but a
// batch that closes meanwhile would plan the pods not yet placed afresh — onto the same nodes,
// or onto new ones where the fresh plan packs differently.
const placementGrace = 15 * time.Second

// Nominations remember which node each pending pod was planned onto, until that node is
// initialized. The kube-scheduler cannot place a pod on a node that is launching or whose batch
// has not opened yet, so the pod stays pending and every batch sees it again; solving it afresh
// against the half-filled capacity on its way would pack the batch in another order (first fit
// over existing nodes rather than over the plan's), find some of it no room, and launch nodes the
// first plan did not need. A nominated pod counts as already on its node instead.
type Nominations struct {
	clock clock.Clock
	mu    sync.Mutex
	pods  map[types.UID]nomination
	// byTarget indexes pods by target, so each node of a batch finds its own pods in O(its pods).
	byTarget map[string]map[types.UID]struct{}
}

type nomination struct {
	pod    types.NamespacedName
	target string // the Machine's name, or the name of its registered Node
	at     time.Time
}

// NewNominations returns an empty record.
func NewNominations(clk clock.Clock) *Nominations {
	return &Nominations{clock: clk, pods: map[types.UID]nomination{}, byTarget: map[string]map[types.UID]struct{}{}}
}

// Nominate records that pod was planned onto target: a new Machine, or a node of the Snapshot. It
// holds only while target is a Machine still launching (named after it) or the registered node of
// a Machine not yet initialized; a placement on any other node is forgotten at the next Apply.
func (n *Nominations) Nominate(pod *corev1.Pod, target string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.forgetLocked(pod.UID)
	n.pods[pod.UID] = nomination{pod: types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, target: target, at: n.clock.Now()}
	if n.byTarget[target] == nil {
		n.byTarget[target] = map[types.UID]struct{}{}
	}
	n.byTarget[target][pod.UID] = struct{}{}
}

// forgetLocked drops a pod's nomination, if any.
func (n *Nominations) forgetLocked(uid types.UID) {
	nom, ok := n.pods[uid]
	if !ok {
		return
	}
	delete(n.pods, uid)
	delete(n.byTarget[nom.target], uid)
	if len(n.byTarget[nom.target]) == 0 {
		delete(n.byTarget, nom.target)
	}
}

// PlannedOn returns the pods nominated onto machine's node, in no particular order; the batch
// gate hints them to the kube-scheduler when it opens the node (lifecycle.PlannedPods).
func (n *Nominations) PlannedOn(machine *v1alpha5.Machine) []types.NamespacedName {
	n.mu.Lock()
	defer n.mu.Unlock()
	var pods []types.NamespacedName
	for _, target := range []string{machine.Name, machine.Status.NodeName} {
		if target == "" {
			continue
		}
		for uid := range n.byTarget[target] {
			pods = append(pods, n.pods[uid].pod)
		}
	}
	return pods
}

// Apply forgets the nominations whose Machine is gone, initialized placementGrace ago or older
// than nominationTTL, and moves each pending pod of snap nominated onto a node still on its way
// onto that node, as if bound there. machines are the cluster's Machines. It returns how soon a
// pod it held could be planned afresh with nothing else changing (its node's grace ends), 0 for
// never: the caller looks again then.
func (n *Nominations) Apply(snap *scheduling.Snapshot, machines []v1alpha5.Machine) time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.clock.Now()
	byName := map[string]*v1alpha5.Machine{}
	for i := range machines {
		m := &machines[i]
		byName[m.Name] = m
		if m.Status.NodeName != "" {
			byName[m.Status.NodeName] = m
		}
	}
	for uid, nom := range n.pods {
		m := byName[nom.target]
		if m == nil || m.DeletionTimestamp != nil || now.Sub(nom.at) > nominationTTL {
			n.forgetLocked(uid)
			continue
		}
		if ends, ok := graceEnds(m); ok && now.After(ends) {
			n.forgetLocked(uid)
		}
	}
	var recheck time.Duration
	nodes := map[string]int{}
	for i := range snap.Nodes {
		nodes[snap.Nodes[i].Name] = i
	}
	snap.Pods = slices.DeleteFunc(snap.Pods, func(pod *corev1.Pod) bool {
		nom, ok := n.pods[pod.UID]
		if !ok {
			return false
		}
		m := byName[nom.target]
		target := m.Name
		if m.Status.NodeName != "" {
			target = m.Status.NodeName
		}
		i, ok := nodes[target]
		if !ok {
			return false
		}
		snap.Nodes[i].Pods = append(snap.Nodes[i].Pods, pod)
		if ends, ok := graceEnds(m); ok {
			if left := ends.Sub(now); recheck == 0 || left < recheck {
				recheck = max(left, time.Second)
			}
		}
		return true
	})
	return recheck
}

// graceEnds is when the kube-scheduler's time to place the pods of m's node is up: placementGrace
// after the node was initialized; false while it is not.
func graceEnds(m *v1alpha5.Machine) (time.Time, bool) {
	initialized := v1alpha5.FindCondition(m.Status.Conditions, v1alpha5.MachineInitialized)
	if initialized == nil || initialized.Status != metav1.ConditionTrue {
		return time.Time{}, false
	}
	return initialized.LastTransitionTime.Add(placementGrace), true
}
