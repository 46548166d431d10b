//go:build e2e

package e2e

import (
	"flag"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/kerf-autoscaler/kerf/test/stack"
)

// A user's first experience: the seed Provisioner, a Deployment scaled from zero to 100 pods.
// Every pod runs on a node Kerf launched, and the account pays what the Plans said it would:
// the prices of the instances awsim runs add up to within 10% of the prices of the Machines the
// controller created ("created machine" log lines, one per new node of a Plan).
func TestScaleFromZero_100PodsRunAndCostWhatThePlanSaid(t *testing.T) {
	s := start(t, 2*time.Second, seedProvisioner(t))
	began := time.Now()
	deploy(t, s, workload{name: "inflate", replicas: 100, cpu: "1", memory: "1.5Gi", tolerations: tolerateSeedTaint})
	running := waitRunning(t, s, "inflate", 100, 4*time.Minute)
	t.Logf("100 pods running %s after the Deployment was created", time.Since(began).Round(100*time.Millisecond))

	for _, p := range running {
		if n := node(t, s, p); n.Labels["karpenter.sh/provisioner-name"] != "default" {
			t.Errorf("pod %s runs on node %s, which the default Provisioner did not launch", p.Name, n.Name)
		}
	}
	st := status(t, s)
	if len(st.Instances) != len(st.Machines) {
		t.Errorf("awsim runs %d instances for %d Machines", len(st.Instances), len(st.Machines))
	}
	var planned float64
	for _, line := range controllerLog(t, s, "created machine") {
		usd, _ := line["usdPerHour"].(float64)
		planned += usd
	}
	if planned == 0 {
		t.Fatal("the controller logged no priced Machine")
	}
	t.Logf("%d instances cost $%.4f/h; the Plans priced them at $%.4f/h", len(st.Instances), st.USDPerHour, planned)
	if math.Abs(st.USDPerHour-planned) > 0.1*planned {
		t.Errorf("instances cost $%.4f/h, more than 10%% away from the Plans' $%.4f/h", st.USDPerHour, planned)
	}
}

// burstPods sizes the burst; `make e2e E2EFLAGS='-run TestScale_Burst -args -burst-pods=1000'`
// measures the 1,000-pod figure.
var burstPods = flag.Int("burst-pods", 500, "pods in TestScale_BurstWithZeroBootDelay")

// Kerf keeps up with a burst: 500 pods, instances that boot at once. The times are reported; it
// fails only past a bound generous enough for a loaded CI machine, the target being under 60 s
// to all pods running, and every Machine launched within 3 s of its batch closing.
func TestScale_BurstWithZeroBootDelay(t *testing.T) {
	s := start(t, 0, seedProvisioner(t))
	began := time.Now()
	deploy(t, s, workload{name: "burst", replicas: int32(*burstPods), cpu: "1", memory: "1.5Gi", tolerations: tolerateSeedTaint})
	waitRunning(t, s, "burst", *burstPods, 4*time.Minute)
	elapsed := time.Since(began)
	st := status(t, s)
	t.Logf("%d pods running %s after the Deployment was created (target < 60s), on %d nodes costing $%.4f/h",
		*burstPods, elapsed.Round(100*time.Millisecond), len(st.Instances), st.USDPerHour)
	t.Logf("first batch: %s", launchLatency(t, s))
	if len(st.Instances) != len(st.Machines) {
		t.Errorf("awsim runs %d instances for %d Machines", len(st.Instances), len(st.Machines))
	}
}

// launchLatency describes the first batch that asked for nodes, from the controller's log: how
// long after the batch closed its Plan was ready, and its last Machine launched.
func launchLatency(t *testing.T, s *stack.Stack) string {
	t.Helper()
	at := func(line map[string]any) time.Time {
		ts, _ := line["time"].(string)
		parsed, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts)
		if err != nil {
			t.Fatalf("log time %q: %v", ts, err)
		}
		return parsed
	}
	var closed, solved time.Time
	var nodes int
	for _, line := range controllerLog(t, s, "solved pending pods") {
		if n, _ := line["newNodes"].(float64); n > 0 {
			took, _ := time.ParseDuration(fmt.Sprint(line["duration"]))
			solved, nodes = at(line), int(n)
			closed = solved.Add(-took)
			break
		}
	}
	if nodes == 0 {
		t.Fatal("no batch asked for nodes")
	}
	var launched []time.Time
	for _, line := range controllerLog(t, s, "launched machine") {
		launched = append(launched, at(line))
	}
	if len(launched) < nodes {
		t.Fatalf("%d Machines launched, the first batch planned %d", len(launched), nodes)
	}
	return fmt.Sprintf("%d nodes planned %s and all launched %s after the batch closed",
		nodes, solved.Sub(closed).Round(time.Millisecond), launched[nodes-1].Sub(closed).Round(time.Millisecond))
}
