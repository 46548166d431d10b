//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/disruption"
	"github.com/kerf-autoscaler/kerf/test/awsim"
	"github.com/kerf-autoscaler/kerf/test/stack"
)

// fourCPUs pins a workload to 4-vCPU instances and podCPU sizes its pods so that exactly three
// fill one, whether the node keeps the kubelet's CPU reservation (3,920m allocatable, as Kerf
// plans) or not: the number of nodes a scale-up takes is known.
var fourCPUs = map[string]string{v1alpha5.LabelInstanceCPU: "4"}

const podCPU = "1100m"

// onDemandProvisioner is an on-demand amd64 Provisioner of c, m and r instances named name, with
// spec fields added (indented two spaces): each scenario turns on its one way of removing nodes.
func onDemandProvisioner(name, spec string) string {
	return fmt.Sprintf(`
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata:
  name: %s
spec:
  providerRef: {name: default}
%s
  requirements:
    - {key: kubernetes.io/arch, operator: In, values: [amd64]}
    - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
    - {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r]}
`, name, spec)
}

// A Deployment scaled to zero leaves its nodes empty: each is marked with the emptiness
// timestamp, and every one of them, with its instance, is gone within ttlSecondsAfterEmpty (30 s)
// plus 20 s of the last pod leaving, and not before the TTL.
func TestDisruption_EmptinessRemovesNodesTheTTLAfterTheirLastPodLeaves(t *testing.T) {
	const ttl, slack = 30 * time.Second, 20 * time.Second
	ctx := context.Background()
	// Nodes go 30 s after their last pod. (v0.31 refuses ttlSecondsAfterEmpty with consolidation.)
	s := start(t, time.Second, onDemandProvisioner("emptying", "  ttlSecondsAfterEmpty: 30"))
	explainOnFailure(t, s)
	const replicas = 10
	deploy(t, s, workload{name: "inflate", replicas: replicas, cpu: podCPU, memory: "1Gi", nodeSelector: fourCPUs})
	waitRunning(t, s, "inflate", replicas, 2*time.Minute)
	settled(t, s)
	nodes := provisionerNodes(t, s, "emptying")
	perNode := map[string]int{}
	for _, p := range pods(t, s, "inflate") {
		perNode[p.Spec.NodeName]++
	}
	t.Logf("%d pods run on %d nodes of Provisioner emptying: %v", replicas, len(nodes), perNode)
	// A node is empty for a moment between its initialization and its first pod; the pod clears
	// the mark. (A node can stay empty: the kube-scheduler may pack the pods tighter than planned.)
	eventually(t, s, 15*time.Second, "no node that runs pods marked empty", func() error {
		busy := map[string]int{}
		for _, p := range pods(t, s, "inflate") {
			busy[p.Spec.NodeName]++
		}
		var marked []string
		for name, n := range provisionerNodes(t, s, "emptying") {
			if at, ok := n.Annotations[v1alpha5.EmptinessTimestampAnnotationKey]; ok && busy[name] > 0 {
				marked = append(marked, fmt.Sprintf("%s since %s, running %d pods", name, at, busy[name]))
			}
		}
		if len(marked) > 0 {
			return fmt.Errorf("marked empty while running pods: %v", marked)
		}
		return nil
	})
	// Nodes no pod landed on are empty already; the checks of the TTL apply to the others.
	busy := map[string]bool{}
	for _, p := range pods(t, s, "inflate") {
		busy[p.Spec.NodeName] = true
	}
	var idle []string
	for _, name := range keys(nodes) {
		if !busy[name] {
			idle = append(idle, name)
		}
	}
	if len(idle) > 0 {
		t.Logf("nodes that never ran a pod of inflate (the kube-scheduler packed the pods tighter than planned): %v", idle)
	}
	scaled := time.Now()
	scale(t, s, "inflate", 0)
	eventually(t, s, time.Minute, "every pod of inflate gone", func() error {
		if left := len(pods(t, s, "inflate")); left > 0 {
			return fmt.Errorf("%d pods left", left)
		}
		return nil
	})
	emptied := time.Now()
	t.Logf("last pod gone %s after the scale to 0", emptied.Sub(scaled).Round(100*time.Millisecond))

	marked := map[string]time.Time{}        // emptiness timestamp seen on each node
	deleting := map[string]time.Time{}      // each node's deletion timestamp, when seen
	goneAfter := map[string]time.Duration{} // since the last pod left
	eventually(t, s, ttl+slack-time.Since(emptied), "every node of Provisioner emptying gone", func() error {
		var left []string
		for name := range nodes {
			if _, done := goneAfter[name]; done {
				continue
			}
			n := &corev1.Node{}
			if err := gone(ctx, s, n, name); err == nil {
				goneAfter[name] = time.Since(emptied)
				continue
			}
			if at, ok := n.Annotations[v1alpha5.EmptinessTimestampAnnotationKey]; ok {
				if parsed, err := time.Parse(time.RFC3339, at); err == nil {
					marked[name] = parsed
				} else {
					t.Errorf("node %s has emptiness timestamp %q, not RFC 3339: %v", name, at, err)
				}
			}
			if n.DeletionTimestamp != nil {
				deleting[name] = n.DeletionTimestamp.Time
			}
			left = append(left, name)
		}
		if len(left) > 0 {
			return fmt.Errorf("still there: %v", left)
		}
		return nil
	})
	last := time.Duration(0)
	for _, d := range goneAfter {
		last = max(last, d)
	}
	t.Logf("emptiness: %d nodes gone %s after the last pod left (bound %s); each: %v", len(nodes), last.Round(100*time.Millisecond),
		ttl+slack, roundAll(goneAfter))
	for name, n := range nodes {
		expectInstanceTerminated(t, s, n.Spec.ProviderID)
		at, ok := marked[name]
		if !ok {
			if busy[name] {
				t.Errorf("node %s was never seen with the %s annotation", name, v1alpha5.EmptinessTimestampAnnotationKey)
			}
			continue
		}
		if busy[name] && at.Before(scaled.Truncate(time.Second)) {
			t.Errorf("node %s's emptiness timestamp %s is older than the scale to 0 at %s", name, at.Format(time.RFC3339), scaled.Format(time.RFC3339Nano))
		}
		if del, ok := deleting[name]; ok {
			// Both times have one-second precision.
			if waited := del.Sub(at); waited < ttl-time.Second {
				t.Errorf("node %s was deleted %s after it was marked empty, before the %s TTL", name, waited, ttl)
			} else {
				t.Logf("node %s: marked empty at %s, deleted %s later", name, at.Format("15:04:05"), waited)
			}
		}
	}
	// The nodes' emptiness began with the scale to 0, so none may be deleted sooner than the TTL
	// after it, nor for any other reason.
	for _, l := range controllerLog(t, s, "disrupting nodes") {
		names, _ := l["nodes"].([]any)
		for _, name := range names {
			if at := logTime(t, l); busy[fmt.Sprint(name)] && at.Sub(scaled) < ttl-time.Second {
				t.Errorf("%v deleted %v %s after the scale to 0, before the %s TTL", l["method"], name, at.Sub(scaled).Round(time.Millisecond), ttl)
			}
		}
	}
	t.Logf("disruption decisions:\n%s", disruptionDecisions(t, s))
	expectOnlyMethod(t, s, disruption.MethodEmptiness)
}

