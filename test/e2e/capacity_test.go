//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

// largeProvisioner launches only on-demand c5.large or m5.large in one zone, so the cheapest
// pool for a small pod is known: c5.large in us-east-1a.
const largeProvisioner = `
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata:
  name: large
spec:
  providerRef:
    name: default
  requirements:
    - key: node.kubernetes.io/instance-type
      operator: In
      values: [c5.large, m5.large]
    - key: topology.kubernetes.io/zone
      operator: In
      values: [us-east-1a]
    - key: karpenter.sh/capacity-type
      operator: In
      values: [on-demand]
`

// When EC2 has no capacity in the cheapest pool, Kerf falls back to the next offering within
// two batches, and the pod runs there.
func TestCapacity_OutOfTheCheapestPoolFallsBackToTheNextOffering(t *testing.T) {
	s := start(t, time.Second, largeProvisioner)
	zero := 0
	if err := s.AWSIMAdmin(context.Background(), http.MethodPut, "capacity", map[string]any{
		"instanceType": "c5.large", "zone": "us-east-1a", "capacityType": "on-demand", "count": &zero}, nil); err != nil {
		t.Fatal(err)
	}
	deploy(t, s, workload{name: "small", replicas: 1, cpu: "1", memory: "2Gi"})
	running := waitRunning(t, s, "small", 1, 2*time.Minute)

	n := node(t, s, running[0])
	if got := n.Labels[v1alpha5.LabelInstanceType]; got != "m5.large" {
		t.Errorf("the pod runs on %s, want m5.large (c5.large is out of capacity)", got)
	}
	var batches int
	for _, line := range controllerLog(t, s, "solved pending pods") {
		if nodes, _ := line["newNodes"].(float64); nodes > 0 {
			batches++
		}
	}
	if batches > 2 {
		t.Errorf("%d batches asked for new nodes before the pod had one; want at most 2", batches)
	}
	for _, inst := range status(t, s).Instances {
		if inst.InstanceType == "c5.large" {
			t.Errorf("awsim runs c5.large instance %s, from a pool that has no capacity", inst.ID)
		}
	}
}
