//go:build e2e

package e2e

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/test/stack"
)

// `kubectl delete node` on the node that runs most of a Deployment whose PodDisruptionBudget
// allows one pod down at a time: the node is cordoned and drained one eviction at a time, Kerf
// launches capacity for the evicted pods, and only then do the Node, its Machine and its instance
// go. A watch on the pods records every state the API server shows during the drain; not one has
// more than one pod of the Deployment unavailable.
func TestTermination_DeletingANodeDrainsItUnderItsPDBAndLaunchesReplacementCapacity(t *testing.T) {
	ctx := context.Background()
	s := start(t, time.Second, seedProvisioner(t))
	const replicas = 20
	budget(t, s, "drain", &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrIntOrString(1)})
	deploy(t, s, workload{name: "drain", replicas: replicas, cpu: "100m", memory: "128Mi", tolerations: tolerateSeedTaint})
	waitRunning(t, s, "drain", replicas, 2*time.Minute)
	waitBudgetAllows(t, s, "drain", 1)
	before := settled(t, s)
	perNode := map[string]int{}
	for _, p := range pods(t, s, "drain") {
		perNode[p.Spec.NodeName]++
	}
	if spare := without(before, perNode); len(spare) > 0 {
		t.Logf("nodes running none of the pods before the delete: %v", spare)
	}
	victim := busiest(perNode)
	target := &corev1.Node{}
	if err := s.Env.Client.Get(ctx, client.ObjectKey{Name: victim}, target); err != nil {
		t.Fatal(err)
	}
	machine := machineOf(t, s, target)
	t.Logf("%d pods run on %d nodes %v; deleting node %s (%d pods, Machine %s, %s)", replicas, len(perNode), perNode,
		victim, perNode[victim], machine, target.Spec.ProviderID)

	watcher := watchAvailability(t, s, "drain")
	began := time.Now()
	if err := s.Env.Client.Delete(ctx, target); err != nil {
		t.Fatal(err)
	}
	eventually(t, s, 3*time.Minute, "node "+victim+" gone", func() error { return gone(ctx, s, &corev1.Node{}, victim) })
	drained := time.Since(began)
	after := waitRunning(t, s, "drain", replicas, 2*time.Minute)
	waitBudgetAllows(t, s, "drain", 1)
	fewest, at := watcher.stop(t)

	t.Logf("node %s drained and gone %s after the delete call", victim, drained.Round(100*time.Millisecond))
	t.Logf("most pods unavailable at once: %d of %d (the budget allows 1), at %s, over %d observed changes",
		replicas-fewest, replicas, at.Sub(began).Round(time.Millisecond), watcher.changes)
	if replicas-fewest > 1 {
		t.Errorf("%d pods were unavailable at once; the PodDisruptionBudget allows 1", replicas-fewest)
	}
	if replicas-fewest < 1 {
		t.Errorf("the watch never saw a pod unavailable while %d were evicted: it is not watching", perNode[victim])
	}
	moved := map[string]int{}
	for _, p := range after {
		if p.Spec.NodeName == victim {
			t.Errorf("pod %s still runs on the deleted node", p.Name)
		}
		moved[p.Spec.NodeName]++
	}
	// Capacity for the evicted pods is whatever Kerf finds room on: nodes it launched after the
	// delete, or room left on the others (spare nodes included).
	var launched []string
	for _, n := range keys(moved) {
		if !before[n] {
			launched = append(launched, n)
		}
	}
	t.Logf("afterwards the %d pods run on %v; launched after the delete: %v", replicas, moved, launched)
	eventually(t, s, time.Minute, "machine "+machine+" gone", func() error { return gone(ctx, s, &v1alpha5.Machine{}, machine) })
	expectInstanceTerminated(t, s, target.Spec.ProviderID)
	events := expectNodeEvents(t, s, victim, "Draining", "InstanceTerminated")
	t.Logf("Events on node %s:\n%s", victim, strings.Join(events, "\n"))
	t.Logf("Evicted Events on its pods: %d of %d", evictedEvents(t, s, relatedTo(victim)), perNode[victim])
}

// fallbackProvisioner sits below the seed Provisioner: untainted, weight 0, on demand. The seed
// Provisioner wins every pod that tolerates its taint until it is deleted.
const fallbackProvisioner = `
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata:
  name: fallback
spec:
  providerRef:
    name: default
  requirements:
    - key: kubernetes.io/arch
      operator: In
      values: [amd64]
    - key: karpenter.sh/capacity-type
      operator: In
      values: [on-demand]
    - key: karpenter.k8s.aws/instance-category
      operator: In
      values: [c, m, r]
`

