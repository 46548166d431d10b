package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/fake"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/pkg/state"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

// env is the package's control plane; cached reads through the indexes the controller needs, the
// way the manager's client reads.
var (
	env    *kubeenv.Env
	cached client.Client
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if env, err = kubeenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if cached, err = env.CachedClient(ctx, state.AddIndexes); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

const (
	zoneA = "us-east-1a"
	zoneB = "us-east-1b"
	gpu   = corev1.ResourceName("nvidia.com/gpu")
)

// instanceTypes are what the fake cloud offers: a general-purpose type, cheapest as spot in zone
// A, and a GPU type.
func instanceTypes() []*scheduling.InstanceType {
	return []*scheduling.InstanceType{
		{
			Name:         "m5.large",
			Requirements: scheduling.NewRequirements(scheduling.In(scheduling.LabelInstanceType, "m5.large"), scheduling.In(scheduling.LabelArch, "amd64")),
			Capacity:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("29")},
			Overhead:     scheduling.Overhead{KubeReserved: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("70m")}},
			Offerings: scheduling.Offerings{
				{Zone: zoneA, CapacityType: v1alpha5.CapacityTypeSpot, Price: 0.03, Available: true},
				{Zone: zoneB, CapacityType: v1alpha5.CapacityTypeSpot, Price: 0.04, Available: true},
				{Zone: zoneA, CapacityType: v1alpha5.CapacityTypeOnDemand, Price: 0.096, Available: true},
			},
		},
		{
			Name:         "g4dn.xlarge",
			Requirements: scheduling.NewRequirements(scheduling.In(scheduling.LabelInstanceType, "g4dn.xlarge"), scheduling.In(scheduling.LabelArch, "amd64")),
			Capacity:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("29"), gpu: resource.MustParse("1")},
			Offerings:    scheduling.Offerings{{Zone: zoneB, CapacityType: v1alpha5.CapacityTypeOnDemand, Price: 0.526, Available: true}},
		},
	}
}

// cloud is the fake provider with two more knobs: errors for the next Delete calls, and
// annotations Create puts on the Machines it launches (as AWS records its node template's hash).
type cloud struct {
	*fake.CloudProvider
	deleteErrors      []error
	launchAnnotations map[string]string
}

func (c *cloud) Create(ctx context.Context, machine *v1alpha5.Machine) (*v1alpha5.Machine, error) {
	launched, err := c.CloudProvider.Create(ctx, machine)
	if err != nil {
		return nil, err
	}
	c.Lock()
	defer c.Unlock()
	for k, v := range c.launchAnnotations {
		if launched.Annotations == nil {
			launched.Annotations = map[string]string{}
		}
		launched.Annotations[k] = v
	}
	return launched, nil
}

func (c *cloud) Delete(ctx context.Context, machine *v1alpha5.Machine) error {
	c.Lock()
	if len(c.deleteErrors) > 0 {
		err := c.deleteErrors[0]
		c.deleteErrors = c.deleteErrors[1:]
		c.Unlock()
		return err
	}
	c.Unlock()
	return c.CloudProvider.Delete(ctx, machine)
}

// harness is one test's controller with a fake cloud, fake clock and recorded Events. It tracks
// the objects the test creates, waits for the cache to see each write before the next Reconcile,
// and removes them when the test ends.
type harness struct {
	t           *testing.T
	ctx         context.Context
	clock       *clocktesting.FakeClock
	cloud       *cloud
	unavailable *lifecycle.UnavailableOfferingsCache
	recorder    *events.FakeRecorder
	registry    *prometheus.Registry
	metrics     *lifecycle.Metrics
	controller  *lifecycle.Controller
	tracked     []client.Object
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h := &harness{
		t:           t,
		ctx:         context.Background(),
		clock:       clk,
		cloud:       &cloud{CloudProvider: fake.New(instanceTypes()...)},
		unavailable: lifecycle.NewUnavailableOfferingsCache(clk),
		recorder:    events.NewFakeRecorder(100),
		registry:    prometheus.NewRegistry(),
	}
	h.cloud.Clock = clk
	var err error
	if h.metrics, err = lifecycle.NewMetrics(h.registry, h.unavailable); err != nil {
		t.Fatal(err)
	}
	h.controller = lifecycle.NewController(cached, h.cloud, h.unavailable, h.recorder, clk, lifecycle.DefaultRegistrationTTL, h.metrics)
	t.Cleanup(h.cleanup)
	return h
}