// Three 4-vCPU nodes of the seed Provisioner, each left a third full by a scale-down, are
// consolidated: fewer nodes run every pod, the account pays less per hour, and the workload's
// PodDisruptionBudget (one pod down at a time) holds in every state the API server showed.
func TestDisruption_ConsolidationPacksUnderusedNodesWithinThePDB(t *testing.T) {
	ctx := context.Background()
	s := start(t, time.Second, seedProvisioner(t))
	explainOnFailure(t, s)
	// Nine pods make three full nodes.
	const app, replicas, maxUnavailable = "consolidate", 9, 1
	budget(t, s, app, &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrIntOrString(maxUnavailable)})
	deploy(t, s, workload{name: app, replicas: replicas, cpu: podCPU, memory: "1Gi", tolerations: tolerateSeedTaint, nodeSelector: fourCPUs})
	running := waitRunning(t, s, app, replicas, 2*time.Minute)
	settled(t, s)
	perNode := map[string][]corev1.Pod{}
	for _, p := range running {
		perNode[p.Spec.NodeName] = append(perNode[p.Spec.NodeName], p)
	}
	if len(perNode) < 3 {
		t.Fatalf("%d pods run on %d nodes, want at least three under-used nodes to consolidate: %v", replicas, len(perNode), counts(perNode))
	}

	// Keep a third of each node's pods: the ReplicaSet deletes the pods of lowest deletion cost first.
	keep := map[string]bool{}
	for _, ps := range perNode {
		sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
		for _, p := range ps[:(len(ps)+2)/3] {
			keep[p.Name] = true
			patch := client.MergeFrom(p.DeepCopy())
			p.Annotations = map[string]string{"controller.kubernetes.io/pod-deletion-cost": "1000"}
			if err := s.Env.Client.Patch(ctx, &p, patch); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d pods run on %d nodes %v; scaling down to %d, a third of each node's", replicas, len(perNode), counts(perNode), len(keep))
	scaledDown := time.Now()
	scale(t, s, app, int32(len(keep)))
	eventually(t, s, time.Minute, "the scale-down done", func() error {
		ps := pods(t, s, app)
		if len(ps) != len(keep) {
			return fmt.Errorf("%d pods, want %d", len(ps), len(keep))
		}
		for _, p := range ps {
			if !keep[p.Name] {
				return fmt.Errorf("pod %s was kept instead of one of %v", p.Name, keys(keep))
			}
		}
		return nil
	})
	waitBudgetAllows(t, s, app, maxUnavailable)
	nodeOf := map[string]string{}
	for _, p := range pods(t, s, app) {
		nodeOf[p.Name] = p.Spec.NodeName
	}
	watcher := watchAvailability(t, s, app)
	before := status(t, s)
	t.Logf("after the scale-down: %d pods on %d nodes, $%.4f/h", len(keep), before.Nodes, before.USDPerHour)

	// Converged: every pod runs, no node is tainted, deleting or launching, and nothing changed
	// for quiet (more than a pass and a consolidation's 15 s re-validation).
	const quiet = 30 * time.Second
	var last string
	changed := time.Now()
	eventually(t, s, 4*time.Minute, "the nodes consolidated and settled", func() error {
		state := clusterState(t, s)
		if state != last {
			last, changed = state, time.Now()
		}
		if n := len(provisionerNodes(t, s, "default")); n >= len(perNode) {
			return fmt.Errorf("still %d nodes: %s", n, state)
		}
		if ready := availableCount(t, s, app); ready != len(keep) {
			return fmt.Errorf("%d of %d pods available", ready, len(keep))
		}
		if since := time.Since(changed); since < quiet {
			return fmt.Errorf("changed %s ago: %s", since.Round(time.Second), state)
		}
		return nil
	})
	converged := changed.Sub(scaledDown)
	fewest, at := watcher.stop(t)
	after := status(t, s)

	disrupted := 0
	for _, p := range pods(t, s, app) {
		if _, ok := nodeOf[p.Name]; !ok {
			disrupted++ // a new pod stands for one that was evicted
		}
	}
	evicted := evictedEvents(t, s, func(e corev1.Event) bool { _, ok := nodeOf[e.InvolvedObject.Name]; return ok })
	t.Logf("consolidation: $%.3f/h -> $%.3f/h, %d -> %d nodes, converged in %s after the scale-down, %d pods disrupted (%d Evicted Events)",
		before.USDPerHour, after.USDPerHour, len(perNode), after.Nodes, converged.Round(100*time.Millisecond), disrupted, evicted)
	t.Logf("most pods unavailable at once: %d of %d (the budget allows %d), at %s after the scale-down, over %d observed changes",
		len(keep)-fewest, len(keep), maxUnavailable, at.Sub(scaledDown).Round(time.Millisecond), watcher.changes)
	t.Logf("disruption decisions:\n%s", disruptionDecisions(t, s))
	expectOnlyMethod(t, s, disruption.MethodConsolidation)
	if after.Nodes >= len(perNode) {
		t.Errorf("%d nodes after consolidation, %d before", after.Nodes, len(perNode))
	}
	if after.USDPerHour >= before.USDPerHour {
		t.Errorf("the account pays $%.4f/h after consolidation, $%.4f/h before", after.USDPerHour, before.USDPerHour)
	}
	if len(keep)-fewest > maxUnavailable {
		t.Errorf("%d pods were unavailable at once; the PodDisruptionBudget allows %d", len(keep)-fewest, maxUnavailable)
	}
	if disrupted > 0 && fewest == len(keep) {
		t.Errorf("the watch never saw a pod unavailable while %d were disrupted: it is not watching", disrupted)
	}
	for _, p := range pods(t, s, app) {
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s is %s", p.Name, p.Status.Phase)
		}
	}
}

