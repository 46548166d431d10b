package termination_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/fake"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/pkg/state"
	"github.com/kerf-autoscaler/kerf/pkg/termination"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

// env runs kube-controller-manager too: its ReplicaSet, garbage collector and disruption
// controllers make Deployments and PodDisruptionBudgets behave as in a cluster, so the Eviction
// API refuses what a real one would.
var env *kubeenv.Env

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	if env, err = kubeenv.StartWith(kubeenv.Options{Components: []kubeenv.Component{kubeenv.ControllerManager}}); err != nil {
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
	go runKubelet(ctx)
	return m.Run()
}

// cloud is the fake provider counting the Delete calls that terminated something: a repeated or
// resumed termination must not terminate twice.
type cloud struct {
	*fake.CloudProvider
	mu          sync.Mutex
	terminated  map[string]int
	afterDelete func()
}

func newCloud() *cloud {
	return &cloud{CloudProvider: fake.New(instanceType()), terminated: map[string]int{}}
}

func (c *cloud) Delete(ctx context.Context, machine *v1alpha5.Machine) error {
	err := c.CloudProvider.Delete(ctx, machine)
	if err == nil {
		c.mu.Lock()
		c.terminated[machine.Status.ProviderID]++
		after := c.afterDelete
		c.mu.Unlock()
		if after != nil {
			after()
		}
	}
	return err
}

func (c *cloud) terminations(providerID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.terminated[providerID]
}

func instanceType() *scheduling.InstanceType {
	return &scheduling.InstanceType{
		Name:         "m5.large",
		Requirements: scheduling.NewRequirements(scheduling.In(scheduling.LabelInstanceType, "m5.large"), scheduling.In(scheduling.LabelArch, "amd64")),
		Capacity:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("29")},
		Offerings:    scheduling.Offerings{{Zone: "us-east-1a", CapacityType: v1alpha5.CapacityTypeOnDemand, Price: 0.096, Available: true}},
	}
}

// controllers is a manager running the Machine lifecycle and termination controllers, the two
// halves of a node's way out, on a fake cloud and the real clock.
type controllers struct {
	cloud    *cloud
	registry *prometheus.Registry
	stop     func()
}

func startControllers(t *testing.T, c *cloud) *controllers {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	registry := prometheus.NewRegistry()
	lifecycleMetrics, err := lifecycle.NewMetrics(registry, nil)
	if err != nil {
		t.Fatal(err)
	}
	terminationMetrics, err := termination.NewMetrics(registry)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.RealClock{}
	machines := lifecycle.NewController(mgr.GetClient(), c, lifecycle.NewUnavailableOfferingsCache(clk), mgr.GetEventRecorder(lifecycle.Name),
		clk, lifecycle.DefaultRegistrationTTL, lifecycleMetrics)
	nodes := termination.NewController(mgr.GetClient(), mgr.GetAPIReader(), c, mgr.GetEventRecorder(termination.Name), clk, terminationMetrics)
	for _, err := range []error{state.AddIndexes(ctx, mgr.GetFieldIndexer()), machines.Register(ctx, mgr), nodes.Register(mgr)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	stop := kubeenv.StartManager(ctx, t, cancel, mgr)
	return &controllers{cloud: c, registry: registry, stop: stop}
}

func ptr[T any](v T) *T { return &v }

// kerfNode creates a Machine, waits for the lifecycle controller to launch it on the fake cloud,
// and registers its Node, Ready, in pool: the fake kubelet binds the pods of namespace pool to
// the schedulable Nodes of that pool.
func kerfNode(t *testing.T, name, pool string) (*v1alpha5.Machine, *corev1.Node) {
	t.Helper()
	ctx := context.Background()
	machine := &v1alpha5.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: "default"}},
		Spec:       v1alpha5.MachineSpec{Resources: v1alpha5.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}},
	}
	if err := env.Client.Create(ctx, machine); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { forceDelete(t, &v1alpha5.Machine{}, name) })
	kubeenv.Eventually(t, 10*time.Second, "machine "+name+" launched", func() error {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, machine); err != nil {
			return err
		}
		if machine.Status.ProviderID == "" {
			return fmt.Errorf("no provider id yet")
		}
		return nil
	})
	node := plainNode(t, "node-"+name, pool, machine.Status.ProviderID)
	kubeenv.Eventually(t, 10*time.Second, "node "+node.Name+" registered", func() error {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: node.Name}, node); err != nil {
			return err
		}
		if node.Labels[v1alpha5.LabelNodeInitialized] != "true" {
			return fmt.Errorf("not initialized yet")
		}
		return nil
	})
	return machine, node
}

// plainNode creates a Ready Node in pool, as a kubelet registers it.
func plainNode(t *testing.T, name, pool, providerID string) *corev1.Node {
	t.Helper()
	ctx := context.Background()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name, poolLabel: pool}},
		Spec:       corev1.NodeSpec{ProviderID: providerID},
	}
	if err := env.Client.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { forceDelete(t, &corev1.Node{}, name) })
	reported := node.DeepCopy()
	reported.Status = corev1.NodeStatus{
		Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("29")},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("29")},
	}
	if err := env.Client.Status().Patch(ctx, reported, client.MergeFrom(node)); err != nil {
		t.Fatal(err)
	}
	// The API server taints every new Node not-ready; stand in for the node lifecycle controller,
	// which lifts it once the Node is Ready.
	lifted := reported.DeepCopy()
	lifted.Spec.Taints = slices.DeleteFunc(lifted.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady })
	if err := env.Client.Patch(ctx, lifted, client.MergeFrom(reported)); err != nil {
		t.Fatal(err)
	}
	return lifted
}

// forceDelete removes an object a test left behind, finalizers first.
func forceDelete(t *testing.T, obj client.Object, name string) {
	ctx := context.Background()
	if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
		return
	}
	if len(obj.GetFinalizers()) > 0 {
		patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
		obj.SetFinalizers(nil)
		if err := env.Client.Patch(ctx, obj, patch); client.IgnoreNotFound(err) != nil {
			t.Errorf("removing finalizers of %s: %v", name, err)
		}
	}
	if err := env.Client.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		t.Errorf("deleting %s: %v", name, err)
	}
}

// namespace creates a namespace named after base and returns its name, new on every run so
// -count=N works (envtest runs no namespace controller to finish deleting the old ones).
func namespace(t *testing.T, base string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: base + "-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// gone reports whether the named object no longer exists.
func gone(obj client.Object, name string) error {
	err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%s still exists (finalizers %v, deleting since %v)", name, obj.GetFinalizers(), obj.GetDeletionTimestamp())
}

// nodeEvents returns "Type Reason: note" of every Event about the named Node, oldest first.
func nodeEvents(t *testing.T, node string) []string {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := env.Client.List(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].EventTime.Before(&list.Items[j].EventTime) })
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "Node" && e.Regarding.Name == node {
			out = append(out, e.Type+" "+e.Reason+": "+e.Note)
		}
	}
	return out
}
