package aws_test

import (
	"context"
	"encoding/base64"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kerf-autoscaler/kerf/pkg/apis"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/test/awsim"
	"github.com/kerf-autoscaler/kerf/test/awsim/simkubelet"
)

// launchEpoch is the fake clock's start in every test of this file's helpers.
var launchEpoch = time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)

const (
	testCluster    = "kerf-test"
	testK8sVersion = "1.30"
)

// launchEnv is awsim with real SDK clients and a CloudProvider over them.
type launchEnv struct {
	t      *testing.T
	ctx    context.Context
	srv    *awsim.Running
	clock  *clocktesting.FakeClock
	ec2    *ec2.Client
	ssm    *ssm.Client
	types  *staticInstanceTypes
	kube   *fake.ClientBuilder
	cp     *aws.CloudProvider
	opts   aws.CloudProviderOptions
	nodeTp *v1alpha1.AWSNodeTemplate
}

// newLaunchEnv starts awsim and a CloudProvider offering the named catalog types, every zone
// awsim offers them in, on-demand at the given prices and spot at 40% of them.
func newLaunchEnv(t *testing.T, nodeTemplate *v1alpha1.AWSNodeTemplate, prices map[string]float64) *launchEnv {
	t.Helper()
	clk := clocktesting.NewFakeClock(launchEpoch)
	srv, err := awsim.Start("127.0.0.1:0", awsim.Options{Clock: clk, Seed: 42, ClusterName: testCluster})
	if err != nil {
		t.Fatalf("starting awsim: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cfg := srv.AWSConfig()
	e := &launchEnv{t: t, ctx: context.Background(), srv: srv, clock: clk, ec2: ec2.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg), nodeTp: nodeTemplate}
	e.types = &staticInstanceTypes{types: e.instanceTypes(prices)}
	e.cp = e.newCloudProvider()
	return e
}

// newCloudProvider builds a provider with fresh caches, as after a restart.
func (e *launchEnv) newCloudProvider() *aws.CloudProvider {
	e.t.Helper()
	scheme, err := apis.NewScheme()
	if err != nil {
		e.t.Fatal(err)
	}
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(e.nodeTp.DeepCopy()).Build()
	e.opts = aws.CloudProviderOptions{ClusterName: testCluster, ClusterEndpoint: "https://kerf-test.example.com", CABundle: "Q0EK",
		ClusterCIDR: "10.100.0.0/16", DefaultInstanceProfile: awsim.NodeInstanceProfileFor(testCluster), KubeClient: kube, EC2: e.ec2, SSM: e.ssm, InstanceTypes: e.types, Clock: e.clock,
		KubernetesVersion: func(context.Context) (string, error) { return testK8sVersion, nil }}
	cp, err := aws.NewCloudProvider(e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return cp
}

// instanceTypes builds scheduling instance types for catalog names from awsim's answers, so
// offerings name exactly the zones awsim launches them in.
func (e *launchEnv) instanceTypes(prices map[string]float64) []*scheduling.InstanceType {
	e.t.Helper()
	var names []ec2types.InstanceType
	for n := range prices {
		names = append(names, ec2types.InstanceType(n))
	}
	if len(names) == 0 {
		return nil
	}
	desc, err := e.ec2.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: names})
	if err != nil {
		e.t.Fatal(err)
	}
	offs, err := e.ec2.DescribeInstanceTypeOfferings(e.ctx, &ec2.DescribeInstanceTypeOfferingsInput{LocationType: ec2types.LocationTypeAvailabilityZone,
		Filters: []ec2types.Filter{{Name: awssdk.String("instance-type"), Values: ec2Names(names)}}})
	if err != nil {
		e.t.Fatal(err)
	}
	zones := map[string][]string{}
	for _, o := range offs.InstanceTypeOfferings {
		zones[string(o.InstanceType)] = append(zones[string(o.InstanceType)], awssdk.ToString(o.Location))
	}
	var out []*scheduling.InstanceType
	for _, info := range desc.InstanceTypes {
		name := string(info.InstanceType)
		arch := v1alpha5.ArchAMD64
		for _, a := range info.ProcessorInfo.SupportedArchitectures {
			if a == ec2types.ArchitectureTypeArm64 {
				arch = v1alpha5.ArchARM64
			}
		}
		reqs := []scheduling.Requirement{
			scheduling.In(v1alpha5.LabelInstanceType, name), scheduling.In(v1alpha5.LabelArch, arch), scheduling.In(v1alpha5.LabelOS, "linux"),
			scheduling.In(v1alpha5.LabelInstanceFamily, strings.Split(name, ".")[0]),
		}
		if info.GpuInfo != nil && len(info.GpuInfo.Gpus) > 0 {
			reqs = append(reqs, scheduling.In(v1alpha5.LabelInstanceGPUManufacturer, strings.ToLower(awssdk.ToString(info.GpuInfo.Gpus[0].Manufacturer))))
		}
		it := &scheduling.InstanceType{Name: name, Requirements: scheduling.NewRequirements(reqs...),
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewQuantity(int64(awssdk.ToInt32(info.VCpuInfo.DefaultVCpus)), resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(awssdk.ToInt64(info.MemoryInfo.SizeInMiB)<<20, resource.BinarySI),
				corev1.ResourcePods:   resource.MustParse("29"),
			},
			Overhead: scheduling.Overhead{KubeReserved: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("70m"), corev1.ResourceMemory: resource.MustParse("574Mi")}}}
		for _, z := range zones[name] {
			it.Offerings = append(it.Offerings,
				scheduling.Offering{Zone: z, CapacityType: v1alpha5.CapacityTypeOnDemand, Price: prices[name], Available: true},
				scheduling.Offering{Zone: z, CapacityType: v1alpha5.CapacityTypeSpot, Price: prices[name] * 0.4, Available: true})
		}
		out = append(out, it)
	}
	return out
}

