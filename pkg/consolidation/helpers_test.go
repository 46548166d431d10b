package consolidation

import (
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// Test builders: a cluster of "c"-family types whose price is linear in size (1 cpu / 2 GiB per
// unit at $0.05/h), nodes running pods, one Provisioner that consolidates.

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const unitPrice = 0.05

func instanceType(cpu int64, capacityTypes ...string) *scheduling.InstanceType {
	name := fmt.Sprintf("c.%dx", cpu)
	it := &scheduling.InstanceType{
		Name:         name,
		Requirements: scheduling.NewRequirements(scheduling.In(scheduling.LabelInstanceType, name), scheduling.In(scheduling.LabelArch, "amd64")),
		Capacity: v1.ResourceList{
			v1.ResourceCPU:    *resource.NewQuantity(cpu, resource.DecimalSI),
			v1.ResourceMemory: *resource.NewQuantity(cpu*2<<30, resource.BinarySI),
			v1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
		},
	}
	if len(capacityTypes) == 0 {
		capacityTypes = []string{"on-demand"}
	}
	for _, ct := range capacityTypes {
		price := unitPrice * float64(cpu)
		if ct == "spot" {
			price *= 0.4
		}
		it.Offerings = append(it.Offerings, scheduling.Offering{Zone: "zone-a", CapacityType: ct, Price: price, Available: true})
	}
	return it
}

func provisioner(types ...*scheduling.InstanceType) scheduling.Provisioner {
	return scheduling.Provisioner{
		Name:          "default",
		Requirements:  scheduling.NewRequirements(scheduling.In(scheduling.LabelCapacityType, "on-demand", "spot")),
		Defaults:      scheduling.NewRequirements(scheduling.In(scheduling.LabelArch, "amd64")),
		InstanceTypes: types,
	}
}

func pod(name, cpu string, mutate ...func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": name}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "main", Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse("256Mi")},
		}}}},
		Status: v1.PodStatus{Phase: v1.PodRunning},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

// cluster is a test cluster under construction.
type cluster struct{ in Input }

func newCluster(types ...*scheduling.InstanceType) *cluster {
	return &cluster{in: Input{
		Cluster:      scheduling.Snapshot{Provisioners: []scheduling.Provisioner{provisioner(types...)}},
		Provisioners: []ProvisionerInfo{{Name: "default", Enabled: true}},
	}}
}

// node adds an initialized on-demand node of type it running pods; mutate changes its info.
func (c *cluster) node(name string, it *scheduling.InstanceType, pods []*v1.Pod, mutate ...func(*NodeInfo)) *cluster {
	for _, p := range pods {
		p.Spec.NodeName = name
	}
	c.in.Cluster.Nodes = append(c.in.Cluster.Nodes, scheduling.Node{
		Name: name,
		Labels: map[string]string{
			scheduling.LabelInstanceType: it.Name, scheduling.LabelArch: "amd64", scheduling.LabelZone: "zone-a",
			scheduling.LabelCapacityType: "on-demand", v1.LabelHostname: name,
		},
		Allocatable: it.Allocatable(),
		Pods:        pods,
	})
	info := NodeInfo{Name: name, Provisioner: "default", Price: it.Offerings[0].Price, CapacityType: "on-demand",
		Initialized: true, Created: epoch.Add(-time.Hour)}
	for _, m := range mutate {
		m(&info)
	}
	if info.CapacityType == "spot" {
		c.in.Cluster.Nodes[len(c.in.Cluster.Nodes)-1].Labels[scheduling.LabelCapacityType] = "spot"
		info.Price = unitPrice * 0.4 * float64(it.Capacity.Cpu().Value())
	}
	c.in.Nodes = append(c.in.Nodes, info)
	return c
}

func selector(k, v string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
}

func pods(prefix string, n int, cpu string) []*v1.Pod {
	out := make([]*v1.Pod, n)
	for i := range out {
		out[i] = pod(fmt.Sprintf("%s-%d", prefix, i), cpu)
	}
	return out
}
