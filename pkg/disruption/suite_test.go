package disruption_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/fake"
	"github.com/kerf-autoscaler/kerf/pkg/disruption"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/pkg/state"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

var env *kubeenv.Env

func TestMain(m *testing.M) { os.Exit(kubeenv.Run(m, &env)) }

// recorder keeps every Event as "<object> <type> <reason> <note>".
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Eventf(regarding, _ runtime.Object, eventType, reason, _, note string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s %s %s %s", regarding.(client.Object).GetName(), eventType, reason, fmt.Sprintf(note, args...)))
}

// find returns the Events about name with reason.
func (r *recorder) find(name, reason string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if f := strings.SplitN(e, " ", 4); len(f) == 4 && f[0] == name && f[2] == reason {
			out = append(out, e)
		}
	}
	return out
}

// instanceType is a "c" type of cpu cores and 2 GiB per core at $0.05 per core-hour: price
// linear in size, so a smaller node is always cheaper.
func instanceType(cpu int64) *scheduling.InstanceType {
	name := fmt.Sprintf("c.%dx", cpu)
	return &scheduling.InstanceType{
		Name:         name,
		Requirements: scheduling.NewRequirements(scheduling.In(v1alpha5.LabelInstanceType, name), scheduling.In(v1alpha5.LabelArch, "amd64")),
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewQuantity(cpu, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(cpu*2<<30, resource.BinarySI),
			corev1.ResourcePods:   resource.MustParse("110"),
		},
		Offerings: scheduling.Offerings{{Zone: "zone-a", CapacityType: v1alpha5.CapacityTypeOnDemand, Price: 0.05 * float64(cpu), Available: true}},
	}
}

// harness is one test's controller on a fake clock, over the shared API server.
type harness struct {
	t          *testing.T
	ctx        context.Context
	kube       client.Client
	clock      *clocktesting.FakeClock
	cloud      *fake.CloudProvider
	recorder   *recorder
	controller *disruption.Controller
	registry   *prometheus.Registry
	// prefix names this test's objects, so tests sharing the API server never see each
	// other's nodes as their own.
	prefix string
	// created records the replacements counted under karpenter_machines_created.
	created *createdMachines
}

func newHarness(t *testing.T, opts disruption.Options) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kube, err := env.CachedClient(ctx, state.AddIndexes)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, kube: kube, clock: clocktesting.NewFakeClock(time.Now()), recorder: &recorder{},
		cloud: fake.New(instanceType(1), instanceType(2), instanceType(4), instanceType(8)), registry: prometheus.NewRegistry(),
		prefix: strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))}
	if len(h.prefix) > 40 {
		h.prefix = h.prefix[:40]
	}
	h.prefix = strings.Trim(h.prefix, "-")
	h.created = &createdMachines{}
	metrics, err := disruption.NewMetrics(h.registry, h.created, h.created)
	if err != nil {
		t.Fatal(err)
	}
	cluster := state.NewCluster(kube, h.cloud, nil, nil, nil)
	h.controller = disruption.NewController(kube, cluster, h.cloud, h.recorder, h.clock, metrics, opts)
	t.Cleanup(h.cleanup)
	return h
}

// cleanup deletes every object the test made, finalizers first.
func (h *harness) cleanup() {
	ctx := context.Background()
	for _, list := range []client.ObjectList{&corev1.NodeList{}, &v1alpha5.MachineList{}, &v1alpha5.ProvisionerList{}} {
		if err := env.Client.List(ctx, list); err != nil {
			h.t.Error(err)
			return
		}
		items, _ := meta.ExtractList(list)
		for _, item := range items {
			obj := item.(client.Object)
			if !strings.HasPrefix(obj.GetName(), h.prefix) {
				continue
			}
			if len(obj.GetFinalizers()) > 0 {
				patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
				obj.SetFinalizers(nil)
				_ = env.Client.Patch(ctx, obj, patch)
			}
			_ = env.Client.Delete(ctx, obj)
		}
	}
}

// provisioner creates a Provisioner named after the test.
func (h *harness) provisioner(mutate func(*v1alpha5.Provisioner)) *v1alpha5.Provisioner {
	h.t.Helper()
	return h.namedProvisioner(h.prefix, mutate)
}

// namedProvisioner creates a Provisioner; its name must start with the test's prefix.
func (h *harness) namedProvisioner(name string, mutate func(*v1alpha5.Provisioner)) *v1alpha5.Provisioner {
	h.t.Helper()
	p := &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha5.ProvisionerSpec{ProviderRef: &v1alpha5.MachineTemplateRef{Name: "default"}}}
	if mutate != nil {
		mutate(p)
	}
	if err := env.Client.Create(h.ctx, p); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// node creates an initialized node of the test's Provisioner, of type c.<cpu>x, and its Machine,
// with pods of the given cpu requests bound to it (in namespace default, owned by nothing).
func (h *harness) node(suffix string, cpu int64, podCPUs ...string) *corev1.Node {
	h.t.Helper()
	return h.nodeOf(h.prefix, suffix, cpu, podCPUs...)
}