// realInstanceTypes is the production instance-type model over awsim, with fresh caches.
func (e *launchEnv) realInstanceTypes() *aws.DefaultInstanceTypeProvider {
	return e.realInstanceTypesFor(aws.PodNetworking{})
}

func (e *launchEnv) realInstanceTypesFor(networking aws.PodNetworking) *aws.DefaultInstanceTypeProvider {
	e.t.Helper()
	prices, err := aws.NewPricingProvider(e.ec2, nil, e.clock, aws.PricingOptions{Region: e.srv.World.Region(), IsolatedVPC: true})
	if err != nil {
		e.t.Fatal(err)
	}
	model, err := aws.NewInstanceTypeProvider(e.ec2, prices, e.clock, 0.075, networking)
	if err != nil {
		e.t.Fatal(err)
	}
	return model
}

func ec2Names(names []ec2types.InstanceType) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = string(n)
	}
	return out
}

// staticInstanceTypes is the in-test InstanceTypeProvider: fixed types, and a record of calls.
type staticInstanceTypes struct {
	mu    sync.Mutex
	types []*scheduling.InstanceType
	calls []string // node template names
	kubes []*v1alpha5.KubeletConfiguration
}

func (s *staticInstanceTypes) List(_ context.Context, nt *v1alpha1.AWSNodeTemplate, kubelet *v1alpha5.KubeletConfiguration) ([]*scheduling.InstanceType, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, nt.Name)
	s.kubes = append(s.kubes, kubelet)
	return s.types, nil
}

func defaultNodeTemplate(family string) *v1alpha1.AWSNodeTemplate {
	return &v1alpha1.AWSNodeTemplate{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v1alpha1.AWSNodeTemplateSpec{
		AMIFamily:             awssdk.String(family),
		SubnetSelector:        map[string]string{"karpenter.sh/discovery": testCluster},
		SecurityGroupSelector: map[string]string{"karpenter.sh/discovery": testCluster},
	}}
}

// newMachine is a Machine of provisioner "default" for the node template "default".
func newMachine(name string, reqs ...corev1.NodeSelectorRequirement) *v1alpha5.Machine {
	return &v1alpha5.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: "default"}},
		Spec: v1alpha5.MachineSpec{Requirements: reqs, MachineTemplateRef: &v1alpha5.MachineTemplateRef{Name: "default"},
			Resources: v1alpha5.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}},
	}
}

func in(key string, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}
}

func onDemand() corev1.NodeSelectorRequirement {
	return in(v1alpha5.CapacityTypeLabelKey, v1alpha5.CapacityTypeOnDemand)
}

