package provisioning

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
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/fake"
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

func (r *recorder) about(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if strings.HasPrefix(e, name+" ") {
			out = append(out, e)
		}
	}
	return out
}

func instanceType(name, cpu string, price float64) *scheduling.InstanceType {
	return &scheduling.InstanceType{
		Name:         name,
		Requirements: scheduling.NewRequirements(scheduling.In(v1alpha5.LabelInstanceType, name)),
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110"),
		},
		Offerings: scheduling.Offerings{{Zone: "us-east-1a", CapacityType: v1alpha5.CapacityTypeOnDemand, Price: price, Available: true}},
	}
}

// fixture is one test's namespace and Provisioner, removed when the test ends.
type fixture struct {
	t           *testing.T
	namespace   string
	provisioner *v1alpha5.Provisioner
	recorder    *recorder
	provision   *Provisioner
	registry    *prometheus.Registry
	cloud       *fake.CloudProvider
}

func newFixture(t *testing.T, name string, limits corev1.ResourceList) *fixture {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	prov := &v1alpha5.Provisioner{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha5.ProvisionerSpec{
			ProviderRef:   &v1alpha5.MachineTemplateRef{Name: "default"},
			Annotations:   map[string]string{"example.com/owner": "team-a"},
			Labels:        map[string]string{"team": "a"},
			Taints:        []corev1.Taint{{Key: "dedicated", Value: name, Effect: corev1.TaintEffectNoSchedule}},
			StartupTaints: []corev1.Taint{{Key: "cni", Effect: corev1.TaintEffectNoSchedule}},
			Requirements:  []v1alpha5.NodeSelectorRequirement{{Key: "team", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}},
		},
	}
	if limits != nil {
		prov.Spec.Limits = &v1alpha5.Limits{Resources: limits}
	}
	for _, obj := range []client.Object{ns, prov} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		machines := &v1alpha5.MachineList{}
		_ = env.Client.List(ctx, machines, client.MatchingLabels{v1alpha5.ProvisionerNameLabelKey: name})
		for i := range machines.Items {
			m := &machines.Items[i]
			m.Finalizers = nil
			_ = env.Client.Update(ctx, m)
			_ = env.Client.Delete(ctx, m)
		}
		// No kubelet or namespace controller runs here: delete pods outright.
		_ = env.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(name), client.GracePeriodSeconds(0))
		_ = env.Client.Delete(ctx, prov)
	})
	cloud := fake.New(instanceType("small", "2", 0.1), instanceType("large", "8", 0.3))
	registry := prometheus.NewRegistry()
	metrics, err := NewMetrics(registry)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	f := &fixture{t: t, namespace: name, provisioner: prov, recorder: rec, registry: registry, cloud: cloud}
	f.provision = NewProvisioner(env.Client, state.NewCluster(env.Client, cloud, nil, nil, nil), NewBatcher(clocktesting.NewFakeClock(time.Now()), time.Second, 10*time.Second), rec, clocktesting.NewFakeClock(time.Now()), metrics)
	return f
}

// pendingPod creates a pod the kube-scheduler has marked unschedulable.
func (f *fixture) pendingPod(name, cpu string, options ...func(*corev1.Pod)) *corev1.Pod {
	f.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace},
		Spec: corev1.PodSpec{
			Containers:  []corev1.Container{{Name: "c", Image: "pause", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}},
			Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}},
		},
	}
	for _, option := range options {
		option(pod)
	}
	ctx := context.Background()
	if err := env.Client.Create(ctx, pod); err != nil {
		f.t.Fatal(err)
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	if err := env.Client.Status().Update(ctx, pod); err != nil {
		f.t.Fatal(err)
	}
	return pod
}

func (f *fixture) machines() []v1alpha5.Machine {
	f.t.Helper()
	list := &v1alpha5.MachineList{}
	if err := env.Client.List(context.Background(), list, client.MatchingLabels{v1alpha5.ProvisionerNameLabelKey: f.provisioner.Name}); err != nil {
		f.t.Fatal(err)
	}
	return list.Items
}

