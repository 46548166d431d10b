package lifecycle_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
)

func TestReconcile_LaunchRecordsTheInstanceOnTheMachine(t *testing.T) {
	h := newHarness(t)
	created := h.createMachine("launch", withInstanceType("m5.large"))

	h.mustReconcile("launch")

	m := h.machine("launch")
	if !controllerutil.ContainsFinalizer(m, v1alpha5.TerminationFinalizer) {
		t.Errorf("finalizers %v, want %s so deleting the machine terminates its instance", m.Finalizers, v1alpha5.TerminationFinalizer)
	}
	if !strings.HasPrefix(m.Status.ProviderID, "fake:///"+zoneA+"/i-") {
		t.Errorf("providerID %q, want the launched instance in %s", m.Status.ProviderID, zoneA)
	}
	for key, want := range map[string]string{
		v1alpha5.LabelInstanceType:       "m5.large",
		v1alpha5.LabelTopologyZone:       zoneA,
		v1alpha5.CapacityTypeLabelKey:    v1alpha5.CapacityTypeSpot,
		v1alpha5.LabelArch:               "amd64",
		v1alpha5.ProvisionerNameLabelKey: "default",
	} {
		if got := m.Labels[key]; got != want {
			t.Errorf("label %s = %q, want %q", key, got, want)
		}
	}
	if cpu := m.Status.Capacity[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("2")) != 0 {
		t.Errorf("capacity cpu %s, want 2", cpu.String())
	}
	if cpu := m.Status.Allocatable[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("1930m")) != 0 {
		t.Errorf("allocatable cpu %s, want 1930m (2 less the 70m kube-reserved)", cpu.String())
	}
	expectCondition(t, m, v1alpha5.MachineLaunched, metav1.ConditionTrue, lifecycle.ReasonLaunched)
	expectCondition(t, m, v1alpha5.MachineRegistered, metav1.ConditionUnknown, lifecycle.ReasonNodeNotFound)
	expectCondition(t, m, v1alpha5.MachineReady, metav1.ConditionUnknown, lifecycle.ReasonNotRegistered)
	if len(h.cloud.CreateCalls) != 1 || h.cloud.CreateCalls[0].UID != created.UID {
		t.Fatalf("Create calls %d, want one carrying the machine's UID %s as the launch token", len(h.cloud.CreateCalls), created.UID)
	}

	h.mustReconcile("launch")
	if len(h.cloud.CreateCalls) != 1 {
		t.Errorf("Create called %d times, want once: a launched machine is not launched again", len(h.cloud.CreateCalls))
	}
}

func TestReconcile_LaunchAfterALostStatusWriteKeepsOneInstance(t *testing.T) {
	h := newHarness(t)
	h.createMachine("lost-status", withInstanceType("m5.large"))
	h.mustReconcile("lost-status")
	first := h.machine("lost-status").Status.ProviderID

	// The controller restarts having lost the status write: the Machine says nothing was launched,
	// and the new process has no memory of the launch.
	h.controller = lifecycle.NewController(cached, h.cloud, h.unavailable, h.recorder, h.clock, lifecycle.DefaultRegistrationTTL, h.metrics)
	m := h.machine("lost-status")
	m.Status = v1alpha5.MachineStatus{}
	if err := env.Client.Status().Update(h.ctx, m); err != nil {
		t.Fatal(err)
	}
	h.mustReconcile("lost-status")

	instances, err := h.cloud.List(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.cloud.CreateCalls) != 2 {
		t.Errorf("Create called %d times, want twice: the restarted controller asks the cloud, which finds the instance", len(h.cloud.CreateCalls))
	}
	if got := h.machine("lost-status").Status.ProviderID; got != first || len(instances) != 1 {
		t.Errorf("after relaunch providerID %q and %d instances, want %q and exactly one instance", got, len(instances), first)
	}
}