// instance returns awsim's view of the instance behind a provider ID.
func (e *launchEnv) instance(providerID string) awsim.InstanceState {
	e.t.Helper()
	id, err := aws.ParseProviderID(providerID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, inst := range e.srv.World.Instances() {
		if inst.ID == id {
			return inst
		}
	}
	e.t.Fatalf("awsim has no instance %s", id)
	return awsim.InstanceState{}
}

// nodeSettings is what the node's bootstrap would give its kubelet, read from the user data the
// instance launched with.
func (e *launchEnv) nodeSettings(providerID string) simkubelet.Settings {
	e.t.Helper()
	raw, err := base64.StdEncoding.DecodeString(e.instance(providerID).UserData)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := simkubelet.ParseUserData(raw)
	if err != nil {
		e.t.Fatalf("node model cannot read the instance's user data: %v", err)
	}
	return s
}

// createWith launches m with a provider built from the env's options as change leaves them.
func (e *launchEnv) createWith(change func(*aws.CloudProviderOptions), m *v1alpha5.Machine) *v1alpha5.Machine {
	e.t.Helper()
	opts := e.opts
	change(&opts)
	cp, err := aws.NewCloudProvider(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	launched, err := cp.Create(e.ctx, m)
	if err != nil {
		e.t.Fatalf("Create(%s): %v", m.Name, err)
	}
	return launched
}

func (e *launchEnv) create(m *v1alpha5.Machine) *v1alpha5.Machine {
	e.t.Helper()
	launched, err := e.cp.Create(e.ctx, m)
	if err != nil {
		e.t.Fatalf("Create(%s): %v", m.Name, err)
	}
	return launched
}

// expectOneInstance fails unless every Create answered with the same instance, the only one
// awsim runs: a repeated launch of one Machine is idempotent.
func (e *launchEnv) expectOneInstance(answers ...*v1alpha5.Machine) {
	e.t.Helper()
	for _, a := range answers[1:] {
		if a.Status.ProviderID != answers[0].Status.ProviderID {
			e.t.Errorf("a repeated Create answered %s, the first %s: want the same instance", a.Status.ProviderID, answers[0].Status.ProviderID)
		}
	}
	if n := len(e.srv.World.Instances()); n != 1 {
		e.t.Errorf("awsim holds %d instances for one Machine, want 1", n)
	}
}

// stepWhileWaiting runs fn and, whenever something waits on the fake clock (a backoff), steps
// the clock, so retries happen without real sleeps.
func stepWhileWaiting(clk *clocktesting.FakeClock, fn func()) {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	for {
		select {
		case <-done:
			return
		default:
			if clk.HasWaiters() {
				clk.Step(time.Second)
			}
			runtime.Gosched()
		}
	}
}

func TestCreate_FillsMachineLikeTheFakeAndTagsTheInstance(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085, "m5.large": 0.096})
	m := newMachine("default-x7k2p", onDemand())
	launched := e.create(m)

	if got := launched.Labels[v1alpha5.LabelInstanceType]; got != "c5.large" {
		t.Errorf("instance type %q, want the cheapest, c5.large", got)
	}
	if launched.Labels[v1alpha5.CapacityTypeLabelKey] != v1alpha5.CapacityTypeOnDemand || launched.Labels[v1alpha5.LabelArch] != v1alpha5.ArchAMD64 {
		t.Errorf("labels %v, want on-demand amd64", launched.Labels)
	}
	inst := e.instance(launched.Status.ProviderID)
	if want := "aws:///" + inst.Zone + "/" + inst.ID; launched.Status.ProviderID != want || launched.Labels[v1alpha5.LabelTopologyZone] != inst.Zone {
		t.Errorf("provider ID %q zone %q, want %q", launched.Status.ProviderID, launched.Labels[v1alpha5.LabelTopologyZone], want)
	}
	if cpu := launched.Status.Capacity[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("2")) != 0 {
		t.Errorf("capacity cpu %s, want 2", cpu.String())
	}
	if cpu := launched.Status.Allocatable[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("1930m")) != 0 {
		t.Errorf("allocatable cpu %s, want capacity less overhead, 1930m", cpu.String())
	}
	for k, want := range map[string]string{
		"kubernetes.io/cluster/" + testCluster: "owned", "karpenter.sh/provisioner-name": "default",
		"karpenter.sh/managed-by": testCluster, "karpenter.sh/machine-name": m.Name, "Name": m.Name,
	} {
		if inst.Tags[k] != want {
			t.Errorf("instance tag %s=%q, want %q", k, inst.Tags[k], want)
		}
	}
	if m.Status.ProviderID != "" {
		t.Errorf("Create changed its argument")
	}
}

func TestCreate_SpotWhenTheMachineAllowsIt(t *testing.T) {
	tests := []struct {
		name string
		reqs []corev1.NodeSelectorRequirement
		want string
	}{
		{"spot and on-demand allowed launches spot", []corev1.NodeSelectorRequirement{in(v1alpha5.CapacityTypeLabelKey, "spot", "on-demand")}, "spot"},
		{"on-demand only launches on-demand", []corev1.NodeSelectorRequirement{onDemand()}, "on-demand"},
		{"no capacity-type requirement launches on-demand", nil, "on-demand"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"m5.large": 0.096})
			launched := e.create(newMachine("default-abc", tc.reqs...))
			if got := launched.Labels[v1alpha5.CapacityTypeLabelKey]; got != tc.want {
				t.Errorf("label capacity type %q, want %q", got, tc.want)
			}
			if got := e.instance(launched.Status.ProviderID).CapacityType; got != tc.want {
				t.Errorf("awsim launched %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCreate_InsufficientCapacityInTheCheapestPoolLaunchesTheNext(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085, "m5.large": 0.096})
	probe := e.create(newMachine("default-probe", onDemand()))
	cheapestZone := probe.Labels[v1alpha5.LabelTopologyZone]
	e.srv.World.SetCapacity("c5.large", cheapestZone, "on-demand", 0)
	launched := e.create(newMachine("default-next", onDemand()))
	if typ, zone := launched.Labels[v1alpha5.LabelInstanceType], launched.Labels[v1alpha5.LabelTopologyZone]; typ != "c5.large" || zone == cheapestZone {
		t.Errorf("launched %s in %s, want c5.large in a zone other than the exhausted %s", typ, zone, cheapestZone)
	}
}

func TestCreate_InsufficientCapacityOfATypeFallsBackToTheNextType(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085, "m5.large": 0.096})
	for _, z := range e.srv.World.Zones() {
		e.srv.World.SetCapacity("c5.large", z, "on-demand", 0)
	}
	launched := e.create(newMachine("default-ice", onDemand()))
	if got := launched.Labels[v1alpha5.LabelInstanceType]; got != "m5.large" {
		t.Errorf("launched %s, want m5.large once every c5.large pool is empty", got)
	}
}