// Nodes older than ttlSecondsUntilExpired are replaced: every node that ran the workload is
// gone, none before its TTL, the pods run on the replacements, and the PodDisruptionBudget holds
// throughout. (The replacements expire a minute later in turn; only the originals are checked.)
func TestDisruption_ExpiryReplacesEveryNodePastItsTTLWithinThePDB(t *testing.T) {
	const ttl = 60 * time.Second
	ctx := context.Background()
	// Each node is replaced a minute after its launch.
	w := startGuarded(t, "expiring", "  ttlSecondsUntilExpired: 60", "expire")
	s, originals, replicas := w.s, w.originals, w.replicas
	began := time.Now()

	goneAt := map[string]time.Duration{}
	eventually(t, s, 3*time.Minute, "every original node gone", func() error {
		var left []string
		for name := range originals {
			if _, done := goneAt[name]; done {
				continue
			}
			n := &corev1.Node{}
			if err := gone(ctx, s, n, name); err == nil {
				goneAt[name] = time.Since(began)
				continue
			}
			left = append(left, name)
		}
		if len(left) > 0 {
			return fmt.Errorf("still there: %v", left)
		}
		return nil
	})
	// A node's age when expiry chose it, from the controller's log.
	ageAtDecision := map[string]time.Duration{}
	for _, l := range controllerLog(t, s, "disrupting nodes") {
		names, _ := l["nodes"].([]any)
		for _, name := range names {
			if n := originals[fmt.Sprint(name)]; n != nil && l["method"] == string(disruption.MethodExpiration) {
				ageAtDecision[n.Name] = logTime(t, l).Sub(n.CreationTimestamp.Time)
			}
		}
	}
	eventually(t, s, 2*time.Minute, "every pod available", func() error {
		if ready := availableCount(t, s, w.app); ready != replicas {
			return fmt.Errorf("%d of %d pods available", ready, replicas)
		}
		return nil
	})
	t.Logf("expiry: %d original nodes gone (since the pods ran: %v); each node's age when expiry chose it: %v", len(originals),
		roundAll(goneAt), roundAll(ageAtDecision))
	w.expectBudgetHeld(t, began, disruption.MethodExpiration)
	for name := range originals {
		// The Machine, whose age counts, is created a few seconds before its Node registers.
		if age, ok := ageAtDecision[name]; !ok {
			t.Errorf("node %s went, but no expiration command chose it", name)
		} else if age < ttl-5*time.Second {
			t.Errorf("node %s was chosen for expiry at age %s, before its %s TTL", name, age, ttl)
		}
	}
	for name, n := range originals {
		expectInstanceTerminated(t, s, n.Spec.ProviderID)
		if events := nodeEvents(t, s, name); len(events) > 0 {
			t.Logf("Events on node %s:\n%s", name, eventLines(events))
		}
	}
}