// The launch is persisted in two writes (labels, then status); a reconcile that reads the Machine
// between them, as a watch on the label write makes one do, must not call the cloud again.
func TestReconcile_AReconcileBetweenTheLaunchWritesDoesNotLaunchAgain(t *testing.T) {
	h := newHarness(t)
	h.createMachine("replay", withInstanceType("m5.large"))
	h.mustReconcile("replay")
	first := h.machine("replay").Status.ProviderID

	// What a cache that has seen the label write but not the status write shows.
	m := h.machine("replay")
	m.Status = v1alpha5.MachineStatus{}
	if err := env.Client.Status().Update(h.ctx, m); err != nil {
		t.Fatal(err)
	}
	h.mustReconcile("replay")
	if len(h.cloud.CreateCalls) != 1 {
		t.Errorf("Create called %d times, want once", len(h.cloud.CreateCalls))
	}
	if got := h.machine("replay").Status.ProviderID; got != first {
		t.Errorf("providerID %q after the replay, want %q", got, first)
	}
}

func TestReconcile_InsufficientCapacityDeletesMachineAndMarksOfferings(t *testing.T) {
	h := newHarness(t)
	h.createMachine("no-capacity", withInstanceType("m5.large"))
	spotA := cloudprovider.UnavailableOffering{InstanceType: "m5.large", Zone: zoneA, CapacityType: v1alpha5.CapacityTypeSpot}
	spotB := cloudprovider.UnavailableOffering{InstanceType: "m5.large", Zone: zoneB, CapacityType: v1alpha5.CapacityTypeSpot}
	h.cloud.CreateErrors = []error{iceError(spotA, spotB)}

	h.mustReconcile("no-capacity")

	m := h.machine("no-capacity")
	if m == nil || m.DeletionTimestamp.IsZero() {
		t.Fatalf("machine %v, want it deleting so the next batch plans around the offerings", m)
	}
	expectCondition(t, m, v1alpha5.MachineLaunched, metav1.ConditionFalse, lifecycle.ReasonInsufficientCapacity)
	expectEvent(t, h.events(), corev1.EventTypeWarning, lifecycle.EventInsufficientCapacityError, "2 offering(s)")
	for _, o := range []cloudprovider.UnavailableOffering{spotA, spotB} {
		if !h.unavailable.IsUnavailable(o.InstanceType, o.Zone, o.CapacityType) {
			t.Errorf("offering %+v available, want marked unavailable", o)
		}
	}
	if h.unavailable.IsUnavailable("m5.large", zoneA, v1alpha5.CapacityTypeOnDemand) {
		t.Error("on-demand offering marked unavailable, want only the ones the cloud named")
	}

	h.mustReconcile("no-capacity")
	if m := h.machine("no-capacity"); m != nil {
		t.Errorf("machine still exists with finalizers %v, want it gone", m.Finalizers)
	}

	h.clock.Step(lifecycle.UnavailableOfferingsTTL)
	if h.unavailable.IsUnavailable(spotA.InstanceType, spotA.Zone, spotA.CapacityType) {
		t.Errorf("offering still unavailable after %s, want it offered again", lifecycle.UnavailableOfferingsTTL)
	}
}

func TestReconcile_LaunchErrorIsRetriedWithTheReasonOnTheMachine(t *testing.T) {
	h := newHarness(t)
	h.createMachine("launch-error", withInstanceType("m5.large"))
	h.cloud.CreateErrors = []error{errors.New("RequestLimitExceeded: request rate exceeded")}

	_, err := h.reconcile("launch-error")

	if err == nil || !strings.Contains(err.Error(), "launching machine launch-error, RequestLimitExceeded") {
		t.Fatalf("error %v, want one naming the machine and the cause, so controller-runtime retries with backoff", err)
	}
	m := h.machine("launch-error")
	if m == nil || !m.DeletionTimestamp.IsZero() {
		t.Fatalf("machine %v, want it kept for the retry", m)
	}
	if !controllerutil.ContainsFinalizer(m, v1alpha5.TerminationFinalizer) {
		t.Errorf("finalizers %v, want the termination finalizer even before a launch succeeds", m.Finalizers)
	}
	expectCondition(t, m, v1alpha5.MachineLaunched, metav1.ConditionFalse, lifecycle.ReasonLaunchFailed)
	expectCondition(t, m, v1alpha5.MachineReady, metav1.ConditionFalse, lifecycle.ReasonNotLaunched)
	if msg := condition(m, v1alpha5.MachineLaunched).Message; !strings.Contains(msg, "RequestLimitExceeded") {
		t.Errorf("condition message %q, want the cloud's error", msg)
	}
	expectEvent(t, h.events(), corev1.EventTypeWarning, lifecycle.ReasonLaunchFailed, "RequestLimitExceeded")

	h.mustReconcile("launch-error")
	expectCondition(t, h.machine("launch-error"), v1alpha5.MachineLaunched, metav1.ConditionTrue, lifecycle.ReasonLaunched)
}