func TestProvision_CreatesAMachinePerPlannedNodeShapedByItsProvisioner(t *testing.T) {
	f := newFixture(t, "shape", nil)
	for i := range 3 {
		f.pendingPod(fmt.Sprintf("web-%d", i), "1")
	}
	plan, err := f.provision.Provision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	machines := f.machines()
	if len(machines) != 1 || len(plan.NewNodes) != 1 {
		t.Fatalf("created %d machines for %d planned nodes, want one for three 1-cpu pods", len(machines), len(plan.NewNodes))
	}
	m := machines[0]
	if m.Labels["team"] != "a" || !strings.HasPrefix(m.Name, f.provisioner.Name+"-") {
		t.Errorf("machine %s labels %v: want the Provisioner's name and labels", m.Name, m.Labels)
	}
	if m.Annotations["example.com/owner"] != "team-a" || m.Annotations[v1alpha5.ProvisionerHashAnnotationKey] != f.provisioner.Hash() {
		t.Errorf("machine annotations %v: want the Provisioner's and the hash of its static fields, %s", m.Annotations, f.provisioner.Hash())
	}
	if len(m.OwnerReferences) != 1 || m.OwnerReferences[0].UID != f.provisioner.UID {
		t.Errorf("machine owners %v, want the Provisioner", m.OwnerReferences)
	}
	if len(m.Finalizers) != 1 || m.Finalizers[0] != v1alpha5.TerminationFinalizer {
		t.Errorf("machine finalizers %v, want the termination finalizer so its instance is always terminated", m.Finalizers)
	}
	if len(m.Spec.Taints) != 1 || len(m.Spec.StartupTaints) != 1 || m.Spec.MachineTemplateRef.Name != "default" {
		t.Errorf("machine spec %+v lost the Provisioner's taints, startup taints or template", m.Spec)
	}
	var types []string
	for _, r := range m.Spec.Requirements {
		if r.Key == v1alpha5.LabelInstanceType {
			types = r.Values
		}
	}
	if strings.Join(types, ",") != "large" {
		t.Errorf("candidate instance types %v, want only large (3 cpu do not fit small)", types)
	}
	if cpu := m.Spec.Resources.Requests[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("3")) != 0 {
		t.Errorf("machine requests %s cpu, want the pods' 3", cpu.String())
	}
	for i := range 3 {
		events := f.recorder.about(fmt.Sprintf("web-%d", i))
		if len(events) != 1 || !strings.Contains(events[0], "Nominated Pod should schedule on machine "+m.Name) {
			t.Errorf("events for web-%d: %q, want one Nominated naming %s", i, events, m.Name)
		}
	}
}

func TestProvision_InFlightCapacityIsNeverLaunchedTwice(t *testing.T) {
	f := newFixture(t, "twice", nil)
	f.pendingPod("web", "1")
	for range 2 {
		if _, err := f.provision.Provision(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.machines()); n != 1 {
		t.Fatalf("two batches over the same pending pod created %d machines, want 1", n)
	}
	// The second batch holds the pod on the Machine it was planned onto rather than planning it
	// again: one Nominated Event, naming that Machine.
	events := f.recorder.about("web")
	if len(events) != 1 || !strings.Contains(events[0], "machine "+f.machines()[0].Name) {
		t.Errorf("events %q: want one Nominated naming the in-flight machine", events)
	}
}

func TestProvision_LimitStopsGrowthWithAnEventNamingIt(t *testing.T) {
	f := newFixture(t, "limit", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")})
	f.pendingPod("big", "6")
	if _, err := f.provision.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.machines()); n != 0 {
		t.Errorf("created %d machines beyond the limit, want 0", n)
	}
	events := f.recorder.about("big")
	if len(events) != 1 || !strings.Contains(events[0], "FailedScheduling") || !strings.Contains(events[0], string(scheduling.ReasonLimitExceeded)) || !strings.Contains(events[0], "cpu") {
		t.Errorf("events %q, want one FailedScheduling naming the cpu limit", events)
	}
}
