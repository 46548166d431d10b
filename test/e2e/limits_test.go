//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// limitedProvisioner may add up to 8 vCPUs of on-demand c5 nodes.
const limitedProvisioner = `
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata:
  name: limited
spec:
  providerRef:
    name: default
  limits:
    resources:
      cpu: "8"
  requirements:
    - key: karpenter.k8s.aws/instance-family
      operator: In
      values: [c5]
    - key: karpenter.sh/capacity-type
      operator: In
      values: [on-demand]
`

// A Provisioner's limit stops growth: twelve 1-vCPU pods against an 8-vCPU limit leave some
// pods pending, with an Event that names the limit, and Kerf launches nothing past it.
func TestLimits_PodsBeyondAProvisionerLimitStayPendingWithAnEventNamingIt(t *testing.T) {
	s := start(t, time.Second, limitedProvisioner)
	deploy(t, s, workload{name: "capped", replicas: 12, cpu: "1", memory: "1Gi"})
	waitRunning(t, s, "capped", 1, 2*time.Minute)

	var pending corev1.Pod
	eventually(t, s, time.Minute, "a pending pod with an Event naming the cpu limit", func() error {
		for _, p := range pods(t, s, "capped") {
			if p.Status.Phase != corev1.PodPending {
				continue
			}
			for _, msg := range podEvents(t, s, p) {
				if strings.Contains(msg, "LimitExceeded") && strings.Contains(msg, "limits.resources cpu") {
					pending = p
					return nil
				}
			}
		}
		return fmt.Errorf("no pending pod has an Event naming the limit")
	})
	t.Logf("pod %s: %v", pending.Name, podEvents(t, s, pending))

	// Several more batch windows: the limit still holds.
	time.Sleep(10 * time.Second)
	total := resource.Quantity{}
	for _, m := range machines(t, s) {
		if cpu, ok := m.Status.Capacity[corev1.ResourceCPU]; ok {
			total.Add(cpu)
		}
	}
	if total.Cmp(resource.MustParse("8")) > 0 {
		t.Errorf("the limited Provisioner's Machines have %s vCPUs, above its limit of 8", total.String())
	}
	running := 0
	for _, p := range pods(t, s, "capped") {
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	if running >= 12 || running == 0 {
		t.Errorf("%d of 12 pods run; want some running and the rest held back by the limit", running)
	}
	st := status(t, s)
	if len(st.Instances) != len(st.Machines) {
		t.Errorf("awsim runs %d instances for %d Machines", len(st.Instances), len(st.Machines))
	}
}