func TestReconcile_RegistrationLinksTheNodeAndGivesItWhatItLacks(t *testing.T) {
	h := newHarness(t)
	dedicated := corev1.Taint{Key: "dedicated", Value: "batch", Effect: corev1.TaintEffectNoSchedule}
	agentNotReady := corev1.Taint{Key: "node.cilium.io/agent-not-ready", Value: "true", Effect: corev1.TaintEffectNoExecute}
	// The Provisioner's annotations and hash, as provisioning writes them; the cloud adds its
	// node template's hash at launch.
	h.createMachine("register", withInstanceType("m5.large"), withLabels("team", "a"),
		withTaints(dedicated), withStartupTaints(agentNotReady),
		withAnnotations("example.com/owner", "team-a", "example.com/contact", "machine", v1alpha5.ProvisionerHashAnnotationKey, "111",
			corev1.LastAppliedConfigAnnotation, `{"kind":"Machine"}`))
	h.cloud.launchAnnotations = map[string]string{v1alpha1.NodeTemplateHashAnnotationKey: "222"}
	h.mustReconcile("register")
	if got := h.machine("register").Annotations; got[v1alpha1.NodeTemplateHashAnnotationKey] != "222" || got["example.com/owner"] != "team-a" {
		t.Errorf("launched machine annotations %v, want its own and the cloud's", got)
	}
	// The kubelet registered with the Provisioner's taint already and its own value for team, and
	// a user's tooling annotated the Node already.
	node := h.registerNode(h.machine("register"), nodeLabels("team", "b"), nodeTaints(dedicated), nodeReady(true),
		nodeAnnotations("example.com/contact", "node"))

	h.mustReconcile("register")

	n := h.node(node.Name)
	for key, want := range map[string]string{
		"example.com/owner":                    "team-a",
		"example.com/contact":                  "node",
		v1alpha5.ProvisionerHashAnnotationKey:  "111",
		v1alpha1.NodeTemplateHashAnnotationKey: "222",
	} {
		if got := n.Annotations[key]; got != want {
			t.Errorf("node annotation %s = %q, want %q", key, got, want)
		}
	}
	if got, ok := n.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Errorf("node carries the machine's kubectl last-applied configuration %s", got)
	}
	if !controllerutil.ContainsFinalizer(n, v1alpha5.TerminationFinalizer) {
		t.Errorf("node finalizers %v, want %s so the node is drained before it goes", n.Finalizers, v1alpha5.TerminationFinalizer)
	}
	for key, want := range map[string]string{
		v1alpha5.LabelNodeRegistered:     "true",
		v1alpha5.LabelInstanceType:       "m5.large",
		v1alpha5.CapacityTypeLabelKey:    v1alpha5.CapacityTypeSpot,
		v1alpha5.ProvisionerNameLabelKey: "default",
		"team":                           "b",
	} {
		if got := n.Labels[key]; got != want {
			t.Errorf("node label %s = %q, want %q", key, got, want)
		}
	}
	if got := hasTaint(n.Spec.Taints, dedicated.Key, dedicated.Effect); got != 1 {
		t.Errorf("node has taint %s %d times, want once", dedicated.Key, got)
	}
	if got := hasTaint(n.Spec.Taints, agentNotReady.Key, agentNotReady.Effect); got != 1 {
		t.Errorf("node has startup taint %s %d times, want once", agentNotReady.Key, got)
	}
	m := h.machine("register")
	if m.Status.NodeName != node.Name {
		t.Errorf("machine nodeName %q, want %q", m.Status.NodeName, node.Name)
	}
	expectCondition(t, m, v1alpha5.MachineRegistered, metav1.ConditionTrue, lifecycle.ReasonRegistered)
	expectCondition(t, m, v1alpha5.MachineInitialized, metav1.ConditionUnknown, lifecycle.ReasonStartupTaintsExist)

	// The network agent is up and removes its startup taint: it must stay removed.
	h.updateNode(node.Name, func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{dedicated}
	}, false)
	h.mustReconcile("register")

	n = h.node(node.Name)
	if got := hasTaint(n.Spec.Taints, agentNotReady.Key, agentNotReady.Effect); got != 0 {
		t.Errorf("startup taint %s put back after the agent removed it", agentNotReady.Key)
	}
	if n.Labels[v1alpha5.LabelNodeInitialized] != "true" {
		t.Errorf("node labels %v, want %s=true", n.Labels, v1alpha5.LabelNodeInitialized)
	}
	expectCondition(t, h.machine("register"), v1alpha5.MachineReady, metav1.ConditionTrue, lifecycle.ReasonReady)
}