// Deleting a Provisioner takes its nodes with it (the garbage collector deletes its Machines,
// each Machine its Node), and every one drains through the Eviction API: three pods, one per
// node, under a budget of minAvailable 2, never drop below two available while all three move
// to nodes of the Provisioner that is left.
func TestTermination_DeletingAProvisionerDrainsItsNodesWithinTheirPDBs(t *testing.T) {
	ctx := context.Background()
	s := start(t, time.Second, seedProvisioner(t), fallbackProvisioner)
	const replicas, minAvailable = 3, 2
	budget(t, s, "spread", &policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrIntOrString(minAvailable)})
	deploy(t, s, workload{name: "spread", replicas: replicas, cpu: "500m", memory: "512Mi", tolerations: tolerateSeedTaint, onePerNode: true})
	running := waitRunning(t, s, "spread", replicas, 2*time.Minute)
	waitBudgetAllows(t, s, "spread", replicas-minAvailable)
	before := settled(t, s)

	nodes := map[string]*corev1.Node{}
	machinesOf := map[string]string{}
	for _, p := range running {
		n := node(t, s, p)
		if got := n.Labels[v1alpha5.ProvisionerNameLabelKey]; got != "default" {
			t.Fatalf("pod %s runs on node %s of Provisioner %q, want the seed Provisioner's (weight 1 beats fallback's 0)", p.Name, n.Name, got)
		}
		nodes[n.Name] = n
		machinesOf[n.Name] = machineOf(t, s, n)
	}
	if len(nodes) != replicas {
		t.Fatalf("%d pods run on %d nodes, want one each", replicas, len(nodes))
	}
	t.Logf("the seed Provisioner runs the %d pods on nodes %v (Machines %v)", replicas, keys(nodes), machinesOf)
	perNode := map[string]int{}
	for name := range nodes {
		perNode[name] = 1
	}
	if spare := without(before, perNode); len(spare) > 0 {
		t.Logf("nodes running none of the pods before the delete: %v", spare)
	}

	watcher := watchAvailability(t, s, "spread")
	began := time.Now()
	provisioner := &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if err := s.Env.Client.Delete(ctx, provisioner, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	goneAt := map[string]time.Duration{}
	eventually(t, s, 3*time.Minute, "the seed Provisioner's nodes and Machines gone", func() error {
		var left []string
		for name := range nodes {
			if _, done := goneAt[name]; done {
				continue
			}
			if err := gone(ctx, s, &corev1.Node{}, name); err != nil {
				left = append(left, name)
				continue
			}
			goneAt[name] = time.Since(began)
		}
		for name, m := range machinesOf {
			if err := gone(ctx, s, &v1alpha5.Machine{}, m); err != nil {
				left = append(left, "Machine "+m+" of "+name)
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("still there: %v", left)
		}
		return ofProvisioner(ctx, s, "default")
	})
	drained := time.Since(began)
	after := waitRunning(t, s, "spread", replicas, 2*time.Minute)
	waitBudgetAllows(t, s, "spread", replicas-minAvailable)
	fewest, at := watcher.stop(t)

	t.Logf("the Provisioner's %d nodes gone %s after the delete call (each node: %v)", len(nodes), drained.Round(100*time.Millisecond), roundAll(goneAt))
	t.Logf("fewest pods available at once: %d of %d (the budget's minAvailable is %d), at %s, over %d observed changes",
		fewest, replicas, minAvailable, at.Sub(began).Round(time.Millisecond), watcher.changes)
	if fewest < minAvailable {
		t.Errorf("only %d pods were available at one point; the PodDisruptionBudget's minAvailable is %d", fewest, minAvailable)
	}
	if fewest == replicas {
		t.Errorf("the watch never saw a pod unavailable while %d were evicted: it is not watching", replicas)
	}
	if err := gone(ctx, s, &v1alpha5.Provisioner{}, "default"); err != nil {
		t.Error(err)
	}
	onto := map[string]bool{}
	for _, p := range after {
		n := node(t, s, p)
		if got := n.Labels[v1alpha5.ProvisionerNameLabelKey]; got != "fallback" {
			t.Errorf("pod %s runs on node %s of Provisioner %q, want fallback", p.Name, n.Name, got)
		}
		onto[n.Name] = true
	}
	t.Logf("the pods now run on fallback nodes %v", keys(onto))
	var fallback []string
	for _, m := range machines(t, s) {
		if m.Labels[v1alpha5.ProvisionerNameLabelKey] == "fallback" {
			fallback = append(fallback, m.Name)
		}
	}
	// One Machine per moved pod is the right count; more means a pod was planned a node twice.
	t.Logf("fallback Machines: %v", fallback)
	for name, n := range nodes {
		expectInstanceTerminated(t, s, n.Spec.ProviderID)
		events := expectNodeEvents(t, s, name, "Draining", "InstanceTerminated")
		t.Logf("Events on node %s (%d Evicted Events on its pods):\n%s", name, evictedEvents(t, s, relatedTo(name)), strings.Join(events, "\n"))
	}
}

func ptrIntOrString(v int) *intstr.IntOrString {
	i := intstr.FromInt32(int32(v))
	return &i
}

// budget creates a PodDisruptionBudget named after app selecting its pods.
func budget(t *testing.T, s *stack.Stack, app string, spec *policyv1.PodDisruptionBudgetSpec) {
	t.Helper()
	spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: "default"}, Spec: *spec}
	if err := s.Env.Client.Create(context.Background(), pdb); err != nil {
		t.Fatal(err)
	}
}

