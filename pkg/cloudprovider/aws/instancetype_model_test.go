package aws

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
)

// The rules below are exercised end to end against awsim in instancetype_allocatable_test.go;
// these cases cover descriptions awsim does not produce (several network cards, EFA, odd names).

func TestSplitInstanceTypeName_FamilyCategoryGenerationSize(t *testing.T) {
	for name, want := range map[string][4]string{
		"m5.large":           {"m5", "m", "5", "large"},
		"c7gn.16xlarge":      {"c7gn", "c", "7", "16xlarge"},
		"u-6tb1.112xlarge":   {"u-6tb1", "u", "1", "112xlarge"},
		"u7i-12tb.224xlarge": {"u7i-12tb", "u", "7", "224xlarge"},
		"x8aedz.metal-12xl":  {"x8aedz", "x", "8", "metal-12xl"},
		"inf2.xlarge":        {"inf2", "inf", "2", "xlarge"},
		"weird":              {"weird", "weird", "", ""},
	} {
		f, c, g, s := splitInstanceTypeName(name)
		if diff := cmp.Diff(want, [4]string{f, c, g, s}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestReservedCPU_Tiers(t *testing.T) {
	for milli, want := range map[int64]int64{
		1000:  60,  // 6% of the first core
		2000:  70,  // + 1% of the second
		3000:  75,  // + 0.5% of the third
		4000:  80,  // + 0.5% of the fourth
		8000:  90,  // + 0.25% of four more
		96000: 310, // 80 + 92000 × 0.25%
		500:   30,  // half a core: 6% of 500m
		2001:  70,  // 0.5% of 1m rounds down
	} {
		if got := reservedCPUMilli(milli); got != want {
			t.Errorf("reservedCPUMilli(%d) = %d, want %d", milli, got, want)
		}
	}
}

func TestEvictionSignalBytes_PercentOfCapacityOrQuantity(t *testing.T) {
	for _, tc := range []struct {
		value    string
		capacity int64
		want     int64
		wantErr  bool
	}{
		{value: "10%", capacity: 20 << 30, want: 2 << 30},
		{value: "10%", capacity: 4 << 30, want: 429496730}, // 429496729.6 rounded up
		{value: "7.5%", capacity: 1000, want: 75},
		{value: "100Mi", capacity: 1, want: 100 << 20},
		{value: "150%", capacity: 1, wantErr: true},
		{value: "x%", capacity: 1, wantErr: true},
		{value: "lots", capacity: 1, wantErr: true},
	} {
		got, err := evictionSignalBytes(tc.value, tc.capacity)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("evictionSignalBytes(%q, %d) = %d, %v; want %d, error %v", tc.value, tc.capacity, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestENILimitedPods_DefaultNetworkCardOnly(t *testing.T) {
	card := func(index, enis int32) ec2types.NetworkCardInfo {
		return ec2types.NetworkCardInfo{NetworkCardIndex: aws.Int32(index), MaximumNetworkInterfaces: aws.Int32(enis)}
	}
	for _, tc := range []struct {
		name string
		ni   *ec2types.NetworkInfo
		want int64
	}{
		// p4d.24xlarge: 4 cards of 15 ENIs; pods use the default card's 15: 15 × 49 + 2.
		{"several cards", &ec2types.NetworkInfo{MaximumNetworkInterfaces: aws.Int32(60), Ipv4AddressesPerInterface: aws.Int32(50),
			DefaultNetworkCardIndex: aws.Int32(0), NetworkCards: []ec2types.NetworkCardInfo{card(0, 15), card(1, 15), card(2, 15), card(3, 15)}}, 737},
		{"default card not first", &ec2types.NetworkInfo{MaximumNetworkInterfaces: aws.Int32(12), Ipv4AddressesPerInterface: aws.Int32(10),
			DefaultNetworkCardIndex: aws.Int32(1), NetworkCards: []ec2types.NetworkCardInfo{card(0, 8), card(1, 4)}}, 38},
		{"no cards listed", &ec2types.NetworkInfo{MaximumNetworkInterfaces: aws.Int32(3), Ipv4AddressesPerInterface: aws.Int32(10)}, 29},
		{"no network facts", nil, 110},
	} {
		if got := eniLimitedPods(&ec2types.InstanceTypeInfo{NetworkInfo: tc.ni}, 0); got != tc.want {
			t.Errorf("%s: %d pods, want %d", tc.name, got, tc.want)
		}
	}
	// Custom networking keeps ENIs from pods: m5.large (3 ENIs of 10 addresses) with one reserved
	// takes 2 × 9 + 2; with all reserved, only the host-network pods.
	m5large := &ec2types.InstanceTypeInfo{NetworkInfo: &ec2types.NetworkInfo{MaximumNetworkInterfaces: aws.Int32(3), Ipv4AddressesPerInterface: aws.Int32(10)}}
	for reserved, want := range map[int]int64{1: 20, 3: 2, 5: 2} {
		if got := eniLimitedPods(m5large, reserved); got != want {
			t.Errorf("m5.large with %d reserved ENIs: %d pods, want %d", reserved, got, want)
		}
	}
}

// Pod ENIs are left out unless the VPC CNI's pod-ENI feature is on (--enable-pod-eni): a node
// reports them only then, and a Machine expecting them would never initialize.
func TestExtendedResources_GPUsNeuronEFAAndPodENIOnlyWhenOn(t *testing.T) {
	info := &ec2types.InstanceTypeInfo{
		GpuInfo: &ec2types.GpuInfo{Gpus: []ec2types.GpuDeviceInfo{
			{Manufacturer: aws.String("NVIDIA"), Count: aws.Int32(8)},
		}},
		NeuronInfo: &ec2types.NeuronInfo{NeuronDevices: []ec2types.NeuronDeviceInfo{{Count: aws.Int32(16)}}},
		NetworkInfo: &ec2types.NetworkInfo{EfaSupported: aws.Bool(true),
			EfaInfo: &ec2types.EfaInfo{MaximumEfaInterfaces: aws.Int32(32)}},
	}
	if podENI := extendedResources(info, staticTypeFacts{BranchInterfaces: 62}, true)[ResourceAWSPodENI]; podENI.Value() != 62 {
		t.Errorf("with pod ENIs on, %s = %s, want 62", ResourceAWSPodENI, podENI.String())
	}
	got := extendedResources(info, staticTypeFacts{BranchInterfaces: 62}, false)
	want := corev1.ResourceList{
		ResourceNVIDIAGPU: resource.MustParse("8"), ResourceAWSNeuron: resource.MustParse("16"),
		ResourceEFA: resource.MustParse("32"),
	}
	if len(got) != len(want) {
		t.Errorf("resources %v, want %v", got, want)
	}
	for name, w := range want {
		if g := got[name]; g.Cmp(w) != 0 {
			t.Errorf("%s = %s, want %s", name, g.String(), w.String())
		}
	}
	// Older descriptions carry Inferentia only as an inference accelerator.
	inf1 := &ec2types.InstanceTypeInfo{InferenceAcceleratorInfo: &ec2types.InferenceAcceleratorInfo{
		Accelerators: []ec2types.InferenceDeviceInfo{{Manufacturer: aws.String("AWS"), Count: aws.Int32(4)}}}}
	if n := extendedResources(inf1, staticTypeFacts{}, false)[ResourceAWSNeuron]; n.Value() != 4 {
		t.Errorf("inf1 neuron = %s, want 4", n.String())
	}
}

func TestParsePriceListItem_SkipsWhatItCannotRead(t *testing.T) {
	good := `{"product":{"attributes":{"instanceType":"m5.large"}},"terms":{"OnDemand":{"X.JRTCKXETXF":{"priceDimensions":` +
		`{"X.JRTCKXETXF.6YS6EN2CT7":{"unit":"Hrs","pricePerUnit":{"USD":"0.0960000000"}}}}}}}`
	if name, price, ok := parsePriceListItem(good); !ok || name != "m5.large" || price != 0.096 {
		t.Errorf("good document: %q %v %v", name, price, ok)
	}
	for _, doc := range []string{
		`not json`,
		`{"product":{"attributes":{}}}`,
		`{"product":{"attributes":{"instanceType":"m5.large"}},"terms":{"OnDemand":{"t":{"priceDimensions":{"d":{"unit":"Hrs","pricePerUnit":{"USD":"0.0000000000"}}}}}}}`,
		`{"product":{"attributes":{"instanceType":"m5.large"}},"terms":{"OnDemand":{"t":{"priceDimensions":{"d":{"unit":"Quantity","pricePerUnit":{"USD":"1"}}}}}}}`,
	} {
		if name, price, ok := parsePriceListItem(doc); ok {
			t.Errorf("%s: read as %q %v", doc, name, price)
		}
	}
}

func TestMemoryBytes_OverheadTakenAsTheDecimalWritten(t *testing.T) {
	info := &ec2types.InstanceTypeInfo{MemoryInfo: &ec2types.MemoryInfo{SizeInMiB: aws.Int64(40)}}
	// 40 × 0.075 is exactly 3; a binary 0.075 must not round it up to 4.
	if got := (nodeShape{vmMemoryOverheadPercent: 0.075}).memoryBytes(info, "amd64"); got != 37<<20 {
		t.Errorf("memory %d MiB, want 37", got>>20)
	}
}

func TestEphemeralBytes_RootVolumePerFamily(t *testing.T) {
	vol := func(device, size string) *v1alpha1.BlockDeviceMapping {
		q := resource.MustParse(size)
		return &v1alpha1.BlockDeviceMapping{DeviceName: aws.String(device), EBS: &v1alpha1.BlockDevice{VolumeSize: &q}}
	}
	for _, tc := range []struct {
		family string
		bdms   []*v1alpha1.BlockDeviceMapping
		want   int64
	}{
		{v1alpha1.AMIFamilyAL2, nil, 20 << 30},
		{v1alpha1.AMIFamilyAL2023, []*v1alpha1.BlockDeviceMapping{vol("/dev/xvda", "80Gi")}, 80 << 30},
		{v1alpha1.AMIFamilyBottlerocket, nil, 20 << 30},
		{v1alpha1.AMIFamilyBottlerocket, []*v1alpha1.BlockDeviceMapping{vol("/dev/xvda", "8Gi")}, 20 << 30},
		{v1alpha1.AMIFamilyUbuntu, []*v1alpha1.BlockDeviceMapping{vol("/dev/sda1", "40Gi")}, 40 << 30},
		{v1alpha1.AMIFamilyWindows2019, nil, 50 << 30},
		// Custom images: Kerf cannot know the layout, so the last mapping is taken as the root.
		{v1alpha1.AMIFamilyCustom, []*v1alpha1.BlockDeviceMapping{vol("/dev/xvda", "10Gi"), vol("/dev/xvdb", "30Gi")}, 30 << 30},
		{v1alpha1.AMIFamilyCustom, nil, 20 << 30},
		{v1alpha1.AMIFamilyAL2, []*v1alpha1.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda")}}, 20 << 30},
	} {
		s := nodeShape{family: nodeFamilyModelFor(tc.family), blockDevices: tc.bdms}
		if got := s.ephemeralBytes(); got != tc.want {
			t.Errorf("%s with %d mappings: %d GiB, want %d", tc.family, len(tc.bdms), got>>30, tc.want>>30)
		}
	}
}
