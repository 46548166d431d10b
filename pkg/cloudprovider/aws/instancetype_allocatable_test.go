package aws_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// nodeResources is what one instance type looks like to the scheduler.
type nodeResources struct {
	capacity, kubeReserved, systemReserved, eviction, allocatable []string
}

func (e *catalogEnv) checkResources(it *scheduling.InstanceType, want nodeResources) {
	e.t.Helper()
	diffResources(e.t, "capacity", it.Capacity, resources(e.t, want.capacity...))
	diffResources(e.t, "kube-reserved", it.Overhead.KubeReserved, resources(e.t, want.kubeReserved...))
	diffResources(e.t, "system-reserved", it.Overhead.SystemReserved, resources(e.t, want.systemReserved...))
	diffResources(e.t, "eviction threshold", it.Overhead.EvictionThreshold, resources(e.t, want.eviction...))
	diffResources(e.t, "allocatable", it.Allocatable(), resources(e.t, want.allocatable...))
}

// The expected numbers below are worked by hand from the EKS rules, with EC2's figures from the
// catalog (vCPUs, MiB, ENIs on the default card × IPv4 addresses per ENI):
//
//	pods          ENIs × (IPv4 per ENI − 1) + 2; Windows 110
//	memory        MiB − 64 on arm64, then − ceil(that × 0.075)
//	kube cpu      60m for the first core, 10m the second, 5m each of the next two, 2.5m each after
//	kube memory   11 × pods + 255 MiB (pods = the ENI limit, except Bottlerocket and Windows)
//	eviction      memory 100Mi; nodefs 10% of the root volume (20Gi, Windows 50Gi)
//	allocatable   capacity − kube-reserved − system-reserved − eviction
func TestInstanceTypes_AllocatablePerAMIFamily(t *testing.T) {
	linuxAndWindows := []struct {
		typ            string
		linux, windows nodeResources // windows empty: no Windows image for the architecture
	}{
		{typ: "m5.large", // 2 vCPU, 8192 MiB, 3 ENIs × 10 IPv4, 9 branch ENIs
			linux: nodeResources{
				// pods 3 × 9 + 2 = 29; memory 8192 − ceil(614.4) = 7577Mi
				capacity: []string{"cpu=2", "memory=7577Mi", "disk=20Gi", "pods=29"},
				// cpu 60 + 10 = 70m; memory 11 × 29 + 255 = 574Mi
				kubeReserved: []string{"cpu=70m", "memory=574Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=2Gi"},
				// 7577 − 574 − 100 = 6903Mi; 20 − 1 − 2 = 17Gi
				allocatable: []string{"cpu=1930m", "memory=6903Mi", "disk=17Gi", "pods=29"},
			},
			windows: nodeResources{
				capacity: []string{"cpu=2", "memory=7577Mi", "disk=50Gi", "pods=110"},
				// memory 11 × 110 + 255 = 1465Mi
				kubeReserved: []string{"cpu=70m", "memory=1465Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=5Gi"},
				// 7577 − 1465 − 100 = 6012Mi; 50 − 1 − 5 = 44Gi
				allocatable: []string{"cpu=1930m", "memory=6012Mi", "disk=44Gi", "pods=110"},
			}},
		{typ: "m6g.large", // Graviton: 2 vCPU, 8192 MiB, 3 ENIs × 10 IPv4
			linux: nodeResources{
				// memory 8192 − 64 = 8128; 8128 − ceil(609.6) = 7518Mi
				capacity:     []string{"cpu=2", "memory=7518Mi", "disk=20Gi", "pods=29"},
				kubeReserved: []string{"cpu=70m", "memory=574Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=2Gi"},
				// 7518 − 574 − 100 = 6844Mi
				allocatable: []string{"cpu=1930m", "memory=6844Mi", "disk=17Gi", "pods=29"},
			}},
		{typ: "g5.xlarge", // 4 vCPU, 16384 MiB, 1 NVIDIA A10G, 4 ENIs × 15 IPv4, 4 branch ENIs
			linux: nodeResources{
				// pods 4 × 14 + 2 = 58; memory 16384 − ceil(1228.8) = 15155Mi
				capacity: []string{"cpu=4", "memory=15155Mi", "disk=20Gi", "pods=58", "gpu=1"},
				// cpu 60 + 10 + 5 + 5 = 80m; memory 11 × 58 + 255 = 893Mi
				kubeReserved: []string{"cpu=80m", "memory=893Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=2Gi"},
				// 15155 − 893 − 100 = 14162Mi
				allocatable: []string{"cpu=3920m", "memory=14162Mi", "disk=17Gi", "pods=58", "gpu=1"},
			},
			windows: nodeResources{
				capacity:     []string{"cpu=4", "memory=15155Mi", "disk=50Gi", "pods=110", "gpu=1"},
				kubeReserved: []string{"cpu=80m", "memory=1465Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=5Gi"},
				// 15155 − 1465 − 100 = 13590Mi
				allocatable: []string{"cpu=3920m", "memory=13590Mi", "disk=44Gi", "pods=110", "gpu=1"},
			}},
		{typ: "m5.metal", // 96 vCPU, 393216 MiB, 15 ENIs × 50 IPv4, 120 branch ENIs
			linux: nodeResources{
				// pods 15 × 49 + 2 = 737; memory 393216 − ceil(29491.2) = 363724Mi
				capacity: []string{"cpu=96", "memory=363724Mi", "disk=20Gi", "pods=737"},
				// cpu 60 + 10 + 10 + 92000 × 0.25% = 310m; memory 11 × 737 + 255 = 8362Mi
				kubeReserved: []string{"cpu=310m", "memory=8362Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=2Gi"},
				// 363724 − 8362 − 100 = 355262Mi
				allocatable: []string{"cpu=95690m", "memory=355262Mi", "disk=17Gi", "pods=737"},
			},
			windows: nodeResources{
				capacity:     []string{"cpu=96", "memory=363724Mi", "disk=50Gi", "pods=110"},
				kubeReserved: []string{"cpu=310m", "memory=1465Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=5Gi"},
				// 363724 − 1465 − 100 = 362159Mi
				allocatable: []string{"cpu=95690m", "memory=362159Mi", "disk=44Gi", "pods=110"},
			}},
		{typ: "t3.medium", // burstable: 2 vCPU, 4096 MiB, 3 ENIs × 6 IPv4, no trunking
			linux: nodeResources{
				// pods 3 × 5 + 2 = 17; memory 4096 − ceil(307.2) = 3788Mi
				capacity: []string{"cpu=2", "memory=3788Mi", "disk=20Gi", "pods=17"},
				// memory 11 × 17 + 255 = 442Mi
				kubeReserved: []string{"cpu=70m", "memory=442Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=2Gi"},
				// 3788 − 442 − 100 = 3246Mi
				allocatable: []string{"cpu=1930m", "memory=3246Mi", "disk=17Gi", "pods=17"},
			},
			windows: nodeResources{
				capacity:     []string{"cpu=2", "memory=3788Mi", "disk=50Gi", "pods=110"},
				kubeReserved: []string{"cpu=70m", "memory=1465Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=5Gi"},
				// 3788 − 1465 − 100 = 2223Mi
				allocatable: []string{"cpu=1930m", "memory=2223Mi", "disk=44Gi", "pods=110"},
			}},
		{typ: "inf1.xlarge", // 4 vCPU, 8192 MiB, 1 Inferentia, 4 ENIs × 10 IPv4, 38 branch ENIs
			linux: nodeResources{
				// pods 4 × 9 + 2 = 38
				capacity: []string{"cpu=4", "memory=7577Mi", "disk=20Gi", "pods=38", "neuron=1"},
				// memory 11 × 38 + 255 = 673Mi
				kubeReserved: []string{"cpu=80m", "memory=673Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=2Gi"},
				// 7577 − 673 − 100 = 6804Mi
				allocatable: []string{"cpu=3920m", "memory=6804Mi", "disk=17Gi", "pods=38", "neuron=1"},
			},
			windows: nodeResources{
				capacity:     []string{"cpu=4", "memory=7577Mi", "disk=50Gi", "pods=110", "neuron=1"},
				kubeReserved: []string{"cpu=80m", "memory=1465Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=5Gi"},
				allocatable:  []string{"cpu=3920m", "memory=6012Mi", "disk=44Gi", "pods=110", "neuron=1"},
			}},
	}
	e := newCatalogEnv(t)
	types, _ := e.providers(aws.PricingOptions{})
	for _, family := range []string{v1alpha1.AMIFamilyAL2, v1alpha1.AMIFamilyAL2023, v1alpha1.AMIFamilyBottlerocket, v1alpha1.AMIFamilyWindows2022} {
		all := e.list(types, familyTemplate(family), nil)
		for _, tc := range linuxAndWindows {
			t.Run(family+"/"+tc.typ, func(t *testing.T) {
				e := *e
				e.t = t
				want := tc.linux
				if family == v1alpha1.AMIFamilyWindows2022 {
					want = tc.windows
				}
				it := all[tc.typ]
				switch {
				case want.capacity == nil && it != nil:
					t.Fatalf("%s listed for %s", tc.typ, family)
				case want.capacity == nil:
					return
				case it == nil:
					t.Fatalf("%s missing for %s", tc.typ, family)
				}
				e.checkResources(it, want)
			})
		}
	}
}

