//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/test/stack"
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
	watch := watchUnavailable(t, s, "spot", replicas)
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
			if pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil && !victimNodes[pod.Spec.NodeName] && podReady(pod) {
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
	if worst := watch.stop(); worst > 1 {
		t.Errorf("%d pods unavailable at once, want at most 1 (the PDB allows 1)", worst)
	}
	for _, inst := range status(t, s).Instances {
		if inst.CapacityType == "spot" && interruptedPools[inst.InstanceType+"/"+inst.Zone] && !contains(victims, inst.ID) &&
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

func podReady(pod corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unavailability records the most pods of an app unavailable at once until stopped.
type unavailability struct {
	mu    sync.Mutex
	worst int
	done  chan struct{}
	ended chan struct{}
}

func watchUnavailable(t *testing.T, s *stack.Stack, app string, want int) *unavailability {
	u := &unavailability{done: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(u.ended)
		for {
			list := &corev1.PodList{}
			if err := s.Env.Client.List(context.Background(), list, client.InNamespace("default"), client.MatchingLabels{"app": app}); err == nil {
				up := 0
				for _, pod := range list.Items {
					if pod.DeletionTimestamp == nil && podReady(pod) {
						up++
					}
				}
				u.mu.Lock()
				u.worst = max(u.worst, want-up)
				u.mu.Unlock()
			}
			select {
			case <-u.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { u.stop() })
	return u
}

func (u *unavailability) stop() int {
	select {
	case <-u.done:
	default:
		close(u.done)
	}
	<-u.ended
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.worst
}
