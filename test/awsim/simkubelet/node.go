package simkubelet

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Instance is what the node model needs to know about a running instance.
type Instance struct {
	ID, Zone, Region, InstanceType, PrivateDNS, PrivateIP string
	// Arch is the Kubernetes architecture (amd64, arm64).
	Arch string
	VCPU int64
	// MemoryMiB is the instance's memory as EC2 reports it.
	MemoryMiB int64
	// ENIs and IPv4PerENI give the default max pods when user data sets none.
	ENIs, IPv4PerENI int64
}

const (
	// memoryOverheadFraction is the share of instance memory the hypervisor and kernel keep, so
	// the kubelet's memory capacity is less than EC2's figure (Karpenter models 7.5% too).
	memoryOverheadFraction = 0.075
	// rootVolume is the ephemeral storage of the EKS AMIs' default root volume.
	rootVolume = "20Gi"
	// KubeletVersion is reported in NodeInfo.
	KubeletVersion = "v1.30.0-awsim"
)

// defaultEvictionHard is the kubelet's built-in hard eviction threshold set.
func defaultEvictionHard() map[string]string {
	return map[string]string{"memory.available": "100Mi", "nodefs.available": "10%"}
}

// Node builds the Node the kubelet and the cloud controller manager would register for inst.
func Node(inst Instance, s Settings, at time.Time) *corev1.Node {
	capacity := Capacity(inst, s)
	labels := map[string]string{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	// The kubelet and the cloud provider own these; user data cannot override them.
	for k, v := range map[string]string{
		corev1.LabelArchStable:            inst.Arch,
		corev1.LabelOSStable:              "linux",
		corev1.LabelHostname:              inst.PrivateDNS,
		corev1.LabelInstanceTypeStable:    inst.InstanceType,
		corev1.LabelTopologyZone:          inst.Zone,
		corev1.LabelTopologyRegion:        inst.Region,
		corev1.LabelFailureDomainBetaZone: inst.Zone,
		"beta.kubernetes.io/arch":         inst.Arch,
		"beta.kubernetes.io/os":           "linux",
	} {
		labels[k] = v
	}
	now := metav1.NewTime(at)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   inst.PrivateDNS,
			Labels: labels,
			// kwok keeps nodes it manages Ready and runs their pods.
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Spec: corev1.NodeSpec{
			ProviderID: fmt.Sprintf("aws:///%s/%s", inst.Zone, inst.ID),
			Taints:     append([]corev1.Taint(nil), s.Taints...),
		},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: Allocatable(capacity, s),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: inst.PrivateIP},
				{Type: corev1.NodeInternalDNS, Address: inst.PrivateDNS},
				{Type: corev1.NodeHostName, Address: inst.PrivateDNS},
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}},
			NodeInfo: corev1.NodeSystemInfo{Architecture: inst.Arch, OperatingSystem: "linux", KubeletVersion: KubeletVersion,
				ContainerRuntimeVersion: "containerd://1.7.0", SystemUUID: strings.TrimPrefix(inst.ID, "i-")},
			Phase: corev1.NodeRunning,
		},
	}
}

// Capacity is what the kubelet reports: the instance's CPUs, its memory less the hypervisor's
// share, the root volume, and max pods from user data or else the ENI limit.
func Capacity(inst Instance, s Settings) corev1.ResourceList {
	memMiB := inst.MemoryMiB - int64(float64(inst.MemoryMiB)*memoryOverheadFraction)
	pods := inst.ENIs*(inst.IPv4PerENI-1) + 2
	if s.MaxPods != nil {
		pods = int64(*s.MaxPods)
	}
	if pods < 1 {
		pods = 110 // no ENI facts: the kubelet's own default
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(inst.VCPU, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(memMiB*1024*1024, resource.BinarySI),
		corev1.ResourceEphemeralStorage: resource.MustParse(rootVolume),
		corev1.ResourcePods:             *resource.NewQuantity(pods, resource.DecimalSI),
	}
}

// Allocatable follows the kubelet: capacity − kube-reserved − system-reserved − the hard
// eviction thresholds (memory.available from memory, nodefs.available from ephemeral storage).
func Allocatable(capacity corev1.ResourceList, s Settings) corev1.ResourceList {
	out := capacity.DeepCopy()
	for _, reserved := range []corev1.ResourceList{s.KubeReserved, s.SystemReserved} {
		for name, q := range reserved {
			if have, ok := out[name]; ok {
				have.Sub(q)
				out[name] = have
			}
		}
	}
	eviction := s.EvictionHard
	if len(eviction) == 0 {
		eviction = defaultEvictionHard()
	}
	for signal, resourceName := range map[string]corev1.ResourceName{"memory.available": corev1.ResourceMemory, "nodefs.available": corev1.ResourceEphemeralStorage} {
		v, ok := eviction[signal]
		if !ok {
			continue
		}
		total := capacity[resourceName]
		threshold, err := thresholdQuantity(v, total)
		if err != nil {
			continue // the kubelet would refuse to start; the node keeps its capacity
		}
		have := out[resourceName]
		have.Sub(threshold)
		out[resourceName] = have
	}
	for name, q := range out {
		if q.Sign() < 0 {
			out[name] = *resource.NewQuantity(0, q.Format)
		}
	}
	return out
}

// thresholdQuantity reads an eviction threshold: a quantity, or a percentage of total.
func thresholdQuantity(v string, total resource.Quantity) (resource.Quantity, error) {
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		var f float64
		if _, err := fmt.Sscan(pct, &f); err != nil {
			return resource.Quantity{}, err
		}
		return *resource.NewQuantity(int64(float64(total.Value())*f/100), total.Format), nil
	}
	return resource.ParseQuantity(v)
}