func TestCreate_EveryPoolOutIsATypedInsufficientCapacityError(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	zones := e.srv.World.Zones()
	for _, z := range zones {
		e.srv.World.SetCapacity("c5.large", z, "on-demand", 0)
	}
	_, err := e.cp.Create(e.ctx, newMachine("default-out", onDemand()))
	var ice *cloudprovider.InsufficientCapacityError
	if !errors.As(err, &ice) {
		t.Fatalf("err = %v, want an InsufficientCapacityError", err)
	}
	var want []cloudprovider.UnavailableOffering
	for _, z := range zones {
		want = append(want, cloudprovider.UnavailableOffering{InstanceType: "c5.large", Zone: z, CapacityType: "on-demand"})
	}
	if len(ice.Offerings) != len(want) {
		t.Fatalf("offerings %+v, want %+v", ice.Offerings, want)
	}
	for i := range want {
		if ice.Offerings[i] != want[i] {
			t.Errorf("offering %d: %+v, want %+v", i, ice.Offerings[i], want[i])
		}
	}
	if !strings.Contains(err.Error(), "creating fleet, InsufficientInstanceCapacity") {
		t.Errorf("error %q does not read as a trail ending in the EC2 code", err)
	}
	if n := len(e.srv.World.Instances()); n != 0 {
		t.Errorf("%d instances launched", n)
	}
}

func TestCreate_SameMachineUIDLaunchesOnce(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085, "m5.large": 0.096})
	m := newMachine("default-once", onDemand())
	e.expectOneInstance(e.create(m), e.create(m))
}

func TestCreate_SameUIDAfterOfferingsChangedFindsTheFirstInstance(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085, "m5.large": 0.096})
	m := newMachine("default-retry", onDemand())
	first := e.create(m)
	// A different request under the same token: EC2 refuses it as a mismatch.
	e.types.types = e.types.types[:1]
	again := e.create(m)
	if first.Status.ProviderID != again.Status.ProviderID || len(e.srv.World.Instances()) != 1 {
		t.Errorf("retry with changed offerings gave %s (first %s), %d instances", again.Status.ProviderID, first.Status.ProviderID, len(e.srv.World.Instances()))
	}
}

func TestCreate_RetriesThrottledCalls(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	e.srv.World.SetFault("CreateFleet", awsim.Fault{ErrorCode: "RequestLimitExceeded", ErrorStatus: 503, Count: 3})
	e.srv.World.SetFault("DescribeSubnets", awsim.Fault{ErrorCode: "RequestLimitExceeded", ErrorStatus: 503, Count: 2})
	var launched *v1alpha5.Machine
	var err error
	stepWhileWaiting(e.clock, func() { launched, err = e.cp.Create(e.ctx, newMachine("default-throttled", onDemand())) })
	if err != nil {
		t.Fatalf("Create under throttling: %v", err)
	}
	if launched.Status.ProviderID == "" || len(e.srv.World.Instances()) != 1 {
		t.Errorf("want one instance after throttling, got %d", len(e.srv.World.Instances()))
	}
}

func TestCreate_PersistentThrottlingFailsWithTheCode(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	e.srv.World.SetFault("CreateFleet", awsim.Fault{ErrorCode: "RequestLimitExceeded", ErrorStatus: 503})
	var err error
	stepWhileWaiting(e.clock, func() { _, err = e.cp.Create(e.ctx, newMachine("default-throttled", onDemand())) })
	if err == nil || aws.Classify(err) != aws.ErrorClassThrottling || cloudprovider.IsInsufficientCapacityError(err) {
		t.Errorf("err = %v, want a throttling error", err)
	}
}

func TestCreate_ImagePerArchitectureAndAccelerator(t *testing.T) {
	tests := []struct {
		typ, arch, param string
	}{
		{"c5.large", "amd64", "/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id"},
		{"m6g.large", "arm64", "/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/arm64/standard/recommended/image_id"},
		{"g4dn.xlarge", "amd64", "/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/nvidia/recommended/image_id"},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{tc.typ: 0.1})
			launched := e.create(newMachine("default-img", onDemand(), in(v1alpha5.LabelArch, tc.arch)))
			want, _ := e.srv.World.Parameter(tc.param)
			if got := e.instance(launched.Status.ProviderID).ImageID; got != want {
				t.Errorf("%s launched image %s, want %s from %s", tc.typ, got, want, tc.param)
			}
		})
	}
}

func TestCreate_NoCompatibleTypeIsInsufficientCapacity(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	_, err := e.cp.Create(e.ctx, newMachine("default-arm", onDemand(), in(v1alpha5.LabelArch, "arm64")))
	if !cloudprovider.IsInsufficientCapacityError(err) {
		t.Errorf("err = %v, want InsufficientCapacityError", err)
	}
}

func TestDelete_SecondDeleteIsMachineNotFound(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	launched := e.create(newMachine("default-del", onDemand()))
	if err := e.cp.Delete(e.ctx, launched); err != nil {
		t.Fatalf("first Delete: %v", err)
	}
	if err := e.cp.Delete(e.ctx, launched); !cloudprovider.IsMachineNotFoundError(err) {
		t.Errorf("second Delete while shutting down: %v, want MachineNotFound", err)
	}
	e.clock.Step(time.Minute) // past EC2's shutdown: terminated
	if err := e.cp.Delete(e.ctx, launched); !cloudprovider.IsMachineNotFoundError(err) {
		t.Errorf("Delete of a terminated instance: %v, want MachineNotFound", err)
	}
	if _, err := e.cp.Get(e.ctx, launched.Status.ProviderID); !cloudprovider.IsMachineNotFoundError(err) {
		t.Errorf("Get of a terminated instance: %v, want MachineNotFound", err)
	}
}

