package provisioning

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/pkg/state"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

// managed is a fixture's Provisioner running the way the operator runs it: reading through a
// manager's cache, with the triggers and, when asked, the Machine lifecycle controller.
type managed struct {
	*fixture
	mgr         ctrl.Manager
	unavailable *lifecycle.UnavailableOfferingsCache
	batcher     *Batcher
}

// manage builds a manager over f's cloud. Batch windows run on the real clock and last
// milliseconds; retries and the lifecycle run on a fake clock that the test never steps, so every
// batch here comes from a trigger. start runs it until the test ends.
func manage(t *testing.T, f *fixture) *managed {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := state.AddIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	unavailable := lifecycle.NewUnavailableOfferingsCache(clk)
	f.registry = prometheus.NewRegistry()
	metrics, err := NewMetrics(f.registry)
	if err != nil {
		t.Fatal(err)
	}
	batcher := NewBatcher(clock.RealClock{}, 10*time.Millisecond, 100*time.Millisecond)
	f.provision = NewProvisioner(mgr.GetClient(), state.NewCluster(mgr.GetClient(), f.cloud, nil, unavailable, nil), batcher, f.recorder, clk, metrics)
	return &managed{fixture: f, mgr: mgr, unavailable: unavailable, batcher: batcher}
}

// withControllers adds the provisioner loop, both triggers and the lifecycle controller.
func (m *managed) withControllers(ctx context.Context) {
	m.t.Helper()
	clk := clocktesting.NewFakeClock(time.Now())
	metrics, err := lifecycle.NewMetrics(prometheus.NewRegistry(), m.unavailable)
	if err != nil {
		m.t.Fatal(err)
	}
	machines := lifecycle.NewController(m.mgr.GetClient(), m.cloud, m.unavailable, m.mgr.GetEventRecorder(lifecycle.Name), clk, lifecycle.DefaultRegistrationTTL, metrics)
	for _, err := range []error{
		m.mgr.Add(m.provision),
		NewPodTrigger(m.mgr.GetClient(), m.batcher).Register(m.mgr),
		NewChangeTrigger(m.batcher).Register(m.mgr),
		machines.Register(ctx, m.mgr),
	} {
		if err != nil {
			m.t.Fatal(err)
		}
	}
}

func (m *managed) start(ctx context.Context, cancel context.CancelFunc) {
	m.t.Helper()
	// Registered after the fixture's cleanup, so it runs first: the controllers stop before
	// their objects are removed.
	kubeenv.StartManager(ctx, m.t, cancel, m.mgr)
	if !m.mgr.GetCache().WaitForCacheSync(ctx) {
		m.t.Fatal("cache never synced")
	}
}

// cachedPending waits until the manager's cache sees the pod marked unschedulable.
func (m *managed) cachedPending(ctx context.Context, pod *corev1.Pod) {
	m.t.Helper()
	kubeenv.Eventually(m.t, 10*time.Second, "cache sees pod "+pod.Name+" pending", func() error {
		cached := &corev1.Pod{}
		if err := m.mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(pod), cached); err != nil {
			return err
		}
		if !state.IsProvisionable(cached) {
			return fmt.Errorf("pod %s not provisionable in the cache yet", pod.Name)
		}
		return nil
	})
}

// Two batches back to back read the same cache the first batch's Machines land in: the second
// must count them as in flight and launch nothing.
func TestProvision_BackToBackBatchesThroughTheCacheLaunchOnce(t *testing.T) {
	f := newFixture(t, "cached", nil)
	ctx, cancel := context.WithCancel(context.Background())
	m := manage(t, f)
	m.start(ctx, cancel)
	for i := range 3 {
		m.cachedPending(ctx, f.pendingPod(fmt.Sprintf("web-%d", i), "3"))
	}
	for batch := range 5 {
		if _, err := f.provision.Provision(ctx); err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
	}
	if n := len(f.machines()); n != 2 {
		t.Errorf("five batches over three 3-cpu pods created %d machines, want 2 (two pods fit one 8-cpu node)", n)
	}
}