func TestReconcile_InitializationWaitsUntilTheNodeCanTakePods(t *testing.T) {
	startup := corev1.Taint{Key: "example.com/not-ready", Effect: corev1.TaintEffectNoSchedule}
	withGPU := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), gpu: resource.MustParse("1")}
	withoutGPU := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
	for _, tc := range []struct {
		name               string
		ready              bool
		startupTaintLeft   bool
		notReadyTaintLeft  bool
		allocatable        corev1.ResourceList
		wantReason         string
		wantInitialized    bool
		wantReadyCondition metav1.ConditionStatus
	}{
		{name: "node not ready", ready: false, allocatable: withGPU, wantReason: lifecycle.ReasonNodeNotReady},
		{name: "startup taint left", ready: true, startupTaintLeft: true, allocatable: withGPU, wantReason: lifecycle.ReasonStartupTaintsExist},
		{name: "ready, the not-ready taint not yet lifted", ready: true, notReadyTaintLeft: true, allocatable: withGPU, wantReason: lifecycle.ReasonEphemeralTaintsExist},
		{name: "gpu not yet advertised", ready: true, allocatable: withoutGPU, wantReason: lifecycle.ReasonResourceNotReady},
		{name: "ready, untainted, gpu advertised", ready: true, allocatable: withGPU, wantReason: lifecycle.ReasonInitialized, wantInitialized: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createMachine("gpu", withInstanceType("g4dn.xlarge"), withStartupTaints(startup))
			h.mustReconcile("gpu")
			node := h.registerNode(h.machine("gpu"), nodeReady(tc.ready), nodeAllocatable(tc.allocatable))
			h.mustReconcile("gpu")
			if !tc.startupTaintLeft {
				h.updateNode(node.Name, func(n *corev1.Node) { n.Spec.Taints = nil }, false)
			}
			if tc.notReadyTaintLeft {
				h.updateNode(node.Name, func(n *corev1.Node) {
					n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule})
				}, false)
			}

			h.mustReconcile("gpu")

			m := h.machine("gpu")
			if tc.wantInitialized {
				expectCondition(t, m, v1alpha5.MachineInitialized, metav1.ConditionTrue, tc.wantReason)
				expectCondition(t, m, v1alpha5.MachineReady, metav1.ConditionTrue, lifecycle.ReasonReady)
			} else {
				expectCondition(t, m, v1alpha5.MachineInitialized, metav1.ConditionUnknown, tc.wantReason)
				expectCondition(t, m, v1alpha5.MachineReady, metav1.ConditionUnknown, lifecycle.ReasonNotInitialized)
			}
			if got := h.node(node.Name).Labels[v1alpha5.LabelNodeInitialized] == "true"; got != tc.wantInitialized {
				t.Errorf("node labelled %s: %v, want %v", v1alpha5.LabelNodeInitialized, got, tc.wantInitialized)
			}
		})
	}
}