func TestDelete_MachineWithoutProviderIDFindsItsInstanceByTag(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	m := newMachine("default-lost", onDemand())
	launched := e.create(m) // the status write "failed": m has no provider ID
	if err := e.cp.Delete(e.ctx, m); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if st := e.instance(launched.Status.ProviderID).State; st != "shutting-down" {
		t.Errorf("instance %s, want shutting-down", st)
	}
}

func TestGetAndList_ReturnTheClustersInstances(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	// The instances' Provisioner is there to read, as in a cluster, and the provider models
	// instance types as in production.
	scheme, err := apis.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	provisioner := &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v1alpha5.ProvisionerSpec{
		ProviderRef: &v1alpha5.MachineTemplateRef{Name: "default"}}}
	opts := e.opts
	opts.KubeClient = fake.NewClientBuilder().WithScheme(scheme).WithObjects(provisioner, e.nodeTp.DeepCopy()).Build()
	opts.InstanceTypes = e.realInstanceTypes()
	if e.cp, err = aws.NewCloudProvider(opts); err != nil {
		t.Fatal(err)
	}
	a := e.create(newMachine("default-a", onDemand()))
	b := e.create(newMachine("default-b", onDemand()))
	// A restart: fresh caches, so modelling instance types would have to ask EC2.
	opts.InstanceTypes = e.realInstanceTypes()
	if e.cp, err = aws.NewCloudProvider(opts); err != nil {
		t.Fatal(err)
	}
	// A fault that fails nothing, so its remaining count counts the calls.
	const uncounted = 1 << 20
	e.srv.World.SetFault("DescribeInstanceTypes", awsim.Fault{Count: uncounted})
	got, err := e.cp.Get(e.ctx, a.Status.ProviderID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "default-a" || got.Status.ProviderID != a.Status.ProviderID {
		t.Errorf("Get = %s %s, want default-a %s", got.Name, got.Status.ProviderID, a.Status.ProviderID)
	}
	for _, k := range []string{v1alpha5.LabelInstanceType, v1alpha5.LabelTopologyZone, v1alpha5.CapacityTypeLabelKey, v1alpha5.ProvisionerNameLabelKey} {
		if got.Labels[k] != a.Labels[k] {
			t.Errorf("Get label %s=%q, want %q as Create returned", k, got.Labels[k], a.Labels[k])
		}
	}
	if _, err := e.cp.Get(e.ctx, "aws:///us-east-1a/i-0123456789abcdef0"); !cloudprovider.IsMachineNotFoundError(err) {
		t.Errorf("Get of an unknown instance: %v, want MachineNotFound", err)
	}
	if _, err := e.cp.Get(e.ctx, "fake:///x/1"); err == nil {
		t.Errorf("Get of a foreign provider ID succeeded")
	}
	list, err := e.cp.List(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range list {
		names[m.Name] = true
	}
	if len(list) != 2 || !names["default-a"] || !names["default-b"] {
		t.Errorf("List = %d machines %v, want default-a and default-b", len(list), names)
	}
	// Finding instances must not cost a model of every Provisioner's instance types.
	if n := uncounted - e.srv.World.State().Faults["DescribeInstanceTypes"].Count; n != 0 {
		t.Errorf("Get and List described instance types %d times, want none", n)
	}
	if err := e.cp.Delete(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	e.clock.Step(time.Minute)
	if list, _ = e.cp.List(e.ctx); len(list) != 1 {
		t.Errorf("List after terminating one = %d, want 1", len(list))
	}
}

func TestIsDrifted_AfterANewAMIRelease(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	launched := e.create(newMachine("default-drift", onDemand()))
	if reason, err := e.cp.IsDrifted(e.ctx, launched); err != nil || reason != "" {
		t.Fatalf("fresh machine: drift reason %q, err %v", reason, err)
	}
	e.srv.World.RollAMIs()
	if reason, _ := e.cp.IsDrifted(e.ctx, launched); reason != "" {
		t.Errorf("drifted (%s) before the AMI cache expired; want the cached images to hold for AMIsTTL", reason)
	}
	e.clock.Step(aws.AMIsTTL)
	if reason, err := e.cp.IsDrifted(e.ctx, launched); err != nil || reason != cloudprovider.DriftAMI {
		t.Errorf("after a release and AMIsTTL: drift reason %q, err %v; want %s", reason, err, cloudprovider.DriftAMI)
	}
}

func TestGetInstanceTypes_ReadsTheProvisionersNodeTemplate(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	kubelet := &v1alpha5.KubeletConfiguration{MaxPods: awssdk.Int32(42)}
	p := &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v1alpha5.ProvisionerSpec{
		ProviderRef: &v1alpha5.MachineTemplateRef{Name: "default"}, KubeletConfiguration: kubelet}}
	its, err := e.cp.GetInstanceTypes(e.ctx, p)
	if err != nil || len(its) != 1 || its[0].Name != "c5.large" {
		t.Fatalf("GetInstanceTypes = %v, %v", its, err)
	}
	if last := len(e.types.calls) - 1; e.types.calls[last] != "default" || e.types.kubes[last] != kubelet {
		t.Errorf("provider called with %v %v", e.types.calls, e.types.kubes)
	}
	p.Spec.ProviderRef = &v1alpha5.MachineTemplateRef{Name: "missing"}
	if _, err := e.cp.GetInstanceTypes(e.ctx, p); err == nil || !strings.Contains(err.Error(), "getting AWSNodeTemplate missing") {
		t.Errorf("missing node template: %v", err)
	}
}

func TestNewCloudProvider_NamesEveryMissingOption(t *testing.T) {
	_, err := aws.NewCloudProvider(aws.CloudProviderOptions{})
	for _, want := range []string{"ClusterName", "ClusterEndpoint", "KubeClient", "EC2", "InstanceTypes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// awsimFault fails every call with code, as a persistent AWS error.
func awsimFault(code string) awsim.Fault {
	return awsim.Fault{ErrorCode: code, ErrorStatus: 403}
}

func TestCreate_InstanceUserDataCarriesTheMachinesTaintsStartupTaintsAndKubelet(t *testing.T) {
	for _, family := range []string{v1alpha1.AMIFamilyAL2, v1alpha1.AMIFamilyAL2023, v1alpha1.AMIFamilyBottlerocket} {
		t.Run(family, func(t *testing.T) {
			e := newLaunchEnv(t, defaultNodeTemplate(family), map[string]float64{"c5.large": 0.085})
			m := newMachine("default-ud", onDemand())
			m.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "batch", Effect: corev1.TaintEffectNoSchedule}}
			m.Spec.StartupTaints = []corev1.Taint{{Key: "node.cilium.io/agent-not-ready", Effect: corev1.TaintEffectNoExecute}}
			m.Spec.Kubelet = &v1alpha5.KubeletConfiguration{MaxPods: awssdk.Int32(17)}
			m.Spec.Requirements = append(m.Spec.Requirements, in("team", "ml"), in(v1alpha5.LabelInstanceFamily, "c5"),
				in("tier", "a", "b"))
			launched := e.create(m)
			s := e.nodeSettings(launched.Status.ProviderID)
			if s.Labels["team"] != "ml" {
				t.Errorf("labels %v, want team=ml from the single-valued requirement", s.Labels)
			}
			if _, ok := s.Labels["tier"]; ok {
				t.Errorf("labels %v hold tier, which the requirement leaves open", s.Labels)
			}
			if _, ok := s.Labels[v1alpha5.LabelInstanceFamily]; ok {
				t.Errorf("labels %v hold a well-known label the instance decides", s.Labels)
			}
			if len(s.Taints) != 2 || s.MaxPods == nil || *s.MaxPods != 17 || s.Labels[v1alpha5.ProvisionerNameLabelKey] != "default" {
				t.Errorf("node would register with taints %v, max pods %v, labels %v", s.Taints, s.MaxPods, s.Labels)
			}
		})
	}
}

func TestCreate_PoolsOutOfCapacityBeforeTheLaunchAreMarkedUnavailable(t *testing.T) {
	tests := []struct {
		name         string
		emptyC5Zones int // how many zones have no on-demand c5.large
		wantType     string
	}{
		{name: "every cheaper pool empty", emptyC5Zones: 3, wantType: "m5.large"},
		{name: "no pool empty", emptyC5Zones: 0, wantType: "c5.large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085, "m5.large": 0.096})
			unavailable := lifecycle.NewUnavailableOfferingsCache(e.clock)
			e.opts.UnavailableOfferings = unavailable
			cp, err := aws.NewCloudProvider(e.opts)
			if err != nil {
				t.Fatal(err)
			}
			zones := e.srv.World.Zones()
			for _, z := range zones[:tc.emptyC5Zones] {
				e.srv.World.SetCapacity("c5.large", z, "on-demand", 0)
			}
			launched, err := cp.Create(e.ctx, newMachine("default-partial", onDemand()))
			if err != nil {
				t.Fatalf("Create: %v, want a launch in the next pool", err)
			}
			if got := launched.Labels[v1alpha5.LabelInstanceType]; got != tc.wantType {
				t.Errorf("launched %s, want %s", got, tc.wantType)
			}
			for i, z := range zones {
				for _, typ := range []string{"c5.large", "m5.large"} {
					want := typ == "c5.large" && i < tc.emptyC5Zones
					if got := unavailable.IsUnavailable(typ, z, "on-demand"); got != want {
						t.Errorf("%s in %s unavailable=%v, want %v", typ, z, got, want)
					}
				}
			}
		})
	}
}