// The only offering that fits runs out of capacity: its Machine is deleted, and with no new pod
// event the next batch launches the pod on the next offering.
func TestControllers_InsufficientCapacityRelaunchesOnTheNextOfferingWithoutAPodEvent(t *testing.T) {
	f := newFixture(t, "ice", nil)
	ctx, cancel := context.WithCancel(context.Background())
	m := manage(t, f)
	m.withControllers(ctx)
	f.cloud.CreateErrors = []error{cloudprovider.NewInsufficientCapacityError(fmt.Errorf("InsufficientInstanceCapacity"),
		cloudprovider.UnavailableOffering{InstanceType: "small", Zone: "us-east-1a", CapacityType: v1alpha5.CapacityTypeOnDemand})}
	m.start(ctx, cancel)
	f.pendingPod("web", "1")

	kubeenv.Eventually(t, 20*time.Second, "the pod's machine launched on the next offering", func() error {
		machines := f.machines()
		if len(machines) != 1 {
			return fmt.Errorf("%d machines", len(machines))
		}
		if got := machines[0].Labels[v1alpha5.LabelInstanceType]; got != "large" || machines[0].Status.ProviderID == "" {
			return fmt.Errorf("machine %s launched %q (%q)", machines[0].Name, got, machines[0].Status.ProviderID)
		}
		return nil
	})
	instances, err := f.cloud.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.cloud.Lock()
	defer f.cloud.Unlock()
	launched := map[string]bool{}
	for _, call := range f.cloud.CreateCalls {
		launched[string(call.UID)] = true
	}
	if len(launched) != 2 || len(instances) != 1 {
		t.Errorf("%d machines launched, %d instances: want 2 (the one out of capacity, the one on the next offering) and 1", len(launched), len(instances))
	}
}

// countingTypes counts the instance-type reads that reach the cloud provider.
type countingTypes struct {
	cloudprovider.CloudProvider
	calls atomic.Int32
}

func (c *countingTypes) GetInstanceTypes(ctx context.Context, p *v1alpha5.Provisioner) ([]*scheduling.InstanceType, error) {
	c.calls.Add(1)
	return c.CloudProvider.GetInstanceTypes(ctx, p)
}

// The first batch after a start should not wait for the cloud's catalog: the provisioner reads
// every Provisioner's instance types as soon as it starts, before any pod is pending.
func TestProvisioner_ReadsInstanceTypesAtStartBeforeAnyPod(t *testing.T) {
	f := newFixture(t, "warm", nil)
	ctx, cancel := context.WithCancel(context.Background())
	m := manage(t, f)
	counting := &countingTypes{CloudProvider: f.cloud}
	m.provision.cluster = state.NewCluster(m.mgr.GetClient(), counting, nil, m.unavailable, nil)
	if err := m.mgr.Add(m.provision); err != nil {
		t.Fatal(err)
	}
	m.start(ctx, cancel)
	kubeenv.Eventually(t, 10*time.Second, "instance types read with no pod pending", func() error {
		if counting.calls.Load() == 0 {
			return fmt.Errorf("no instance-type read yet")
		}
		return nil
	})
}

// slowCloud holds every Create until released, counting those in progress.
type slowCloud struct {
	cloudprovider.CloudProvider
	started chan string
	release chan struct{}
}

func (c *slowCloud) Create(ctx context.Context, m *v1alpha5.Machine) (*v1alpha5.Machine, error) {
	// Once released nobody counts: retries after the test must not block on a full channel and
	// hold up the manager's shutdown.
	select {
	case c.started <- m.Name:
	case <-c.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-c.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return c.CloudProvider.Create(ctx, m)
}

// Launches wait seconds on the cloud: a batch's Machines launch side by side, so a burst of
// nodes takes about one launch's time, not one per node.
func TestLifecycle_LaunchesMachinesConcurrently(t *testing.T) {
	f := newFixture(t, "parallel", nil)
	ctx, cancel := context.WithCancel(context.Background())
	m := manage(t, f)
	slow := &slowCloud{CloudProvider: f.cloud, started: make(chan string, 10), release: make(chan struct{})}
	metrics, err := lifecycle.NewMetrics(prometheus.NewRegistry(), m.unavailable)
	if err != nil {
		t.Fatal(err)
	}
	machines := lifecycle.NewController(m.mgr.GetClient(), slow, m.unavailable, m.mgr.GetEventRecorder(lifecycle.Name),
		clocktesting.NewFakeClock(time.Now()), lifecycle.DefaultRegistrationTTL, metrics)
	if err := machines.Register(ctx, m.mgr); err != nil {
		t.Fatal(err)
	}
	m.start(ctx, cancel)
	defer close(slow.release)

	for _, name := range []string{"parallel-a", "parallel-b", "parallel-c"} {
		machine := &v1alpha5.Machine{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: f.provisioner.Name}},
			Spec:       v1alpha5.MachineSpec{Resources: v1alpha5.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}},
		}
		if err := env.Client.Create(ctx, machine); err != nil {
			t.Fatal(err)
		}
	}
	inProgress := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for len(inProgress) < 3 {
		select {
		case name := <-slow.started:
			inProgress[name] = true
		case <-timeout:
			t.Fatalf("launches in progress at once: %v, want all 3", inProgress)
		}
	}
}