// nodeOf is node for the named Provisioner.
func (h *harness) nodeOf(provisioner, suffix string, cpu int64, podCPUs ...string) *corev1.Node {
	h.t.Helper()
	name := h.prefix + "-" + suffix
	it := instanceType(cpu)
	providerID := "fake:///zone-a/" + name
	labels := map[string]string{
		v1alpha5.ProvisionerNameLabelKey: provisioner, v1alpha5.LabelNodeInitialized: "true", v1alpha5.LabelNodeRegistered: "true",
		v1alpha5.LabelInstanceType: it.Name, v1alpha5.LabelTopologyZone: "zone-a", v1alpha5.CapacityTypeLabelKey: v1alpha5.CapacityTypeOnDemand,
		v1alpha5.LabelArch: "amd64", corev1.LabelHostname: name,
	}
	p := &v1alpha5.Provisioner{}
	if err := env.Client.Get(h.ctx, client.ObjectKey{Name: provisioner}, p); err != nil {
		h.t.Fatal(err)
	}
	// As provisioning launches it: the Provisioner's static fields hashed on the Machine.
	machine := &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: name + "-machine", Labels: labels, Annotations: p.HashAnnotations()}}
	if err := env.Client.Create(h.ctx, machine); err != nil {
		h.t.Fatal(err)
	}
	machine.Status.ProviderID = providerID
	machine.Status.Conditions = []v1alpha5.Condition{{Type: v1alpha5.MachineInitialized, Status: metav1.ConditionTrue, Reason: "Initialized",
		Message: "", LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Update(h.ctx, machine); err != nil {
		h.t.Fatal(err)
	}
	// Registered by the lifecycle controller: the termination finalizer makes deletion a drain.
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Finalizers: []string{v1alpha5.TerminationFinalizer}},
		Spec: corev1.NodeSpec{ProviderID: providerID}}
	if err := env.Client.Create(h.ctx, n); err != nil {
		h.t.Fatal(err)
	}
	n.Status.Allocatable = it.Allocatable()
	n.Status.Capacity = it.Capacity
	if err := env.Client.Status().Update(h.ctx, n); err != nil {
		h.t.Fatal(err)
	}
	// The API server taints every new Node not-ready; the node lifecycle controller would lift it.
	n.Spec.Taints = nil
	if err := env.Client.Update(h.ctx, n); err != nil {
		h.t.Fatal(err)
	}
	for i, podCPU := range podCPUs {
		h.pod(fmt.Sprintf("%s-%d", name, i), name, podCPU, nil)
	}
	return n
}

// cloudDrift makes the fake cloud report the node's instance drifted.
func (h *harness) cloudDrift(n *corev1.Node, reason cloudprovider.DriftReason) {
	h.cloud.Lock()
	defer h.cloud.Unlock()
	h.cloud.Drifted = map[string]cloudprovider.DriftReason{n.Spec.ProviderID: reason}
}

// updateProvisioner changes the Provisioner and waits until the controller's cache sees it.
func (h *harness) updateProvisioner(p *v1alpha5.Provisioner, mutate func(*v1alpha5.Provisioner)) {
	h.t.Helper()
	if err := env.Client.Get(h.ctx, client.ObjectKeyFromObject(p), p); err != nil {
		h.t.Fatal(err)
	}
	mutate(p)
	if err := env.Client.Update(h.ctx, p); err != nil {
		h.t.Fatal(err)
	}
	h.synced("provisioner change in the cache", func(r client.Reader) error {
		got := &v1alpha5.Provisioner{}
		if err := r.Get(h.ctx, client.ObjectKeyFromObject(p), got); err != nil {
			return err
		}
		if got.ResourceVersion != p.ResourceVersion {
			return errString("stale")
		}
		return nil
	})
}

// pod creates a Running pod bound to node.
func (h *harness) pod(name, node, cpu string, mutate func(*corev1.Pod)) *corev1.Pod {
	h.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": h.prefix}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main", Image: "pause",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}
	if mutate != nil {
		mutate(pod)
	}
	if err := env.Client.Create(h.ctx, pod); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = env.Client.Delete(context.Background(), pod, client.GracePeriodSeconds(0)) })
	pod.Status.Phase = corev1.PodRunning
	if err := env.Client.Status().Update(h.ctx, pod); err != nil {
		h.t.Fatal(err)
	}
	return pod
}

// synced waits until the controller's cache sees what the test wrote: check passes on it.
func (h *harness) synced(what string, check func(client.Reader) error) {
	h.t.Helper()
	kubeenv.Eventually(h.t, 10*time.Second, what, func() error { return check(h.kube) })
}