// A pool marked unavailable after the Machine was planned (a spot interruption there, another
// Machine's capacity failure) is left out of the launch even though the Machine still lists its
// type: the launch goes to the next pool.
func TestCreate_AvoidsPoolsMarkedUnavailable(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085, "m5.large": 0.096})
	unavailable := lifecycle.NewUnavailableOfferingsCache(e.clock)
	e.opts.UnavailableOfferings = unavailable
	cp, err := aws.NewCloudProvider(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range e.srv.World.Zones() {
		unavailable.MarkUnavailable(e.ctx, "c5.large", z, "on-demand")
	}
	launched, err := cp.Create(e.ctx, newMachine("default-avoid", onDemand()))
	if err != nil {
		t.Fatal(err)
	}
	if got := launched.Labels[v1alpha5.LabelInstanceType]; got != "m5.large" {
		t.Errorf("launched %s, want m5.large: every c5.large pool is marked unavailable", got)
	}
}

func TestCreate_SameUIDAfterItsInstanceWasTerminatedLaunchesANewOneOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration // from the terminate to the second Create
	}{
		{"while the first is shutting down", 0},
		{"once the first is terminated", time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
			m := newMachine("default-again", onDemand())
			first := e.create(m)
			if err := e.cp.Delete(e.ctx, first); err != nil {
				t.Fatal(err)
			}
			e.clock.Step(tc.after)
			again := e.create(m)
			if again.Status.ProviderID == first.Status.ProviderID {
				t.Fatalf("Create returned the terminated instance %s", first.Status.ProviderID)
			}
			if st := e.instance(again.Status.ProviderID).State; st != "pending" && st != "running" {
				t.Errorf("new instance is %s, want pending or running", st)
			}
			// Still idempotent: a repeat (a lost status write) finds the new instance.
			if repeat := e.create(m); repeat.Status.ProviderID != again.Status.ProviderID {
				t.Errorf("repeated Create launched %s, want %s again", repeat.Status.ProviderID, again.Status.ProviderID)
			}
			if n := len(e.srv.World.Instances()); n != 2 {
				t.Errorf("awsim shows %d instances, want the terminated one and one new", n)
			}
		})
	}
}