// A new EKS-optimized AMI release drifts every node (the suite runs with DRIFT_ENABLED): each is
// replaced by a node whose instance runs an image of the new release, the pods move within
// their PodDisruptionBudget, and no replacement runs an image of the old release.
func TestDisruption_DriftReplacesNodesAfterANewAMIRelease(t *testing.T) {
	ctx := context.Background()
	// Neither expiry nor consolidation: only drift replaces these nodes.
	w := startGuarded(t, "drifting", "", "drift")
	s, originals, replicas := w.s, w.originals, w.replicas
	oldImages := map[string]bool{}
	world, err := s.AWSIMState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range originals {
		inst := instanceOf(t, world, n)
		oldImages[inst.ImageID] = true
		t.Logf("node %s: instance %s runs image %s (label %s=%q)", name, inst.ID, inst.ImageID, v1alpha5.LabelInstanceAMIID,
			n.Labels[v1alpha5.LabelInstanceAMIID])
	}

	var rolled struct{ Release int }
	if err := s.AWSIMAdmin(ctx, "POST", "amis/roll", nil, &rolled); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	t.Logf("AMI release %d published; old images %v", rolled.Release, keys(oldImages))

	goneAt := map[string]time.Duration{}
	eventually(t, s, 4*time.Minute, "every original node replaced by one on the new release", func() error {
		for name := range originals {
			if _, done := goneAt[name]; !done && gone(ctx, s, &corev1.Node{}, name) == nil {
				goneAt[name] = time.Since(began)
			}
		}
		if len(goneAt) < len(originals) {
			return fmt.Errorf("%d of %d original nodes gone", len(goneAt), len(originals))
		}
		if ready := availableCount(t, s, w.app); ready != replicas {
			return fmt.Errorf("%d of %d pods available", ready, replicas)
		}
		return nil
	})
	world, err = s.AWSIMState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replacements := provisionerNodes(t, s, "drifting")
	for name, n := range replacements {
		inst := instanceOf(t, world, n)
		if oldImages[inst.ImageID] {
			t.Errorf("replacement node %s runs image %s of the old release", name, inst.ImageID)
		}
		if label := n.Labels[v1alpha5.LabelInstanceAMIID]; label != "" && label != inst.ImageID {
			t.Errorf("node %s is labelled %s=%s but its instance runs %s", name, v1alpha5.LabelInstanceAMIID, label, inst.ImageID)
		}
		t.Logf("replacement node %s: instance %s runs image %s", name, inst.ID, inst.ImageID)
	}
	for _, p := range pods(t, s, w.app) {
		if replacements[p.Spec.NodeName] == nil {
			t.Errorf("pod %s runs on node %s, not on a replacement", p.Name, p.Spec.NodeName)
		}
	}
	t.Logf("drift: %d original nodes replaced by %d; each gone after the release: %v", len(originals), len(replacements), roundAll(goneAt))
	w.expectBudgetHeld(t, began, disruption.MethodDrift)
	for name, n := range originals {
		expectInstanceTerminated(t, s, n.Spec.ProviderID)
		if events := nodeEvents(t, s, name); len(events) > 0 {
			t.Logf("Events on node %s:\n%s", name, eventLines(events))
		}
	}
}