// waitBudgetAllows waits until the disruption controller has caught up with the running pods:
// every pod healthy and the budget's allowance back to allowed.
func waitBudgetAllows(t *testing.T, s *stack.Stack, app string, allowed int32) {
	t.Helper()
	eventually(t, s, 30*time.Second, fmt.Sprintf("PodDisruptionBudget %s allowing %d disruptions", app, allowed), func() error {
		pdb := &policyv1.PodDisruptionBudget{}
		if err := s.Env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: app}, pdb); err != nil {
			return err
		}
		st := pdb.Status
		if st.ObservedGeneration != pdb.Generation || st.DisruptionsAllowed != allowed || st.CurrentHealthy != st.ExpectedPods {
			return fmt.Errorf("status %d healthy of %d expected, %d disruptions allowed (generation %d observed %d)",
				st.CurrentHealthy, st.ExpectedPods, st.DisruptionsAllowed, pdb.Generation, st.ObservedGeneration)
		}
		return nil
	})
}

// ofProvisioner returns an error naming the Nodes and Machines a Provisioner still has.
func ofProvisioner(ctx context.Context, s *stack.Stack, name string) error {
	selector := client.MatchingLabels{v1alpha5.ProvisionerNameLabelKey: name}
	nodes := &corev1.NodeList{}
	machines := &v1alpha5.MachineList{}
	if err := s.Env.Client.List(ctx, nodes, selector); err != nil {
		return err
	}
	if err := s.Env.Client.List(ctx, machines, selector); err != nil {
		return err
	}
	if len(nodes.Items)+len(machines.Items) == 0 {
		return nil
	}
	var left []string
	for _, n := range nodes.Items {
		left = append(left, "Node "+n.Name)
	}
	for _, m := range machines.Items {
		left = append(left, "Machine "+m.Name)
	}
	return fmt.Errorf("provisioner %s still has %v", name, left)
}

