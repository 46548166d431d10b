package state_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/fake"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/pkg/state"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

var env *kubeenv.Env

func TestMain(m *testing.M) { os.Exit(kubeenv.Run(m, &env)) }

func resources(cpu, memory string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
}

// create creates obj, then writes the status it was given.
func create(t *testing.T, obj client.Object) {
	t.Helper()
	ctx := context.Background()
	withStatus := obj.DeepCopyObject().(client.Object)
	if err := env.Client.Create(ctx, obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	withStatus.SetResourceVersion(obj.GetResourceVersion())
	withStatus.SetUID(obj.GetUID())
	if err := env.Client.Status().Update(ctx, withStatus); err != nil {
		t.Fatalf("writing status of %T %s: %v", obj, obj.GetName(), err)
	}
}

// createWithoutStatus creates kinds that have no status subresource.
func createWithoutStatus(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func pod(name, node string, phase corev1.PodPhase, conditions ...corev1.PodCondition) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "pause"}}},
		Status:     corev1.PodStatus{Phase: phase, Conditions: conditions},
	}
}

func TestSnapshot_ReadsPendingPodsNodesInFlightMachinesAndUsage(t *testing.T) {
	ctx := context.Background()
	provisioner := "default"
	managed := map[string]string{v1alpha5.ProvisionerNameLabelKey: provisioner}
	cniTaint := corev1.Taint{Key: "cni", Value: "not-ready", Effect: corev1.TaintEffectNoSchedule}
	dedicated := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
	uninitialized := corev1.Taint{Key: "node.cloudprovider.kubernetes.io/uninitialized", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	unschedulable := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}

	create(t, &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: provisioner}, Spec: v1alpha5.ProvisionerSpec{ProviderRef: &v1alpha5.MachineTemplateRef{Name: "default"}}})
	ready := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "ready", Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: provisioner, v1alpha5.LabelNodeInitialized: "true"}},
		Spec:       corev1.NodeSpec{ProviderID: "fake:///z/i-1", Taints: []corev1.Taint{dedicated}},
		Status:     corev1.NodeStatus{Capacity: resources("4", "16Gi"), Allocatable: resources("3900m", "15Gi")},
	}
	create(t, ready)
	// The API server taints every new node not-ready; the node lifecycle controller lifts it once
	// the kubelet reports Ready. There is no such controller here, so lift it by hand.
	ready.Spec.Taints = []corev1.Taint{dedicated}
	if err := env.Client.Update(ctx, ready); err != nil {
		t.Fatal(err)
	}
	create(t, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "starting", Labels: managed},
		Spec:       corev1.NodeSpec{ProviderID: "fake:///z/i-2", Taints: []corev1.Taint{cniTaint, dedicated, notReady, unreachable, uninitialized}},
		Status:     corev1.NodeStatus{Capacity: resources("2", "8Gi"), Allocatable: resources("1900m", "7Gi")},
	})
	create(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "not-kerfs"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{notReady}},
		Status: corev1.NodeStatus{Capacity: resources("8", "32Gi"), Allocatable: resources("8", "32Gi")}})
	create(t, &v1alpha5.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "registered", Labels: managed},
		Spec:       v1alpha5.MachineSpec{StartupTaints: []corev1.Taint{cniTaint}},
		Status:     v1alpha5.MachineStatus{ProviderID: "fake:///z/i-2", Capacity: resources("2", "8Gi")},
	})
	create(t, &v1alpha5.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "launched", Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: provisioner, v1alpha5.LabelTopologyZone: "us-east-1a"}},
		Status:     v1alpha5.MachineStatus{ProviderID: "fake:///z/i-3", Capacity: resources("8", "32Gi"), Allocatable: resources("7900m", "30Gi")},
	})
	create(t, &v1alpha5.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "launching", Labels: managed},
		Spec: v1alpha5.MachineSpec{
			Requirements: []corev1.NodeSelectorRequirement{{Key: v1alpha5.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"us-east-1b"}}},
			Resources:    v1alpha5.ResourceRequirements{Requests: resources("1", "1Gi")},
		},
	})
	create(t, pod("pending", "", corev1.PodPending, unschedulable))
	create(t, pod("not-yet-tried", "", corev1.PodPending))
	create(t, pod("running", "ready", corev1.PodRunning))
	create(t, pod("done", "ready", corev1.PodSucceeded))
	create(t, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "logging", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "logging"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "logging"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "fluent-bit", Resources: corev1.ResourceRequirements{Requests: resources("100m", "128Mi")}}}},
			},
		},
	})

	snap, err := state.NewCluster(env.Client, fake.New(), nil, nil, nil).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if got := names(snap.Pods); !cmp.Equal(got, []string{"pending"}) {
		t.Errorf("pending pods %v, want only the one the scheduler marked unschedulable", got)
	}
	type nodeView struct {
		InFlight    bool
		Taints      []string
		Allocatable string
		Pods        []string
		Zone        string
	}
	got := map[string]nodeView{}
	for _, n := range snap.Nodes {
		var taints []string
		for _, t := range n.Taints {
			taints = append(taints, t.Key)
		}
		cpu := n.Allocatable[corev1.ResourceCPU]
		got[n.Name] = nodeView{n.InFlight, taints, cpu.String(), names(n.Pods), n.Labels[v1alpha5.LabelTopologyZone]}
	}
	want := map[string]nodeView{
		"ready":     {Taints: []string{"dedicated"}, Allocatable: "3900m", Pods: []string{"running"}},
		"starting":  {Taints: []string{"dedicated"}, Allocatable: "1900m"},
		"not-kerfs": {Taints: []string{corev1.TaintNodeNotReady}, Allocatable: "8"},
		"launched":  {InFlight: true, Allocatable: "7900m", Zone: "us-east-1a"},
		"launching": {InFlight: true, Allocatable: "1", Zone: "us-east-1b"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}

	if len(snap.Provisioners) != 1 {
		t.Fatalf("%d provisioners, want 1", len(snap.Provisioners))
	}
	// ready 4 + starting 2 + launched 8 + launching's requested 1; the registered Machine is
	// counted once, through its node.
	usage := snap.Provisioners[0].Usage[corev1.ResourceCPU]
	if usage.Cmp(resource.MustParse("15")) != 0 {
		t.Errorf("provisioner uses %s cpu, want 15", usage.String())
	}
	if len(snap.DaemonSetPods) != 1 || !dsRequestsCPU(snap.DaemonSetPods[0], "100m") {
		t.Errorf("daemonset pods %v, want the logging template requesting 100m", names(snap.DaemonSetPods))
	}
	if !hasNamespace(snap.Namespaces, "default") {
		t.Error("namespaces lack default")
	}
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func hasNamespace(namespaces []scheduling.Namespace, name string) bool {
	for _, ns := range namespaces {
		if ns.Name == name {
			return true
		}
	}
	return false
}

func dsRequestsCPU(pod *corev1.Pod, want string) bool {
	cpu := scheduling.PodRequests(pod)[corev1.ResourceCPU]
	return cpu.Cmp(resource.MustParse(want)) == 0
}

func TestSnapshot_CarriesVolumesAndAttachLimits(t *testing.T) {
	ctx := context.Background()
	class := "gp3"
	createWithoutStatus(t, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: class}, Provisioner: "ebs.csi.aws.com"})
	create(t, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	})
	create(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "with-ebs"}})
	count := int32(25)
	createWithoutStatus(t, &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{Name: "with-ebs"},
		Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{
			{Name: "ebs.csi.aws.com", NodeID: "i-1", Allocatable: &storagev1.VolumeNodeResources{Count: &count}},
			{Name: "efs.csi.aws.com", NodeID: "i-1"},
		}},
	})

	snap, err := state.NewCluster(env.Client, fake.New(), nil, nil, nil).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.PersistentVolumeClaims) == 0 || len(snap.StorageClasses) == 0 {
		t.Errorf("snapshot has %d claims and %d storage classes, want the ones created", len(snap.PersistentVolumeClaims), len(snap.StorageClasses))
	}
	for _, n := range snap.Nodes {
		if n.Name == "with-ebs" {
			if diff := cmp.Diff(map[string]int32{"ebs.csi.aws.com": 25}, n.VolumeLimits); diff != "" {
				t.Errorf("attach limits (-want +got), a driver without a count stays unknown:\n%s", diff)
			}
			return
		}
	}
	t.Error("node with-ebs missing from the snapshot")
}

