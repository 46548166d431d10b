//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// spotProvisioner launches spot nodes only, so the workload runs where interruptions happen.
const spotProvisioner = `
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata:
  name: spot
spec:
  providerRef: {name: default}
  requirements:
    - {key: karpenter.sh/capacity-type, operator: In, values: [spot]}
    - {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r]}
`

// Six spot nodes run one pod each under a PodDisruptionBudget; awsim interrupts three of them
// with a shortened notice. Every pod of those nodes runs elsewhere before its instance is
// reclaimed, the budget is never exceeded, and the replacements avoid the interrupted pools.
func TestInterruption_SpotWarningsDrainNodesBeforeTheyAreReclaimed(t *testing.T) {
	const replicas, notice = 6, 45 * time.Second
	s := start(t, 2*time.Second, spotProvisioner)
	ctx := context.Background()
	if err := s.AWSIMAdmin(ctx, "PUT", "settings", map[string]string{"spotNotice": notice.String()}, nil); err != nil {
		t.Fatal(err)
	}
	deploy(t, s, workload{name: "spot", replicas: replicas, cpu: "500m", memory: "512Mi", onePerNode: true})
	budget(t, s, "spot", &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrIntOrString(1)})
	running := waitRunning(t, s, "spot", replicas, 3*time.Minute)
	waitBudgetAllows(t, s, "spot", 1)

	nodeOf := map[string]*corev1.Node{} // by instance ID
	for _, pod := range running {
		n := node(t, s, pod)
		nodeOf[n.Spec.ProviderID[strings.LastIndex(n.Spec.ProviderID, "/")+1:]] = n
	}
	var victims []string
	interruptedPools := map[string]bool{}
	for _, inst := range status(t, s).Instances {
		if len(victims) < replicas/2 && nodeOf[inst.ID] != nil {
			victims = append(victims, inst.ID)
			interruptedPools[inst.InstanceType+"/"+inst.Zone] = true
		}
	}
	watch := watchAvailability(t, s, "spot")
	noticed := time.Now()
	if err := s.AWSIMAdmin(ctx, "POST", "interrupt", map[string]any{"kind": "spot-interruption", "instanceIds": victims}, nil); err != nil {
		t.Fatal(err)
	}

	victimNodes := map[string]bool{}
	for _, id := range victims {
		victimNodes[nodeOf[id].Name] = true
	}
	eventually(t, s, notice, "every pod of an interrupted node running elsewhere before the notice ends", func() error {
		ready := 0
		for _, pod := range pods(t, s, "spot") {
			if pod.Status.Phase == corev1.PodRunning && !victimNodes[pod.Spec.NodeName] && available(&pod) {
				ready++
			}
		}
		if ready != replicas {
			return fmt.Errorf("%d of %d pods ready off the interrupted nodes", ready, replicas)
		}
		return nil
	})
	rescheduled := time.Since(noticed)
	t.Logf("notice to the last pod Running elsewhere: %s (notice %s)", rescheduled.Round(100*time.Millisecond), notice)
	if fewest, _ := watch.stop(t); replicas-fewest > 1 {
		t.Errorf("%d pods unavailable at once, want at most 1 (the PDB allows 1)", replicas-fewest)
	}
	for _, inst := range status(t, s).Instances {
		if inst.CapacityType == "spot" && interruptedPools[inst.InstanceType+"/"+inst.Zone] && !slices.Contains(victims, inst.ID) &&
			nodeOf[inst.ID] == nil {
			t.Errorf("replacement %s launched into interrupted pool %s/%s", inst.ID, inst.InstanceType, inst.Zone)
		}
	}
	for name := range victimNodes {
		events := nodeEvents(t, s, name)
		found := false
		for _, e := range events {
			found = found || e.Reason == "SpotInterrupted"
		}
		if !found {
			t.Errorf("node %s has no SpotInterrupted Event", name)
		}
	}
}