// guarded is the workload the replacing methods (expiry, drift) move: six pods, three to a
// 4-vCPU node, under a PodDisruptionBudget that allows one unavailable, watched from the moment
// every pod runs.
type guarded struct {
	s         *stack.Stack
	app       string
	replicas  int
	originals map[string]*corev1.Node // the Provisioner's nodes once the pods ran
	watcher   *availability
}

const guardedMaxUnavailable = 1

// startGuarded starts a stack with onDemandProvisioner(provisioner, spec) and runs the workload
// app on it.
func startGuarded(t *testing.T, provisioner, spec, app string) *guarded {
	t.Helper()
	s := start(t, time.Second, onDemandProvisioner(provisioner, spec))
	explainOnFailure(t, s)
	const replicas = 6
	budget(t, s, app, &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrIntOrString(guardedMaxUnavailable)})
	deploy(t, s, workload{name: app, replicas: replicas, cpu: podCPU, memory: "1Gi", nodeSelector: fourCPUs})
	waitRunning(t, s, app, replicas, 2*time.Minute)
	settled(t, s)
	waitBudgetAllows(t, s, app, guardedMaxUnavailable)
	w := &guarded{s: s, app: app, replicas: replicas, originals: provisionerNodes(t, s, provisioner), watcher: watchAvailability(t, s, app)}
	t.Logf("%d pods run on %d nodes %v", replicas, len(w.originals), keys(w.originals))
	return w
}

// expectBudgetHeld stops the watch and checks that no more pods than the budget allows were
// unavailable at once, that some were (the nodes under them were replaced), and that method
// alone disrupted nodes.
func (w *guarded) expectBudgetHeld(t *testing.T, began time.Time, method disruption.Method) {
	t.Helper()
	fewest, at := w.watcher.stop(t)
	t.Logf("most pods unavailable at once: %d of %d (the budget allows %d), at %s, over %d observed changes",
		w.replicas-fewest, w.replicas, guardedMaxUnavailable, at.Sub(began).Round(time.Millisecond), w.watcher.changes)
	t.Logf("disruption decisions:\n%s", disruptionDecisions(t, w.s))
	expectOnlyMethod(t, w.s, method)
	if w.replicas-fewest > guardedMaxUnavailable {
		t.Errorf("%d pods were unavailable at once; the PodDisruptionBudget allows %d", w.replicas-fewest, guardedMaxUnavailable)
	}
	if fewest == w.replicas {
		t.Errorf("the watch never saw a pod unavailable while %d nodes were replaced: it is not watching", len(w.originals))
	}
}

// scale sets a Deployment's replicas.
func scale(t *testing.T, s *stack.Stack, name string, replicas int32) {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := s.Env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, d); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Replicas = ptr.To(replicas)
	if err := s.Env.Client.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
}