type machineOption func(*v1alpha5.Machine)

func withInstanceType(name string) machineOption {
	return func(m *v1alpha5.Machine) {
		m.Spec.Requirements = append(m.Spec.Requirements, corev1.NodeSelectorRequirement{
			Key: v1alpha5.LabelInstanceType, Operator: corev1.NodeSelectorOpIn, Values: []string{name}})
	}
}

func withTaints(taints ...corev1.Taint) machineOption {
	return func(m *v1alpha5.Machine) { m.Spec.Taints = append(m.Spec.Taints, taints...) }
}

func withStartupTaints(taints ...corev1.Taint) machineOption {
	return func(m *v1alpha5.Machine) { m.Spec.StartupTaints = append(m.Spec.StartupTaints, taints...) }
}

func withLabels(kv ...string) machineOption {
	return func(m *v1alpha5.Machine) {
		for i := 0; i+1 < len(kv); i += 2 {
			m.Labels[kv[i]] = kv[i+1]
		}
	}
}

// createMachine creates a Machine the way the provisioner does: owned by the default Provisioner,
// with requirements and requests.
func (h *harness) createMachine(name string, opts ...machineOption) *v1alpha5.Machine {
	h.t.Helper()
	m := &v1alpha5.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: "default"}},
		Spec: v1alpha5.MachineSpec{
			Resources: v1alpha5.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
		},
	}
	for _, opt := range opts {
		opt(m)
	}
	if err := env.Client.Create(h.ctx, m); err != nil {
		h.t.Fatalf("creating machine %s: %v", name, err)
	}
	h.track(m)
	return m
}

func withAnnotations(kv ...string) machineOption {
	return func(m *v1alpha5.Machine) {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m.Annotations[kv[i]] = kv[i+1]
		}
	}
}

type nodeOption func(*corev1.Node)

func nodeAnnotations(kv ...string) nodeOption {
	return func(n *corev1.Node) {
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			n.Annotations[kv[i]] = kv[i+1]
		}
	}
}

func nodeReady(ready bool) nodeOption {
	return func(n *corev1.Node) {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	}
}

func nodeLabels(kv ...string) nodeOption {
	return func(n *corev1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func nodeTaints(taints ...corev1.Taint) nodeOption {
	return func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, taints...) }
}

func nodeAllocatable(resources corev1.ResourceList) nodeOption {
	return func(n *corev1.Node) { n.Status.Allocatable, n.Status.Capacity = resources, resources }
}

// registerNode creates the Node a kubelet would for the Machine's instance (the kubelet creates
// the object, then reports its status through the status subresource). Nodes are not Ready unless
// an option says so.
func (h *harness) registerNode(machine *v1alpha5.Machine, opts ...nodeOption) *corev1.Node {
	h.t.Helper()
	name := "node-" + machine.Name
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Spec:       corev1.NodeSpec{ProviderID: machine.Status.ProviderID},
	}
	nodeReady(false)(node)
	nodeAllocatable(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1930m"), corev1.ResourcePods: resource.MustParse("29")})(node)
	for _, opt := range opts {
		opt(node)
	}
	status := node.Status
	if err := env.Client.Create(h.ctx, node); err != nil {
		h.t.Fatalf("creating node %s: %v", name, err)
	}
	// A patch, as the kubelet sends: a controller may already have labelled the Node.
	reported := node.DeepCopy()
	reported.Status = status
	if err := env.Client.Status().Patch(h.ctx, reported, client.MergeFrom(node)); err != nil {
		h.t.Fatalf("reporting status of node %s: %v", name, err)
	}
	h.track(reported)
	if nodeIsReady(reported) {
		// The API server taints every new Node not-ready; the node lifecycle controller, which
		// this package's tests do not run, lifts the taint once the Node reports Ready.
		h.updateNode(name, func(n *corev1.Node) {
			n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady })
		}, false)
		if err := env.Client.Get(h.ctx, client.ObjectKeyFromObject(reported), reported); err != nil {
			h.t.Fatal(err)
		}
	}
	return reported
}

func nodeIsReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// updateNode changes a Node as a kubelet or an agent would, retrying on conflict.
func (h *harness) updateNode(name string, change func(*corev1.Node), status bool) {
	h.t.Helper()
	for attempt := 0; ; attempt++ {
		node := &corev1.Node{}
		if err := env.Client.Get(h.ctx, types.NamespacedName{Name: name}, node); err != nil {
			h.t.Fatal(err)
		}
		change(node)
		var err error
		if status {
			err = env.Client.Status().Update(h.ctx, node)
		} else {
			err = env.Client.Update(h.ctx, node)
		}
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) || attempt > 5 {
			h.t.Fatalf("updating node %s: %v", name, err)
		}
	}
	h.sync()
}

// releaseNode removes the termination finalizer from a Node being deleted, standing in for
// pkg/termination (which the package's tests do not run) once it has drained the Node.
func (h *harness) releaseNode(name string) {
	h.t.Helper()
	h.updateNode(name, func(n *corev1.Node) {
		if n.DeletionTimestamp.IsZero() {
			h.t.Fatalf("node %s is not being deleted", name)
		}
		n.Finalizers = nil
	}, false)
}

// reconcile runs one Reconcile of the Machine and waits for the cache to see what it wrote.
func (h *harness) reconcile(name string) (reconcile.Result, error) {
	h.t.Helper()
	h.sync()
	result, err := h.controller.Reconcile(h.ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
	h.sync()
	return result, err
}

func (h *harness) mustReconcile(name string) reconcile.Result {
	h.t.Helper()
	result, err := h.reconcile(name)
	if err != nil {
		h.t.Fatalf("reconciling machine %s: %v", name, err)
	}
	return result
}

// machine reads the Machine from the API server; nil when it is gone.
func (h *harness) machine(name string) *v1alpha5.Machine {
	h.t.Helper()
	m := &v1alpha5.Machine{}
	if err := env.Client.Get(h.ctx, types.NamespacedName{Name: name}, m); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		h.t.Fatal(err)
	}
	return m
}