func TestReconcile_LivenessDeletesMachineWhoseNodeNeverRegistered(t *testing.T) {
	ttl := lifecycle.DefaultRegistrationTTL
	for _, tc := range []struct {
		name        string
		launchFails bool // every launch fails with a retryable error
		register    bool // a Node registers right after the launch
		deleteNode  bool // and is deleted again
		wait        time.Duration
		wantDeleted bool
	}{
		{name: "no node, within the TTL", wait: ttl - time.Second},
		{name: "no node, TTL passed", wait: ttl, wantDeleted: true},
		{name: "node registered, TTL passed", register: true, wait: time.Hour},
		{name: "node registered then being deleted, TTL passed", register: true, deleteNode: true, wait: time.Hour},
		{name: "launch failing since the TTL", launchFails: true, wait: ttl, wantDeleted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createMachine("liveness", withInstanceType("m5.large"))
			if tc.launchFails {
				h.cloud.CreateErrors = []error{errors.New("InvalidLaunchTemplate"), errors.New("InvalidLaunchTemplate")}
			}
			_, err := h.reconcile("liveness")
			if (err != nil) != tc.launchFails {
				t.Fatalf("first reconcile: %v", err)
			}
			if tc.register {
				node := h.registerNode(h.machine("liveness"), nodeReady(true))
				h.mustReconcile("liveness")
				if tc.deleteNode {
					if err := env.Client.Delete(h.ctx, node); err != nil {
						t.Fatal(err)
					}
					h.sync()
				}
			}
			h.clock.Step(tc.wait)

			result, err := h.reconcile("liveness")
			if (err != nil) != tc.launchFails {
				t.Fatalf("reconcile after %s: %v", tc.wait, err)
			}

			m := h.machine("liveness")
			if deleted := m == nil || !m.DeletionTimestamp.IsZero(); deleted != tc.wantDeleted {
				t.Fatalf("machine deleted: %v, want %v", deleted, tc.wantDeleted)
			}
			if !tc.wantDeleted {
				if !tc.register && result.RequeueAfter != ttl-tc.wait {
					t.Errorf("requeue after %s, want %s: when the TTL runs out", result.RequeueAfter, ttl-tc.wait)
				}
				return
			}
			expectEvent(t, h.events(), corev1.EventTypeWarning, lifecycle.ReasonRegistrationTimeout, "15m0s")
			h.mustReconcile("liveness") // terminates
			h.mustReconcile("liveness") // finds it gone, lets the Machine go
			instances, err := h.cloud.List(h.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(instances) != 0 || h.machine("liveness") != nil {
				t.Errorf("%d instances and machine %v left, want the instance terminated and the machine gone", len(instances), h.machine("liveness"))
			}
		})
	}
}