// provisionerNodes returns a Provisioner's Nodes by name.
func provisionerNodes(t *testing.T, s *stack.Stack, provisioner string) map[string]*corev1.Node {
	t.Helper()
	list := &corev1.NodeList{}
	if err := s.Env.Client.List(context.Background(), list, client.MatchingLabels{v1alpha5.ProvisionerNameLabelKey: provisioner}); err != nil {
		t.Fatal(err)
	}
	out := map[string]*corev1.Node{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// availableCount counts a workload's pods that are Ready and not terminating.
func availableCount(t *testing.T, s *stack.Stack, app string) int {
	t.Helper()
	n := 0
	for _, p := range pods(t, s, app) {
		if available(&p) {
			n++
		}
	}
	return n
}

// clusterState describes the Nodes (tainted for disruption, deleting) and Machines in one line,
// so a change in either shows.
func clusterState(t *testing.T, s *stack.Stack) string {
	t.Helper()
	list := &corev1.NodeList{}
	if err := s.Env.Client.List(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, n := range list.Items {
		part := "node/" + n.Name
		if slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == disruption.DisruptionTaintKey }) {
			part += "(tainted)"
		}
		if n.DeletionTimestamp != nil {
			part += "(deleting)"
		}
		parts = append(parts, part)
	}
	for _, m := range machines(t, s) {
		parts = append(parts, "machine/"+m.Name)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func counts(perNode map[string][]corev1.Pod) map[string]int {
	out := map[string]int{}
	for n, ps := range perNode {
		out[n] = len(ps)
	}
	return out
}

// instanceOf returns awsim's instance behind a Node.
func instanceOf(t *testing.T, world awsim.State, n *corev1.Node) awsim.InstanceState {
	t.Helper()
	id := path.Base(n.Spec.ProviderID)
	for _, inst := range world.Instances {
		if inst.ID == id {
			return inst
		}
	}
	t.Fatalf("awsim has no instance %s for node %s", id, n.Name)
	return awsim.InstanceState{}
}

// disruptionDecisions lists the controller's "disrupting nodes" log lines, one per command.
func disruptionDecisions(t *testing.T, s *stack.Stack) string {
	t.Helper()
	var lines []string
	for _, l := range controllerLog(t, s, "disrupting nodes") {
		lines = append(lines, fmt.Sprintf("  %v %v %v %v nodes=%v replacements=%v savings=$%v/h",
			l["time"], l["method"], l["action"], l["reason"], l["nodes"], l["replacements"], l["savingsUSDPerHour"]))
	}
	if len(lines) == 0 {
		return "  (none)"
	}
	return strings.Join(lines, "\n")
}

func eventLines(events []corev1.Event) string {
	lines := make([]string, 0, len(events))
	for _, e := range events {
		lines = append(lines, fmt.Sprintf("  %s %s %s: %s", eventTime(e).Format("15:04:05.000"), e.Type, e.Reason, e.Message))
	}
	return strings.Join(lines, "\n")
}

// logTime is when the controller wrote a log line.
func logTime(t *testing.T, line map[string]any) time.Time {
	t.Helper()
	ts, _ := line["time"].(string)
	parsed, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts)
	if err != nil {
		t.Fatalf("log time %q: %v", ts, err)
	}
	return parsed
}

// expectOnlyMethod checks that every disruption command the controller ran used method: in
// each scenario only one reason to disrupt a node applies.
func expectOnlyMethod(t *testing.T, s *stack.Stack, method disruption.Method) {
	t.Helper()
	for _, l := range controllerLog(t, s, "disrupting nodes") {
		if l["method"] != string(method) {
			t.Errorf("nodes %v were disrupted by %v (%v); only %s applies here", l["nodes"], l["method"], l["reason"], method)
		}
	}
}

// explainOnFailure logs, when the test fails, every Node's Events and the disruption commands the
// controller ran: why a node was or was not disrupted.
func explainOnFailure(t *testing.T, s *stack.Stack) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		list := &corev1.NodeList{}
		if err := s.Env.Client.List(context.Background(), list); err != nil {
			t.Logf("listing nodes: %v", err)
			return
		}
		for _, n := range list.Items {
			t.Logf("Events on node %s:\n%s", n.Name, eventLines(nodeEvents(t, s, n.Name)))
		}
		t.Logf("disruption decisions:\n%s", disruptionDecisions(t, s))
	})
}