// settled waits until every Machine is initialized, so nothing is still launching from the
// scale-up, and returns the names of the Nodes.
func settled(t *testing.T, s *stack.Stack) map[string]bool {
	t.Helper()
	eventually(t, s, time.Minute, "every Machine initialized", func() error {
		for _, m := range status(t, s).Machines {
			if !m.Initialized {
				return fmt.Errorf("machine %s is not initialized", m.Name)
			}
		}
		return nil
	})
	list := &corev1.NodeList{}
	if err := s.Env.Client.List(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, n := range list.Items {
		names[n.Name] = true
	}
	return names
}

// without returns the nodes that run no pod of the workload.
func without(nodes map[string]bool, perNode map[string]int) []string {
	var out []string
	for _, n := range keys(nodes) {
		if perNode[n] == 0 {
			out = append(out, n)
		}
	}
	return out
}

// busiest returns the node with the most pods, the first by name among equals.
func busiest(perNode map[string]int) string {
	names := keys(perNode)
	best := names[0]
	for _, n := range names {
		if perNode[n] > perNode[best] {
			best = n
		}
	}
	return best
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func roundAll(m map[string]time.Duration) map[string]string {
	out := map[string]string{}
	for k, d := range m {
		out[k] = d.Round(100 * time.Millisecond).String()
	}
	return out
}

// machineOf returns the name of the Machine that launched a node.
func machineOf(t *testing.T, s *stack.Stack, n *corev1.Node) string {
	t.Helper()
	for _, m := range machines(t, s) {
		if m.Status.ProviderID == n.Spec.ProviderID {
			return m.Name
		}
	}
	t.Fatalf("no Machine has node %s's provider ID %s", n.Name, n.Spec.ProviderID)
	return ""
}

// gone returns nil once the named cluster-scoped object no longer exists.
func gone(ctx context.Context, s *stack.Stack, obj client.Object, name string) error {
	err := s.Env.Client.Get(ctx, client.ObjectKey{Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if obj.GetDeletionTimestamp() != nil {
		return fmt.Errorf("%T %s is being deleted, finalizers %v", obj, name, obj.GetFinalizers())
	}
	return fmt.Errorf("%T %s still exists and is not being deleted", obj, name)
}

// expectInstanceTerminated checks that awsim has the node's instance shutting down or terminated.
func expectInstanceTerminated(t *testing.T, s *stack.Stack, providerID string) {
	t.Helper()
	id := path.Base(providerID)
	world, err := s.AWSIMState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range world.Instances {
		if inst.ID == id {
			if inst.State != "shutting-down" && inst.State != "terminated" {
				t.Errorf("instance %s is %s, want shutting-down or terminated", id, inst.State)
			}
			return
		}
	}
	t.Errorf("awsim has no instance %s", id)
}

// nodeEvents returns "reason: message" for each Event about the named Node, oldest first.
func nodeEvents(t *testing.T, s *stack.Stack, name string) []corev1.Event {
	t.Helper()
	list := &corev1.EventList{}
	if err := s.Env.Client.List(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Node" && e.InvolvedObject.Name == name {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return eventTime(out[i]).Before(eventTime(out[j])) })
	return out
}

func eventTime(e corev1.Event) time.Time {
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.FirstTimestamp.Time
}

// expectNodeEvents waits for Events of each reason on the named Node (the recorder writes them
// asynchronously) and returns all of its Events, one line each.
func expectNodeEvents(t *testing.T, s *stack.Stack, name string, reasons ...string) []string {
	t.Helper()
	var lines []string
	eventually(t, s, 15*time.Second, fmt.Sprintf("Events %v on node %s", reasons, name), func() error {
		seen := map[string]bool{}
		lines = lines[:0]
		for _, e := range nodeEvents(t, s, name) {
			seen[e.Reason] = true
			lines = append(lines, fmt.Sprintf("  %s %s %s (%s): %s", eventTime(e).Format("15:04:05.000"), e.Type, e.Reason,
				cmp.Or(e.ReportingController, e.Source.Component), e.Message))
		}
		for _, r := range reasons {
			if !seen[r] {
				return fmt.Errorf("no %s Event among %d", r, len(lines))
			}
		}
		return nil
	})
	return lines
}

// evictedEvents counts the Evicted Events on the pods of namespace default that match.
func evictedEvents(t *testing.T, s *stack.Stack, match func(corev1.Event) bool) int {
	t.Helper()
	list := &corev1.EventList{}
	if err := s.Env.Client.List(context.Background(), list, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range list.Items {
		if e.Reason == "Evicted" && e.InvolvedObject.Kind == "Pod" && match(e) {
			n++
		}
	}
	return n
}

// relatedTo matches Events that name the node as their related object, as eviction Events do.
func relatedTo(node string) func(corev1.Event) bool {
	return func(e corev1.Event) bool { return e.Related != nil && e.Related.Name == node }
}

// availability follows a workload's pods with a watch and records the fewest available (Ready
// and not terminating) in any state the API server showed, as a PodDisruptionBudget counts them.
// Every change is seen in order, so no moment between two polls is missed.
type availability struct {
	watcher *watchtools.RetryWatcher
	done    chan struct{}

	mu      sync.Mutex
	pods    map[types.UID]bool
	fewest  int
	at      time.Time
	changes int
	err     error
}

func watchAvailability(t *testing.T, s *stack.Stack, app string) *availability {
	t.Helper()
	ctx := context.Background()
	clientset, err := kubernetes.NewForConfig(s.Env.Config)
	if err != nil {
		t.Fatal(err)
	}
	selector := "app=" + app
	list, err := clientset.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	a := &availability{done: make(chan struct{}), pods: map[types.UID]bool{}}
	for i := range list.Items {
		a.pods[list.Items[i].UID] = available(&list.Items[i])
	}
	a.fewest, a.at = a.count(), time.Now()
	a.watcher, err = watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return clientset.CoreV1().Pods("default").Watch(ctx, o)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.watcher.Stop)
	go a.run()
	return a
}

func (a *availability) run() {
	defer close(a.done)
	for ev := range a.watcher.ResultChan() {
		a.mu.Lock()
		switch ev.Type {
		case watch.Added, watch.Modified, watch.Deleted:
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				break
			}
			if ev.Type == watch.Deleted {
				delete(a.pods, pod.UID)
			} else {
				a.pods[pod.UID] = available(pod)
			}
			a.changes++
			if n := a.count(); n < a.fewest {
				a.fewest, a.at = n, time.Now()
			}
		case watch.Error:
			a.err = apierrors.FromObject(ev.Object)
		}
		a.mu.Unlock()
	}
}

// count is how many pods are available; the caller holds mu.
func (a *availability) count() int {
	n := 0
	for _, ok := range a.pods {
		if ok {
			n++
		}
	}
	return n
}

// stop ends the watch and returns the fewest pods available and when.
func (a *availability) stop(t *testing.T) (int, time.Time) {
	t.Helper()
	a.watcher.Stop()
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		t.Fatalf("watching pods: %v", a.err)
	}
	return a.fewest, a.at
}

func available(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
