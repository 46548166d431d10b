//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The controller is killed (SIGKILL, as an OOM kill would) right after it created its first
// Machine, mid scale-up, and started again: it launches no duplicate instance, and every pod runs.
func TestCrashSafety_KilledMidScaleUpLaunchesNoDuplicates(t *testing.T) {
	s := start(t, 5*time.Second, seedProvisioner(t))
	deploy(t, s, workload{name: "crash", replicas: 40, cpu: "1", memory: "1.5Gi", tolerations: tolerateSeedTaint})

	deadline := time.Now().Add(2 * time.Minute)
	for len(machines(t, s)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no Machine created within 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.KillController(); err != nil {
		t.Fatal(err)
	}
	killedWith := len(machines(t, s))
	t.Logf("killed the controller with %d Machines created, %d instances in awsim", killedWith, len(status(t, s).Instances))
	time.Sleep(2 * time.Second)
	if err := s.StartController(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, s, "crash", 40, 4*time.Minute)

	st := status(t, s)
	byProvider := map[string]string{}
	for _, m := range machines(t, s) {
		if other, dup := byProvider[m.Status.ProviderID]; dup {
			t.Errorf("Machines %s and %s share instance %s", other, m.Name, m.Status.ProviderID)
		}
		byProvider[m.Status.ProviderID] = m.Name
	}
	for _, inst := range st.Instances {
		if _, ok := byProvider[fmt.Sprintf("aws:///%s/%s", inst.Zone, inst.ID)]; !ok {
			t.Errorf("instance %s (%s) has no Machine: launched twice", inst.ID, inst.InstanceType)
		}
	}
	if len(st.Instances) != len(st.Machines) {
		t.Errorf("awsim runs %d instances for %d Machines", len(st.Instances), len(st.Machines))
	}
}