func TestReconcile_DeletingMachineTerminatesItsInstanceAndIsSafeToRepeat(t *testing.T) {
	for _, tc := range []struct {
		name         string
		goneAlready  bool
		deleteErrors []error
	}{
		{name: "instance running"},
		{name: "instance already terminated", goneAlready: true},
		{name: "terminate fails once, then succeeds", deleteErrors: []error{errors.New("RequestLimitExceeded")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createMachine("delete", withInstanceType("m5.large"))
			h.mustReconcile("delete")
			h.clock.Step(time.Minute) // long enough after the launch for EC2 to describe the instance
			if tc.goneAlready {
				if err := h.cloud.CloudProvider.Delete(h.ctx, h.machine("delete")); err != nil {
					t.Fatal(err)
				}
			}
			h.cloud.deleteErrors = tc.deleteErrors
			if err := env.Client.Delete(h.ctx, h.machine("delete")); err != nil {
				t.Fatal(err)
			}

			for range tc.deleteErrors {
				if _, err := h.reconcile("delete"); err == nil || !strings.Contains(err.Error(), "terminating machine delete") {
					t.Fatalf("error %v, want the failed termination returned for a retry", err)
				}
				if h.machine("delete") == nil {
					t.Fatal("machine gone while its instance may still run, want it kept until terminated")
				}
			}
			if !tc.goneAlready {
				if result := h.mustReconcile("delete"); result.RequeueAfter == 0 || h.machine("delete") == nil {
					t.Fatalf("after terminating: requeue %s, machine %v; want the machine kept and looked at again until the cloud reports the instance gone",
						result.RequeueAfter, h.machine("delete"))
				}
			}
			h.mustReconcile("delete")

			instances, err := h.cloud.List(h.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(instances) != 0 || h.machine("delete") != nil {
				t.Errorf("%d instances and machine %v left, want the instance terminated and the machine gone", len(instances), h.machine("delete"))
			}
			if _, err := h.reconcile("delete"); err != nil {
				t.Errorf("reconciling a machine that is gone: %v", err)
			}
		})
	}
}

// A deleted Machine whose Node registered leaves the drain to the Node's termination: it deletes
// the Node, keeps its instance running while the Node drains, and terminates it once the Node
// is gone.
func TestReconcile_DeletingMachineDeletesItsNodeAndWaitsForItsDrain(t *testing.T) {
	h := newHarness(t)
	h.createMachine("drained", withInstanceType("m5.large"))
	h.mustReconcile("drained")
	node := h.registerNode(h.machine("drained"), nodeReady(true))
	h.mustReconcile("drained")
	h.clock.Step(time.Minute) // EC2 describes the instance by now
	if err := env.Client.Delete(h.ctx, h.machine("drained")); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		h.mustReconcile("drained")
		if n := h.node(node.Name); n == nil || n.DeletionTimestamp.IsZero() {
			t.Fatalf("node %v, want it being deleted (its termination drains it)", n)
		}
		if len(h.cloud.DeleteCalls) != 0 {
			t.Fatalf("%d cloud deletes while the node drains, want none", len(h.cloud.DeleteCalls))
		}
	}

	h.releaseNode(node.Name)
	h.mustReconcile("drained")
	h.mustReconcile("drained")
	instances, err := h.cloud.List(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(instances) != 0 || h.machine("drained") != nil {
		t.Errorf("%d instances and machine %v left, want the instance terminated and the machine gone", len(instances), h.machine("drained"))
	}
}

// EC2 may not describe an instance launched a moment ago: a Machine deleted then is kept, and its
// instance terminated once EC2 knows it, rather than let go with the instance running untracked.
func TestReconcile_DeletingAMachineJustLaunchedWaitsUntilEC2DescribesItsInstance(t *testing.T) {
	h := newHarness(t)
	h.createMachine("fresh", withInstanceType("m5.large"))
	h.mustReconcile("fresh")
	h.cloud.deleteErrors = []error{cloudprovider.NewMachineNotFoundError(errors.New("InvalidInstanceID.NotFound"))}
	if err := env.Client.Delete(h.ctx, h.machine("fresh")); err != nil {
		t.Fatal(err)
	}
	h.sync()
	if result := h.mustReconcile("fresh"); result.RequeueAfter == 0 || h.machine("fresh") == nil {
		t.Fatalf("instance not described yet: requeue %s, machine %v; want the machine kept and looked at again", result.RequeueAfter, h.machine("fresh"))
	}
	h.clock.Step(5 * time.Second)
	h.mustReconcile("fresh") // EC2 describes it now: terminated
	h.clock.Step(time.Minute)
	h.mustReconcile("fresh")
	instances, err := h.cloud.List(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(instances) != 0 || h.machine("fresh") != nil {
		t.Errorf("%d instances and machine %v left, want the instance terminated and the machine gone", len(instances), h.machine("fresh"))
	}
}