// A node joins the cluster with its instance's role: the instance carries the AWSNodeTemplate's
// profile, else the default one; with neither the launch is refused before EC2 is called, and a
// profile IAM does not have is EC2's refusal.
func TestCreate_TheInstanceProfile(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		template, defaultName string
		want                  string // the instance's profile; "" for no launch
		wantErr               string
	}{
		{name: "the default", defaultName: awsim.NodeInstanceProfileFor(testCluster), want: awsim.NodeInstanceProfileFor(testCluster)},
		{name: "the template's wins", template: awsim.NodeInstanceProfileFor(testCluster), defaultName: "other", want: awsim.NodeInstanceProfileFor(testCluster)},
		{name: "neither", wantErr: "names no spec.instanceProfile and no default is set"},
		{name: "one IAM does not have", template: "missing", defaultName: awsim.NodeInstanceProfileFor(testCluster), wantErr: "Invalid IAM Instance Profile name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodeTemplate := defaultNodeTemplate(v1alpha1.AMIFamilyAL2023)
			if tc.template != "" {
				nodeTemplate.Spec.InstanceProfile = ptr.To(tc.template)
			}
			e := newLaunchEnv(t, nodeTemplate, map[string]float64{"m5.large": 0.096})
			e.opts.DefaultInstanceProfile = tc.defaultName
			cp, err := aws.NewCloudProvider(e.opts)
			if err != nil {
				t.Fatal(err)
			}
			launched, err := cp.Create(e.ctx, newMachine("default-p1", onDemand()))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Create: %v, want an error saying %q", err, tc.wantErr)
				}
				if n := len(e.srv.World.Instances()); n != 0 {
					t.Errorf("%d instances launched, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.instance(launched.Status.ProviderID).InstanceProfile; got != tc.want {
				t.Errorf("instance profile %q, want %q", got, tc.want)
			}
		})
	}
}

// A Provisioner's instance types are offered only in the zones its subnetSelector has a subnet
// in: a plan into another zone could never launch. A selector that matches no subnet says so.
func TestGetInstanceTypes_OfferedOnlyInZonesWithASubnet(t *testing.T) {
	subnets, err := func() (*ec2.DescribeSubnetsOutput, error) {
		e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2), nil)
		return e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{})
	}()
	if err != nil || len(subnets.Subnets) < 2 {
		t.Fatalf("awsim's subnets: %v %v", subnets, err)
	}
	one := subnets.Subnets[0]
	for _, tc := range []struct {
		name     string
		selector map[string]string
		zones    []string // offered; nil for an error
	}{
		{name: "one subnet", selector: map[string]string{"aws-ids": awssdk.ToString(one.SubnetId)}, zones: []string{awssdk.ToString(one.AvailabilityZone)}},
		{name: "no subnet", selector: map[string]string{"karpenter.sh/discovery": "another-cluster"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodeTemplate := defaultNodeTemplate(v1alpha1.AMIFamilyAL2)
			nodeTemplate.Spec.SubnetSelector = tc.selector
			e := newLaunchEnv(t, nodeTemplate, nil)
			e.opts.InstanceTypes = e.realInstanceTypes()
			cp, err := aws.NewCloudProvider(e.opts)
			if err != nil {
				t.Fatal(err)
			}
			its, err := cp.GetInstanceTypes(e.ctx, &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "default"},
				Spec: v1alpha5.ProvisionerSpec{ProviderRef: &v1alpha5.MachineTemplateRef{Name: "default"}}})
			if tc.zones == nil {
				if err == nil || !strings.Contains(err.Error(), "no subnet matches selector") {
					t.Errorf("GetInstanceTypes: %v, want an error naming the selector", err)
				}
				return
			}
			if err != nil || len(its) == 0 {
				t.Fatalf("GetInstanceTypes: %d types, %v", len(its), err)
			}
			for _, it := range its {
				for _, o := range it.Offerings {
					if !slices.Contains(tc.zones, o.Zone) {
						t.Fatalf("%s offered in %s, which has no selected subnet (want %v)", it.Name, o.Zone, tc.zones)
					}
				}
			}
		})
	}
}