// Kubelet settings and block devices on m5.large (2 vCPU, 7577Mi after overhead, ENI limit 29).
func TestInstanceTypes_AllocatableFollowsKubeletAndBlockDevices(t *testing.T) {
	int32p := func(n int32) *int32 { return &n }
	for _, tc := range []struct {
		name    string
		family  string
		bdms    []*v1alpha1.BlockDeviceMapping
		kubelet *v1alpha5.KubeletConfiguration
		want    nodeResources
	}{
		{name: "maxPods raises pods, kube-reserved memory stays at the ENI limit on AL2",
			family: v1alpha1.AMIFamilyAL2, kubelet: &v1alpha5.KubeletConfiguration{MaxPods: int32p(110)},
			want: nodeResources{
				capacity: []string{"cpu=2", "memory=7577Mi", "disk=20Gi", "pods=110"},
				// 11 × 29 + 255 = 574Mi, from the ENI limit
				kubeReserved: []string{"cpu=70m", "memory=574Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=2Gi"},
				allocatable:  []string{"cpu=1930m", "memory=6903Mi", "disk=17Gi", "pods=110"},
			}},
		{name: "maxPods on Bottlerocket sizes kube-reserved memory from the pods it allows",
			family: v1alpha1.AMIFamilyBottlerocket, kubelet: &v1alpha5.KubeletConfiguration{MaxPods: int32p(110)},
			want: nodeResources{
				capacity: []string{"cpu=2", "memory=7577Mi", "disk=20Gi", "pods=110"},
				// 11 × 110 + 255 = 1465Mi; 7577 − 1465 − 100 = 6012Mi
				kubeReserved: []string{"cpu=70m", "memory=1465Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=2Gi"},
				allocatable:  []string{"cpu=1930m", "memory=6012Mi", "disk=17Gi", "pods=110"},
			}},
		{name: "podsPerCore caps pods on AL2023",
			family: v1alpha1.AMIFamilyAL2023, kubelet: &v1alpha5.KubeletConfiguration{PodsPerCore: int32p(10)},
			want: nodeResources{
				// min(29, 10 × 2) = 20; kube-reserved memory still from the ENI limit 29
				capacity:     []string{"cpu=2", "memory=7577Mi", "disk=20Gi", "pods=20"},
				kubeReserved: []string{"cpu=70m", "memory=574Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=2Gi"},
				allocatable:  []string{"cpu=1930m", "memory=6903Mi", "disk=17Gi", "pods=20"},
			}},
		{name: "podsPerCore caps pods on Bottlerocket too, through max-pods",
			family: v1alpha1.AMIFamilyBottlerocket, kubelet: &v1alpha5.KubeletConfiguration{PodsPerCore: int32p(10)},
			want: nodeResources{
				// min(29, 10 × 2) = 20, and Bottlerocket reserves for the pods it is told: 11 × 20 + 255
				capacity:     []string{"cpu=2", "memory=7577Mi", "disk=20Gi", "pods=20"},
				kubeReserved: []string{"cpu=70m", "memory=475Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=2Gi"},
				allocatable:  []string{"cpu=1930m", "memory=7002Mi", "disk=17Gi", "pods=20"},
			}},
		{name: "evictionHard percentages are of capacity; evictionSoft reserves nothing",
			family: v1alpha1.AMIFamilyAL2023, kubelet: &v1alpha5.KubeletConfiguration{
				EvictionHard: map[string]string{"memory.available": "5%", "nodefs.available": "1Gi"},
				EvictionSoft: map[string]string{"memory.available": "2Gi", "nodefs.available": "50%"}},
			want: nodeResources{
				capacity:     []string{"cpu=2", "memory=7577Mi", "disk=20Gi", "pods=29"},
				kubeReserved: []string{"cpu=70m", "memory=574Mi", "disk=1Gi"},
				// 5% of 7577Mi = 7945060352 × 0.05 = 397253017.6, rounded up
				eviction: []string{"memory=397253018", "disk=1Gi"},
				// 7945060352 − 574Mi (601882624) − 397253018 = 6945924710; 20 − 1 − 1 = 18Gi
				allocatable: []string{"cpu=1930m", "memory=6945924710", "disk=18Gi", "pods=29"},
			}},
		{name: "the root volume and kubeReserved and systemReserved from the configuration",
			family: v1alpha1.AMIFamilyAL2, bdms: []*v1alpha1.BlockDeviceMapping{volume("/dev/xvda", "100Gi")},
			kubelet: &v1alpha5.KubeletConfiguration{
				KubeReserved:   corev1.ResourceList{corev1.ResourceMemory: resourceQuantity(t, "1Gi")},
				SystemReserved: corev1.ResourceList{corev1.ResourceCPU: resourceQuantity(t, "100m")}},
			want: nodeResources{
				capacity: []string{"cpu=2", "memory=7577Mi", "disk=100Gi", "pods=29"},
				// memory replaced, cpu and disk computed
				kubeReserved:   []string{"cpu=70m", "memory=1Gi", "disk=1Gi"},
				systemReserved: []string{"cpu=100m"},
				// 10% of 100Gi
				eviction: []string{"memory=100Mi", "disk=10Gi"},
				// 2000 − 70 − 100 = 1830m; 7577 − 1024 − 100 = 6453Mi; 100 − 1 − 10 = 89Gi
				allocatable: []string{"cpu=1830m", "memory=6453Mi", "disk=89Gi", "pods=29"},
			}},
		{name: "Bottlerocket's ephemeral storage is its data volume, not the OS volume",
			family: v1alpha1.AMIFamilyBottlerocket, bdms: []*v1alpha1.BlockDeviceMapping{volume("/dev/xvda", "4Gi"), volume("/dev/xvdb", "60Gi")},
			want: nodeResources{
				capacity:     []string{"cpu=2", "memory=7577Mi", "disk=60Gi", "pods=29"},
				kubeReserved: []string{"cpu=70m", "memory=574Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=6Gi"},
				// 60 − 1 − 6 = 53Gi
				allocatable: []string{"cpu=1930m", "memory=6903Mi", "disk=53Gi", "pods=29"},
			}},
		{name: "a mapping that is not the family's root device leaves the default size",
			family: v1alpha1.AMIFamilyAL2023, bdms: []*v1alpha1.BlockDeviceMapping{volume("/dev/xvdz", "500Gi")},
			want: nodeResources{
				capacity:     []string{"cpu=2", "memory=7577Mi", "disk=20Gi", "pods=29"},
				kubeReserved: []string{"cpu=70m", "memory=574Mi", "disk=1Gi"},
				eviction:     []string{"memory=100Mi", "disk=2Gi"},
				allocatable:  []string{"cpu=1930m", "memory=6903Mi", "disk=17Gi", "pods=29"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCatalogEnv(t)
			types, _ := e.providers(aws.PricingOptions{})
			it := e.list(types, familyTemplate(tc.family, tc.bdms...), tc.kubelet)["m5.large"]
			if it == nil {
				t.Fatal("m5.large missing")
			}
			e.checkResources(it, tc.want)
			if r, _ := it.Requirements.Get(v1alpha5.LabelInstancePods); r.String() != "In ["+it.Capacity.Pods().String()+"]" {
				t.Errorf("instance-pods label %s, capacity pods %s", r.String(), it.Capacity.Pods().String())
			}
		})
	}
}

func TestInstanceTypes_BadEvictionThresholdIsAnError(t *testing.T) {
	e := newCatalogEnv(t)
	types, _ := e.providers(aws.PricingOptions{})
	_, err := types.List(e.ctx, nil, &v1alpha5.KubeletConfiguration{EvictionHard: map[string]string{"memory.available": "lots"}})
	if err == nil {
		t.Fatal("evictionHard memory.available=lots: no error")
	}
}
