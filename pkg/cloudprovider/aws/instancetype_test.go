package aws_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
	"github.com/kerf-autoscaler/kerf/test/awsim"
)

// catalogEpoch is where the fake clock starts in the instance-type and pricing tests.
var catalogEpoch = time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)

// catalogEnv is awsim with the real EC2 and Pricing clients, and instance-type and pricing
// providers over them.
type catalogEnv struct {
	t       *testing.T
	ctx     context.Context
	srv     *awsim.Running
	clock   *clocktesting.FakeClock
	cfg     awssdk.Config
	ec2     *ec2.Client
	pricing *countingPricing
}

// countingPricing counts the calls that reach the real Pricing client, so a test can tell that an
// isolated VPC never calls it.
type countingPricing struct {
	*pricing.Client
	calls atomic.Int32
}

func (c *countingPricing) GetProducts(ctx context.Context, in *pricing.GetProductsInput, opts ...func(*pricing.Options)) (*pricing.GetProductsOutput, error) {
	c.calls.Add(1)
	return c.Client.GetProducts(ctx, in, opts...)
}

func newCatalogEnv(t *testing.T) *catalogEnv {
	t.Helper()
	clk := clocktesting.NewFakeClock(catalogEpoch)
	srv, err := awsim.Start("127.0.0.1:0", awsim.Options{Clock: clk, Seed: 42})
	if err != nil {
		t.Fatalf("starting awsim: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cfg := srv.AWSConfig()
	return &catalogEnv{t: t, ctx: context.Background(), srv: srv, clock: clk, cfg: cfg,
		ec2: ec2.NewFromConfig(cfg), pricing: &countingPricing{Client: pricing.NewFromConfig(cfg)}}
}

// providers builds fresh instance-type and pricing providers, as after a restart.
func (e *catalogEnv) providers(opts aws.PricingOptions) (*aws.DefaultInstanceTypeProvider, *aws.DefaultPricingProvider) {
	e.t.Helper()
	if opts.Region == "" {
		opts.Region = e.srv.World.Region()
	}
	prices, err := aws.NewPricingProvider(e.ec2, e.pricing, e.clock, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	types, err := aws.NewInstanceTypeProvider(e.ec2, prices, e.clock, 0.075, aws.PodNetworking{})
	if err != nil {
		e.t.Fatal(err)
	}
	return types, prices
}

// list returns the instance types by name.
func (e *catalogEnv) list(p aws.InstanceTypeProvider, nt *v1alpha1.AWSNodeTemplate, kubelet *v1alpha5.KubeletConfiguration) map[string]*scheduling.InstanceType {
	e.t.Helper()
	its, err := p.List(e.ctx, nt, kubelet)
	if err != nil {
		e.t.Fatalf("listing instance types: %v", err)
	}
	out := make(map[string]*scheduling.InstanceType, len(its))
	for _, it := range its {
		out[it.Name] = it
	}
	return out
}

func familyTemplate(family string, bdms ...*v1alpha1.BlockDeviceMapping) *v1alpha1.AWSNodeTemplate {
	nt := &v1alpha1.AWSNodeTemplate{Spec: v1alpha1.AWSNodeTemplateSpec{AMIFamily: awssdk.String(family),
		SubnetSelector: map[string]string{"karpenter.sh/discovery": "kerf"}, BlockDeviceMappings: bdms}}
	nt.Name = "default"
	return nt
}

func volume(device, size string) *v1alpha1.BlockDeviceMapping {
	q := resource.MustParse(size)
	return &v1alpha1.BlockDeviceMapping{DeviceName: awssdk.String(device), EBS: &v1alpha1.BlockDevice{VolumeSize: &q}}
}

// resources reads "name=quantity" pairs; the short names cpu, memory, disk and pods stand for
// the core resources.
func resources(t *testing.T, pairs ...string) corev1.ResourceList {
	t.Helper()
	short := map[string]corev1.ResourceName{"disk": corev1.ResourceEphemeralStorage, "gpu": aws.ResourceNVIDIAGPU,
		"neuron": aws.ResourceAWSNeuron, "pod-eni": aws.ResourceAWSPodENI}
	out := corev1.ResourceList{}
	for _, p := range pairs {
		name, value, ok := cutPair(p)
		if !ok {
			t.Fatalf("bad resource pair %q", p)
		}
		rn := corev1.ResourceName(name)
		if s, ok := short[name]; ok {
			rn = s
		}
		q, err := resource.ParseQuantity(value)
		if err != nil {
			t.Fatalf("bad quantity in %q: %v", p, err)
		}
		out[rn] = q
	}
	return out
}

func resourceQuantity(t *testing.T, s string) resource.Quantity {
	t.Helper()
	q, err := resource.ParseQuantity(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func cutPair(p string) (string, string, bool) {
	for i := range len(p) {
		if p[i] == '=' {
			return p[:i], p[i+1:], true
		}
	}
	return "", "", false
}

// diffResources reports every resource whose quantity differs, or that only one side has.
func diffResources(t *testing.T, what string, got, want corev1.ResourceList) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: %s missing, want %s", what, name, w.String())
		} else if g.Cmp(w) != 0 {
			t.Errorf("%s: %s = %s, want %s", what, name, g.String(), w.String())
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok && !g.IsZero() {
			t.Errorf("%s: unexpected %s = %s", what, name, g.String())
		}
	}
}

func TestInstanceTypes_LabelsOfAGPUType(t *testing.T) {
	e := newCatalogEnv(t)
	types, _ := e.providers(aws.PricingOptions{})
	g5 := e.list(types, familyTemplate(v1alpha1.AMIFamilyAL2023), nil)["g5.xlarge"]
	if g5 == nil {
		t.Fatal("g5.xlarge missing")
	}
	want := map[string]string{
		v1alpha5.LabelInstanceType:                         "In [g5.xlarge]",
		v1alpha5.LabelArch:                                 "In [amd64]",
		v1alpha5.LabelOS:                                   "In [linux]",
		v1alpha5.LabelWindowsBuild:                         "DoesNotExist",
		v1alpha5.LabelTopologyZone:                         "In [us-east-1a us-east-1b us-east-1c]",
		v1alpha5.CapacityTypeLabelKey:                      "In [on-demand spot]",
		v1alpha5.LabelInstanceCategory:                     "In [g]",
		v1alpha5.LabelInstanceFamily:                       "In [g5]",
		v1alpha5.LabelInstanceGeneration:                   "In [5]",
		v1alpha5.LabelInstanceSize:                         "In [xlarge]",
		v1alpha5.LabelInstanceCPU:                          "In [4]",
		v1alpha5.LabelInstanceMemory:                       "In [16384]",
		v1alpha5.LabelInstancePods:                         "In [58]",
		v1alpha5.LabelInstanceHypervisor:                   "In [nitro]",
		v1alpha5.LabelInstanceEncryptionInTransitSupported: "In [true]",
		v1alpha5.LabelInstanceNetworkBandwidth:             "In [2500]",
		v1alpha5.LabelInstanceLocalNVME:                    "In [250]",
		v1alpha5.LabelInstanceGPUName:                      "In [a10g]",
		v1alpha5.LabelInstanceGPUManufacturer:              "In [nvidia]",
		v1alpha5.LabelInstanceGPUCount:                     "In [1]",
		v1alpha5.LabelInstanceGPUMemory:                    "In [22888]",
		v1alpha5.LabelInstanceAcceleratorName:              "DoesNotExist",
		v1alpha5.LabelInstanceAcceleratorManufacturer:      "DoesNotExist",
		v1alpha5.LabelInstanceAcceleratorCount:             "DoesNotExist",
	}
	for key, w := range want {
		r, ok := g5.Requirements.Get(key)
		if !ok {
			t.Errorf("%s unconstrained, want %s", key, w)
		} else if r.String() != w {
			t.Errorf("%s: %s, want %s", key, r.String(), w)
		}
	}
	if g5.Requirements.Len() != len(want) {
		t.Errorf("requirements %s, want exactly the keys %v", g5.Requirements, len(want))
	}
}

func TestInstanceTypes_LabelsOfMetalGravitonAndInferentia(t *testing.T) {
	e := newCatalogEnv(t)
	types, _ := e.providers(aws.PricingOptions{})
	all := e.list(types, nil, nil)
	for _, tc := range []struct {
		typ  string
		want map[string]string
	}{
		// Bare metal runs on no hypervisor, so the label is absent rather than empty.
		{"m5.metal", map[string]string{v1alpha5.LabelInstanceHypervisor: "DoesNotExist", v1alpha5.LabelInstanceSize: "In [metal]",
			v1alpha5.LabelInstancePods: "In [737]", v1alpha5.LabelInstanceEncryptionInTransitSupported: "In [false]"}},
		{"m6g.large", map[string]string{v1alpha5.LabelArch: "In [arm64]", v1alpha5.LabelInstanceGPUName: "DoesNotExist",
			v1alpha5.LabelInstanceNetworkBandwidth: "In [750]"}},
		{"inf1.xlarge", map[string]string{v1alpha5.LabelInstanceAcceleratorName: "In [inferentia]",
			v1alpha5.LabelInstanceAcceleratorManufacturer: "In [aws]", v1alpha5.LabelInstanceAcceleratorCount: "In [1]",
			v1alpha5.LabelInstanceGeneration: "In [1]", v1alpha5.LabelInstanceCategory: "In [inf]"}},
		// The "-6tb" memory infix is not the generation.
		{"u-6tb1.112xlarge", map[string]string{v1alpha5.LabelInstanceCategory: "In [u]", v1alpha5.LabelInstanceGeneration: "In [1]",
			v1alpha5.LabelInstanceFamily: "In [u-6tb1]", v1alpha5.LabelInstanceSize: "In [112xlarge]"}},
	} {
		it := all[tc.typ]
		if it == nil {
			t.Errorf("%s missing", tc.typ)
			continue
		}
		for key, w := range tc.want {
			if r, ok := it.Requirements.Get(key); !ok || r.String() != w {
				t.Errorf("%s %s: %s, want %s", tc.typ, key, r.String(), w)
			}
		}
	}
}

func TestInstanceTypes_WindowsHasNoGravitonTypes(t *testing.T) {
	e := newCatalogEnv(t)
	types, _ := e.providers(aws.PricingOptions{})
	all := e.list(types, familyTemplate(v1alpha1.AMIFamilyWindows2022), nil)
	if all["m6g.large"] != nil {
		t.Error("Windows2022 lists m6g.large; there is no arm64 Windows image")
	}
	m5 := all["m5.large"]
	if m5 == nil {
		t.Fatal("m5.large missing")
	}
	for key, w := range map[string]string{v1alpha5.LabelOS: "In [windows]", v1alpha5.LabelWindowsBuild: "In [10.0.20348]"} {
		if r, _ := m5.Requirements.Get(key); r.String() != w {
			t.Errorf("%s: %s, want %s", key, r.String(), w)
		}
	}
}

func TestInstanceTypes_OfferingsFollowZonesAndTheNodeTemplatesSubnets(t *testing.T) {
	e := newCatalogEnv(t)
	types, _ := e.providers(aws.PricingOptions{})
	zonesOf := func(it *scheduling.InstanceType) map[string][]string {
		out := map[string][]string{}
		for _, o := range it.Offerings {
			out[o.CapacityType] = append(out[o.CapacityType], o.Zone)
			if !o.Available || o.Price <= 0 {
				t.Errorf("%s %s/%s: available %v, price %v", it.Name, o.Zone, o.CapacityType, o.Available, o.Price)
			}
		}
		return out
	}
	all := e.list(types, nil, nil)
	// awsim offers every type in its first two zones and leaves about one in twelve out of the
	// third: at least one type must show that gap.
	var gaps int
	for _, it := range all {
		z := zonesOf(it)
		if len(z["on-demand"]) != len(z["spot"]) || len(z["on-demand"]) < 2 {
			t.Fatalf("%s offerings %v", it.Name, z)
		}
		if len(z["on-demand"]) == 2 {
			gaps++
		}
	}
	if gaps == 0 || gaps == len(all) {
		t.Errorf("%d of %d types miss a zone; want some, not all", gaps, len(all))
	}

	nt := familyTemplate(v1alpha1.AMIFamilyAL2)
	nt.Status.Subnets = []v1alpha1.Subnet{{ID: "subnet-b", Zone: "us-east-1b"}}
	m5 := e.list(types, nt, nil)["m5.large"]
	if got := zonesOf(m5); len(got["on-demand"]) != 1 || got["on-demand"][0] != "us-east-1b" {
		t.Errorf("with a subnet only in us-east-1b, offerings %v", got)
	}
	if r, _ := m5.Requirements.Get(v1alpha5.LabelTopologyZone); r.String() != "In [us-east-1b]" {
		t.Errorf("zone requirement %s", r.String())
	}
}

func TestInstanceTypes_CachedForInstanceTypesTTL(t *testing.T) {
	e := newCatalogEnv(t)
	types, _ := e.providers(aws.PricingOptions{})
	e.list(types, nil, nil)
	// A failing DescribeInstanceTypes is not called while the cache is fresh...
	e.srv.World.SetFault("DescribeInstanceTypes", awsim.Fault{ErrorCode: "InternalError", ErrorStatus: 500})
	e.clock.Step(aws.InstanceTypesTTL - time.Second)
	e.list(types, nil, nil)
	// ...and is once it has expired, and the failure is returned, not hidden behind stale data.
	e.clock.Step(time.Second)
	if _, err := types.List(e.ctx, nil, nil); err == nil {
		t.Fatal("List after InstanceTypesTTL with DescribeInstanceTypes failing: no error")
	}
	e.srv.World.SetFault("DescribeInstanceTypes", awsim.Fault{})
	if len(e.list(types, nil, nil)) == 0 {
		t.Error("no instance types once EC2 recovered")
	}
}

// noBackoff retries at once, so a test of the SDK's retryer does not sleep.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

func TestInstanceTypes_ThrottlingRetriedByTheSDKRetryer(t *testing.T) {
	e := newCatalogEnv(t)
	cfg := e.cfg.Copy()
	// The SDK's standard retryer, as production clients have it, without its sleeps.
	cfg.RetryMaxAttempts = 0
	cfg.Retryer = func() awssdk.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts, o.Backoff, o.RateLimiter = 5, noBackoff{}, ratelimit.None
		})
	}
	ec2c := ec2.NewFromConfig(cfg)
	prices, err := aws.NewPricingProvider(ec2c, nil, e.clock, aws.PricingOptions{Region: e.srv.World.Region()})
	if err != nil {
		t.Fatal(err)
	}
	types, err := aws.NewInstanceTypeProvider(ec2c, prices, e.clock, 0.075, aws.PodNetworking{})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.World.SetFault("DescribeInstanceTypes", awsim.Fault{ThrottleRate: 1, Count: 3})
	e.srv.World.SetFault("DescribeInstanceTypeOfferings", awsim.Fault{ThrottleRate: 1, Count: 2})
	if got := e.list(types, nil, nil); got["m5.large"] == nil {
		t.Errorf("after throttling, %d types and no m5.large", len(got))
	}
}

func TestInstanceTypes_PersistentThrottlingIsAThrottlingError(t *testing.T) {
	e := newCatalogEnv(t)
	types, _ := e.providers(aws.PricingOptions{})
	e.srv.World.SetFault("DescribeInstanceTypes", awsim.Fault{ThrottleRate: 1})
	_, err := types.List(e.ctx, nil, nil)
	if err == nil {
		t.Fatal("List under throttling: no error")
	}
	if aws.Classify(err) != aws.ErrorClassThrottling || !strings.Contains(err.Error(), "describing instance types") {
		t.Errorf("err = %v (class %s), want a throttling error naming the call", err, aws.Classify(err))
	}
}

func TestInstanceTypes_ConcurrentListsAreSafe(t *testing.T) {
	e := newCatalogEnv(t)
	types, _ := e.providers(aws.PricingOptions{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			its, err := types.List(e.ctx, familyTemplate(v1alpha1.AMIFamilyBottlerocket), nil)
			if err == nil && len(its) == 0 {
				err = errors.New("no instance types")
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