// What the AWSNodeTemplate says of the metadata service and monitoring reaches the instance: by
// default IMDSv2 only, with the two hops a pod on the node needs, and basic monitoring.
func TestCreate_TheInstanceCarriesMetadataOptionsAndMonitoring(t *testing.T) {
	optional := defaultNodeTemplate(v1alpha1.AMIFamilyAL2)
	optional.Spec.MetadataOptions = &v1alpha1.MetadataOptions{HTTPTokens: ptr.To("optional"), HTTPPutResponseHopLimit: ptr.To[int64](1)}
	optional.Spec.DetailedMonitoring = ptr.To(true)
	for _, tc := range []struct {
		name         string
		nodeTemplate *v1alpha1.AWSNodeTemplate
		want         awsim.MetadataOptionsState
		monitoring   bool
	}{
		{name: "defaults", nodeTemplate: defaultNodeTemplate(v1alpha1.AMIFamilyAL2),
			want: awsim.MetadataOptionsState{HTTPTokens: "required", HopLimit: 2, HTTPEndpoint: "enabled", HTTPIPv6: "disabled"}},
		{name: "the template's", nodeTemplate: optional, monitoring: true,
			want: awsim.MetadataOptionsState{HTTPTokens: "optional", HopLimit: 1, HTTPEndpoint: "enabled", HTTPIPv6: "disabled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLaunchEnv(t, tc.nodeTemplate, map[string]float64{"m5.large": 0.096})
			inst := e.instance(e.create(newMachine("default-m1", onDemand())).Status.ProviderID)
			if inst.MetadataOptions != tc.want || inst.Monitoring != tc.monitoring {
				t.Errorf("instance metadata options %+v monitoring %v, want %+v %v", inst.MetadataOptions, inst.Monitoring, tc.want, tc.monitoring)
			}
		})
	}
}

// An account out of its vCPU quota is out of capacity for that capacity type: the launch is an
// InsufficientCapacityError naming every pool it tried, so the next plan avoids them (and the
// other capacity type, with its own quota, still launches).
func TestCreate_AVCPUQuotaReachedIsInsufficientCapacityOfThatCapacityType(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), map[string]float64{"c5.large": 0.085})
	e.srv.World.SetVCPULimits(16, 1)
	_, err := e.cp.Create(e.ctx, newMachine("default-spot", in(v1alpha5.CapacityTypeLabelKey, v1alpha5.CapacityTypeSpot)))
	var ice *cloudprovider.InsufficientCapacityError
	if !errors.As(err, &ice) || len(ice.Offerings) == 0 || !strings.Contains(err.Error(), "MaxSpotInstanceCountExceeded") {
		t.Fatalf("spot past its quota: %v, want an InsufficientCapacityError from MaxSpotInstanceCountExceeded", err)
	}
	for _, o := range ice.Offerings {
		if o.CapacityType != v1alpha5.CapacityTypeSpot {
			t.Errorf("offering %+v marked, want only spot pools", o)
		}
	}
	if launched := e.create(newMachine("default-od", onDemand())); launched.Labels[v1alpha5.CapacityTypeLabelKey] != v1alpha5.CapacityTypeOnDemand {
		t.Errorf("on-demand within its quota launched %v", launched.Labels)
	}
}

// The AWSNodeTemplate's tags reach the instance, its Name included (as v0.31 let it), while the
// tags Kerf finds and owns its instances by cannot be overridden.
func TestCreate_TheTemplatesTagsNameIncludedButNotKerfsOwn(t *testing.T) {
	nodeTemplate := defaultNodeTemplate(v1alpha1.AMIFamilyAL2)
	nodeTemplate.Spec.Tags = map[string]string{"Name": "ml-node", "team": "ml", "karpenter.sh/managed-by": "someone-else",
		"kubernetes.io/cluster/" + testCluster: "shared"}
	e := newLaunchEnv(t, nodeTemplate, map[string]float64{"m5.large": 0.096})
	inst := e.instance(e.create(newMachine("default-t1", onDemand())).Status.ProviderID)
	for k, want := range map[string]string{"Name": "ml-node", "team": "ml", "karpenter.sh/managed-by": testCluster,
		"kubernetes.io/cluster/" + testCluster: "owned", "karpenter.sh/machine-name": "default-t1", "karpenter.sh/provisioner-name": "default"} {
		if inst.Tags[k] != want {
			t.Errorf("instance tag %s=%q, want %q", k, inst.Tags[k], want)
		}
	}
}