// nodesSeen waits until the cache holds n of the test's nodes with their pods.
func (h *harness) nodesSeen(n, pods int) {
	h.synced(fmt.Sprintf("%d nodes and %d pods in the cache", n, pods), func(r client.Reader) error {
		var nodes corev1.NodeList
		var podList corev1.PodList
		if err := r.List(h.ctx, &nodes); err != nil {
			return err
		}
		if err := r.List(h.ctx, &podList, client.MatchingLabels{"app": h.prefix}); err != nil {
			return err
		}
		got := 0
		for _, node := range nodes.Items {
			if strings.HasPrefix(node.Name, h.prefix) && !hasNotReadyTaint(node) && node.Status.Allocatable != nil {
				got++
			}
		}
		running := 0
		for _, p := range podList.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		if got != n || running != pods {
			return fmt.Errorf("%d nodes, %d running pods", got, running)
		}
		return nil
	})
}

// pastExpiry moves the fake clock a second past ttl after the youngest of the test's Nodes was
// created: the API server stamps creation in real time, which runs on while the test sets up.
func (h *harness) pastExpiry(ttl time.Duration) {
	h.t.Helper()
	var nodes corev1.NodeList
	if err := env.Client.List(h.ctx, &nodes); err != nil {
		h.t.Fatal(err)
	}
	at := h.clock.Now()
	for _, n := range nodes.Items {
		if strings.HasPrefix(n.Name, h.prefix) {
			at = latest(at, n.CreationTimestamp.Add(ttl+time.Second))
		}
	}
	h.clock.SetTime(at)
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// disruptStepping runs one pass while stepping the fake clock through every wait it makes (the
// consolidation validation delay), as time would pass.
func (h *harness) disruptStepping(step time.Duration) disruption.Outcome {
	h.t.Helper()
	type result struct {
		out disruption.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := h.controller.Disrupt(h.ctx)
		done <- result{out, err}
	}()
	for {
		select {
		case r := <-done:
			if r.err != nil {
				h.t.Fatalf("disruption pass: %v", r.err)
			}
			return r.out
		case <-time.After(20 * time.Millisecond):
			if h.clock.HasWaiters() {
				h.clock.Step(step)
			}
		}
	}
}

// disrupt runs one pass and fails the test on error.
func (h *harness) disrupt() disruption.Outcome {
	h.t.Helper()
	out, err := h.controller.Disrupt(h.ctx)
	if err != nil {
		h.t.Fatalf("disruption pass: %v", err)
	}
	return out
}

// initializeReplacements plays the Machine lifecycle controller: every new Machine of the test's
// Provisioner is marked initialized, or deleted when fail is set, until the test ends.
func (h *harness) initializeReplacements(fail bool) {
	ctx, cancel := context.WithCancel(h.ctx)
	h.t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			var machines v1alpha5.MachineList
			if env.Client.List(ctx, &machines, client.MatchingLabels{v1alpha5.ProvisionerNameLabelKey: h.prefix}) != nil {
				continue
			}
			for i := range machines.Items {
				m := &machines.Items[i]
				if m.Status.ProviderID != "" || m.DeletionTimestamp != nil {
					continue
				}
				if fail {
					_ = env.Client.Delete(ctx, m)
					continue
				}
				m.Status.ProviderID = "fake:///zone-a/" + m.Name
				m.Status.Conditions = []v1alpha5.Condition{{Type: v1alpha5.MachineInitialized, Status: metav1.ConditionTrue, Reason: "Initialized",
					LastTransitionTime: metav1.Now()}}
				_ = env.Client.Status().Update(ctx, m)
			}
		}
	}()
}

// get reads an object straight from the API server.
func get[T client.Object](t *testing.T, obj T, name string) (T, bool) {
	t.Helper()
	err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, obj)
	if err != nil {
		if client.IgnoreNotFound(err) != nil {
			t.Fatal(err)
		}
		return obj, false
	}
	return obj, true
}

// deleted reports whether the node is gone or going.
func deleted(t *testing.T, name string) bool {
	n, ok := get(t, &corev1.Node{}, name)
	return !ok || n.DeletionTimestamp != nil
}

func tainted(t *testing.T, name string) bool {
	n, ok := get(t, &corev1.Node{}, name)
	if !ok {
		return false
	}
	for _, taint := range n.Spec.Taints {
		if taint.Key == disruption.DisruptionTaintKey {
			return true
		}
	}
	return false
}

func ttl(seconds int64) *int64 { return ptr.To(seconds) }

type errString string

func (e errString) Error() string { return string(e) }

func kubeenvEventually(t *testing.T, what string, check func() error) {
	t.Helper()
	kubeenv.Eventually(t, 10*time.Second, what, check)
}

func hasNotReadyTaint(n corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady {
			return true
		}
	}
	return false
}

// createdMachines records MachineCreated calls as provisioning's metrics would count them, and
// Terminating calls as the Machine lifecycle would keep them.
type createdMachines struct {
	mu          sync.Mutex
	reasons     map[string]int // "provisioner/reason"
	terminating map[types.UID]string
}

func (c *createdMachines) Terminating(uid types.UID, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.terminating == nil {
		c.terminating = map[types.UID]string{}
	}
	c.terminating[uid] = reason
}

func (c *createdMachines) terminatingReason(uid types.UID) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.terminating[uid]
}

func (c *createdMachines) MachineCreated(provisioner, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reasons == nil {
		c.reasons = map[string]int{}
	}
	c.reasons[provisioner+"/"+reason]++
}