// availability marks one pool as recently out of capacity.
type availability struct{ instanceType, zone, capacityType string }

func (a availability) IsUnavailable(instanceType, zone, capacityType string) bool {
	return a == availability{instanceType, zone, capacityType}
}

func TestSnapshot_PlansAroundOfferingsThatRecentlyRanOut(t *testing.T) {
	ctx := context.Background()
	create(t, &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "ice"}, Spec: v1alpha5.ProvisionerSpec{ProviderRef: &v1alpha5.MachineTemplateRef{Name: "default"}}})
	it := &scheduling.InstanceType{Name: "m5.large", Offerings: scheduling.Offerings{
		{Zone: "us-east-1a", CapacityType: "spot", Price: 0.04, Available: true},
		{Zone: "us-east-1b", CapacityType: "spot", Price: 0.05, Available: true},
	}}
	cluster := state.NewCluster(env.Client, fake.New(it), nil, availability{"m5.large", "us-east-1a", "spot"}, nil)
	snap, err := cluster.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range snap.Provisioners {
		if p.Name != "ice" {
			continue
		}
		got := map[string]bool{}
		for _, o := range p.InstanceTypes[0].Offerings {
			got[o.Zone] = o.Available
		}
		if diff := cmp.Diff(map[string]bool{"us-east-1a": false, "us-east-1b": true}, got); diff != "" {
			t.Errorf("offering availability (-want +got):\n%s", diff)
		}
		if !it.Offerings[0].Available {
			t.Error("the cloud provider's shared instance type was modified")
		}
		return
	}
	t.Error("provisioner ice missing from the snapshot")
}

