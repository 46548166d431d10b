//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

// constraintProvisioners sit beside the seed Provisioner (amd64, tainted karpenter=true):
// general is untainted and offers both architectures on demand, spot offers only spot, gpu
// offers NVIDIA GPU instances.
const constraintProvisioners = `
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata:
  name: general
spec:
  providerRef:
    name: default
  requirements:
    - key: kubernetes.io/arch
      operator: In
      values: [amd64, arm64]
    - key: karpenter.sh/capacity-type
      operator: In
      values: [on-demand]
    - key: karpenter.k8s.aws/instance-category
      operator: In
      values: [c, m, r]
---
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata:
  name: spot
spec:
  providerRef:
    name: default
  requirements:
    - key: karpenter.sh/capacity-type
      operator: In
      values: [spot]
    - key: karpenter.k8s.aws/instance-category
      operator: In
      values: [c, m, r]
---
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata:
  name: gpu
spec:
  providerRef:
    name: default
  requirements:
    - key: karpenter.k8s.aws/instance-gpu-manufacturer
      operator: In
      values: [nvidia]
    - key: karpenter.sh/capacity-type
      operator: In
      values: [on-demand]
`

func onProvisioner(name string) map[string]string {
	return map[string]string{v1alpha5.ProvisionerNameLabelKey: name}
}

// Each kind of constraint a pod can carry lands it on a node that satisfies it; the pod that does
// not tolerate the seed Provisioner's taint never lands on that Provisioner's nodes.
func TestConstraints_EachPodLandsOnANodeThatFits(t *testing.T) {
	s := start(t, time.Second, seedProvisioner(t), constraintProvisioners)
	cases := []struct {
		workload workload
		// fits says what is wrong with where a pod landed, if anything.
		fits func(pods []corev1.Pod, nodes []*corev1.Node) error
	}{
		{workload{name: "zone-spread", replicas: 6, cpu: "1", memory: "1Gi", spread: true, nodeSelector: onProvisioner("general")},
			func(_ []corev1.Pod, nodes []*corev1.Node) error {
				perZone := map[string]int{}
				for _, n := range nodes {
					perZone[n.Labels[corev1.LabelTopologyZone]]++
				}
				low, high := 1<<30, 0
				for _, c := range perZone {
					low, high = min(low, c), max(high, c)
				}
				if len(perZone) < 3 || high-low > 1 {
					return fmt.Errorf("pods per zone %v; want every zone within one of the others", perZone)
				}
				return nil
			}},
		{workload{name: "arm64", replicas: 1, cpu: "1", memory: "1Gi", nodeSelector: map[string]string{corev1.LabelArchStable: "arm64"}},
			eachNode(func(n *corev1.Node) error {
				return want(n, corev1.LabelArchStable, "arm64")
			})},
		{workload{name: "spot-only", replicas: 2, cpu: "1", memory: "1Gi", nodeSelector: onProvisioner("spot")},
			eachNode(func(n *corev1.Node) error { return want(n, v1alpha5.CapacityTypeLabelKey, v1alpha5.CapacityTypeSpot) })},
		{workload{name: "gpu", replicas: 1, cpu: "1", memory: "1Gi", gpus: 1},
			eachNode(func(n *corev1.Node) error {
				if gpus := n.Status.Allocatable["nvidia.com/gpu"]; gpus.Value() < 1 {
					return fmt.Errorf("node %s has %s allocatable NVIDIA GPUs", n.Name, gpus.String())
				}
				return want(n, v1alpha5.LabelInstanceGPUManufacturer, "nvidia")
			})},
		{workload{name: "tolerates-seed-taint", replicas: 1, cpu: "1", memory: "1Gi", tolerations: tolerateSeedTaint, nodeSelector: onProvisioner("default")},
			eachNode(func(n *corev1.Node) error { return want(n, v1alpha5.ProvisionerNameLabelKey, "default") })},
		{workload{name: "intolerant", replicas: 3, cpu: "1", memory: "1Gi"},
			eachNode(func(n *corev1.Node) error {
				if n.Labels[v1alpha5.ProvisionerNameLabelKey] == "default" {
					return fmt.Errorf("node %s of the tainted default Provisioner runs a pod that does not tolerate its taint", n.Name)
				}
				return nil
			})},
	}
	for _, c := range cases {
		deploy(t, s, c.workload)
	}
	for _, c := range cases {
		t.Run(c.workload.name, func(t *testing.T) {
			running := waitRunning(t, s, c.workload.name, int(c.workload.replicas), 3*time.Minute)
			nodes := make([]*corev1.Node, 0, len(running))
			for _, p := range running {
				nodes = append(nodes, node(t, s, p))
			}
			if err := c.fits(running, nodes); err != nil {
				t.Error(err)
			}
		})
	}
}

func eachNode(check func(*corev1.Node) error) func([]corev1.Pod, []*corev1.Node) error {
	return func(_ []corev1.Pod, nodes []*corev1.Node) error {
		for _, n := range nodes {
			if err := check(n); err != nil {
				return err
			}
		}
		return nil
	}
}

func want(n *corev1.Node, label, value string) error {
	if got := n.Labels[label]; got != value {
		return fmt.Errorf("node %s has %s=%q, want %q", n.Name, label, got, value)
	}
	return nil
}