func (h *harness) node(name string) *corev1.Node {
	h.t.Helper()
	n := &corev1.Node{}
	if err := env.Client.Get(h.ctx, types.NamespacedName{Name: name}, n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// events returns the Events recorded so far, as "Type Reason note".
func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (h *harness) track(obj client.Object) {
	h.tracked = append(h.tracked, obj.DeepCopyObject().(client.Object))
	h.sync()
}

// sync waits until the cache holds the API server's version of every tracked object. It waits for
// the informers, never for time to pass: the controller's clock is the fake one.
func (h *harness) sync() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, obj := range h.tracked {
		key := client.ObjectKeyFromObject(obj)
		for {
			want, got := obj.DeepCopyObject().(client.Object), obj.DeepCopyObject().(client.Object)
			wantErr, gotErr := env.Client.Get(h.ctx, key, want), cached.Get(h.ctx, key, got)
			if (apierrors.IsNotFound(wantErr) && apierrors.IsNotFound(gotErr)) ||
				(wantErr == nil && gotErr == nil && want.GetResourceVersion() == got.GetResourceVersion()) {
				break
			}
			if wantErr != nil && !apierrors.IsNotFound(wantErr) {
				h.t.Fatalf("reading %s: %v", key.Name, wantErr)
			}
			if time.Now().After(deadline) {
				h.t.Fatalf("cache did not catch up with %s: api %v / cache %v", key.Name, wantErr, gotErr)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// cleanup removes every tracked object, finalizers first, so the next test starts from an empty
// cluster (the fake cloud numbers its instances from 1 in every test).
func (h *harness) cleanup() {
	for _, obj := range h.tracked {
		current := obj.DeepCopyObject().(client.Object)
		if err := env.Client.Get(h.ctx, client.ObjectKeyFromObject(obj), current); err != nil {
			continue
		}
		if len(current.GetFinalizers()) > 0 {
			patch := client.MergeFrom(current.DeepCopyObject().(client.Object))
			current.SetFinalizers(nil)
			if err := env.Client.Patch(h.ctx, current, patch); client.IgnoreNotFound(err) != nil {
				h.t.Errorf("removing finalizers of %s: %v", current.GetName(), err)
			}
		}
		if err := env.Client.Delete(h.ctx, current); client.IgnoreNotFound(err) != nil {
			h.t.Errorf("deleting %s: %v", current.GetName(), err)
		}
	}
	h.sync()
}

// condition returns the Machine's condition of this type, or a zero one.
func condition(m *v1alpha5.Machine, conditionType string) v1alpha5.Condition {
	if c := v1alpha5.FindCondition(m.Status.Conditions, conditionType); c != nil {
		return *c
	}
	return v1alpha5.Condition{}
}

// expectCondition fails unless the Machine's condition has this status and reason.
func expectCondition(t *testing.T, m *v1alpha5.Machine, conditionType string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	c := condition(m, conditionType)
	if c.Status != status || c.Reason != reason {
		t.Errorf("machine %s condition %s = %s/%s (%q), want %s/%s", m.Name, conditionType, c.Status, c.Reason, c.Message, status, reason)
	}
}

// expectEvent fails unless one of the events contains every one of want.
func expectEvent(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, e := range got {
		matches := true
		for _, w := range want {
			matches = matches && strings.Contains(e, w)
		}
		if matches {
			return
		}
	}
	t.Errorf("no event with %q among %q", want, got)
}

func hasTaint(taints []corev1.Taint, key string, effect corev1.TaintEffect) int {
	n := 0
	for _, taint := range taints {
		if taint.Key == key && taint.Effect == effect {
			n++
		}
	}
	return n
}

func iceError(offerings ...cloudprovider.UnavailableOffering) error {
	return cloudprovider.NewInsufficientCapacityError(errors.New("InsufficientInstanceCapacity: no spot capacity"), offerings...)
}

// pendingPod creates a pod of namespace default no node has taken yet (unless an option binds it).
func (h *harness) pendingPod(name string, opts ...func(*corev1.Pod)) *corev1.Pod {
	h.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "pause"}}},
	}
	for _, opt := range opts {
		opt(pod)
	}
	if err := env.Client.Create(h.ctx, pod); err != nil {
		h.t.Fatalf("creating pod %s: %v", pod.Name, err)
	}
	// No kubelet confirms a bound pod's graceful deletion here: it goes at once.
	h.t.Cleanup(func() { _ = env.Client.Delete(context.Background(), pod, client.GracePeriodSeconds(0)) })
	h.track(pod)
	return pod
}

// pod reads pod name of namespace default from the API server.
func (h *harness) pod(name string) *corev1.Pod {
	h.t.Helper()
	pod := &corev1.Pod{}
	if err := env.Client.Get(h.ctx, client.ObjectKey{Namespace: "default", Name: name}, pod); err != nil {
		h.t.Fatalf("reading pod %s: %v", name, err)
	}
	return pod
}

// bindPod creates pod i of namespace default bound to node, as the kube-scheduler would.
func (h *harness) bindPod(node string, i int, opts ...func(*corev1.Pod)) *corev1.Pod {
	h.t.Helper()
	bind := func(p *corev1.Pod) { p.Spec.NodeName = node }
	return h.pendingPod(fmt.Sprintf("%s-pod-%d", node, i), append([]func(*corev1.Pod){bind}, opts...)...)
}