// failingFor fails GetInstanceTypes for the named Provisioners, as a missing AWSNodeTemplate would.
type failingFor struct {
	*fake.CloudProvider
	broken map[string]bool
	calls  *atomic.Int32
}

func (c failingFor) GetInstanceTypes(ctx context.Context, p *v1alpha5.Provisioner) ([]*scheduling.InstanceType, error) {
	if c.broken[p.Name] || c.broken["*"] {
		// As AWS errors do, every failure carries its own request ID.
		return nil, fmt.Errorf("RequestID: %d, awsnodetemplate not found", c.calls.Add(1))
	}
	return c.CloudProvider.GetInstanceTypes(ctx, p)
}

func TestSnapshot_LeavesOutAProvisionerWhoseInstanceTypesFail(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"broken", "works"} {
		create(t, &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha5.ProvisionerSpec{ProviderRef: &v1alpha5.MachineTemplateRef{Name: name}}})
	}
	recorder := events.NewFakeRecorder(10)
	cluster := state.NewCluster(env.Client, failingFor{fake.New(), map[string]bool{"broken": true}, new(atomic.Int32)}, nil, nil, recorder)
	snap, err := cluster.Snapshot(ctx)
	if err != nil {
		t.Fatalf("one broken provisioner failed the whole snapshot: %v", err)
	}
	if _, err := cluster.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	// Its owner learns why from an Event, not only the controller's log; batch after batch it is
	// the same Event (no request ID in it), which the recorder counts instead of repeating.
	close(recorder.Events)
	var said []string
	for e := range recorder.Events {
		said = append(said, e)
	}
	want := "Warning ProvisionerUnavailable Left out of provisioning: getting instance types for provisioner broken, awsnodetemplate not found"
	if len(said) != 2 || said[0] != want || said[1] != want {
		t.Errorf("events %q, want twice: %q", said, want)
	}
	var got []string
	for _, p := range snap.Provisioners {
		got = append(got, p.Name)
	}
	if slices.Contains(got, "broken") || !slices.Contains(got, "works") {
		t.Errorf("provisioners %v, want works and not broken", got)
	}

	_, err = state.NewCluster(env.Client, failingFor{fake.New(), map[string]bool{"*": true}, new(atomic.Int32)}, nil, nil, nil).Snapshot(ctx)
	var unavailable *state.ProvisionersUnavailableError
	if !errors.As(err, &unavailable) || !strings.Contains(err.Error(), "awsnodetemplate not found") {
		t.Errorf("with every provisioner broken, error %v, want ProvisionersUnavailableError carrying the cause", err)
	}
}
