//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// mixedWorkload is 100 pods of the constraints a real cluster mixes: hostname and zone topology
// spreads, required hostname anti-affinity, required zone affinity to pods that are pending
// themselves, host ports, a large init container, large pods and tiny ones. The spreads are
// ScheduleAnyway: pods under a DoNotSchedule spread cannot be hinted (docs/provisioning.md), and
// two such groups can still take each other's room — a known limit this scenario does not cover.
const mixedWorkload = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 30
  selector: {matchLabels: {app: web, mix: "1"}}
  template:
    metadata: {labels: {app: web, mix: "1"}}
    spec:
      terminationGracePeriodSeconds: 0
      tolerations: [{key: karpenter, operator: Equal, value: "true", effect: NoSchedule}]
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: web}}}
        - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: web}}}
      containers: [{name: c, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: 250m, memory: 256Mi}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: default}
spec:
  replicas: 20
  selector: {matchLabels: {app: api, mix: "1"}}
  template:
    metadata: {labels: {app: api, mix: "1"}}
    spec:
      terminationGracePeriodSeconds: 0
      tolerations: [{key: karpenter, operator: Equal, value: "true", effect: NoSchedule}]
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: api}}}
      containers: [{name: c, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: 500m, memory: 1Gi}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: db, mix: "1"}}
  template:
    metadata: {labels: {app: db, mix: "1"}}
    spec:
      terminationGracePeriodSeconds: 0
      tolerations: [{key: karpenter, operator: Equal, value: "true", effect: NoSchedule}]
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: db}}}
      containers: [{name: c, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: "1", memory: 4Gi}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cache, namespace: default}
spec:
  replicas: 10
  selector: {matchLabels: {app: cache, mix: "1"}}
  template:
    metadata: {labels: {app: cache, mix: "1"}}
    spec:
      terminationGracePeriodSeconds: 0
      tolerations: [{key: karpenter, operator: Equal, value: "true", effect: NoSchedule}]
      affinity:
        podAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - {topologyKey: topology.kubernetes.io/zone, labelSelector: {matchLabels: {app: api}}}
      containers: [{name: c, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: 200m, memory: 512Mi}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress, namespace: default}
spec:
  replicas: 6
  selector: {matchLabels: {app: ingress, mix: "1"}}
  template:
    metadata: {labels: {app: ingress, mix: "1"}}
    spec:
      terminationGracePeriodSeconds: 0
      tolerations: [{key: karpenter, operator: Equal, value: "true", effect: NoSchedule}]
      containers: [{name: c, image: registry.k8s.io/pause:3.10, ports: [{containerPort: 8080, hostPort: 8080}], resources: {requests: {cpu: 100m, memory: 128Mi}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker, namespace: default}
spec:
  replicas: 24
  selector: {matchLabels: {app: worker, mix: "1"}}
  template:
    metadata: {labels: {app: worker, mix: "1"}}
    spec:
      terminationGracePeriodSeconds: 0
      tolerations: [{key: karpenter, operator: Equal, value: "true", effect: NoSchedule}]
      initContainers: [{name: init, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: "1", memory: 256Mi}}}]
      containers: [{name: c, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: 300m, memory: 512Mi}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: big, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: big, mix: "1"}}
  template:
    metadata: {labels: {app: big, mix: "1"}}
    spec:
      terminationGracePeriodSeconds: 0
      tolerations: [{key: karpenter, operator: Equal, value: "true", effect: NoSchedule}]
      containers: [{name: c, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: "3", memory: 12Gi}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: logger, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: logger, mix: "1"}}
  template:
    metadata: {labels: {app: logger, mix: "1"}}
    spec:
      terminationGracePeriodSeconds: 0
      tolerations: [{key: karpenter, operator: Equal, value: "true", effect: NoSchedule}]
      containers: [{name: c, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: 50m, memory: 64Mi}}}]
`

// The kube-scheduler follows the plan: a mixed workload of 100 pods is placed by one batch, every
// node launched for it runs pods it was launched for, no pod goes pending again, and the account
// pays what the Plan said. Consolidation is off, so no node is removed under the count.
func TestPlan_AMixedWorkloadLandsWhereThePlanPutIt(t *testing.T) {
	s := start(t, 2*time.Second, strings.Replace(seedProvisioner(t), "enabled: true", "enabled: false", 1))
	apply(t, s, mixedWorkload)
	var running []corev1.Pod
	eventually(t, s, 4*time.Minute, "every pod of the mix running", func() error {
		list := &corev1.PodList{}
		if err := s.Env.Client.List(context.Background(), list, client.MatchingLabels{"mix": "1"}); err != nil {
			return err
		}
		running = running[:0]
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				running = append(running, p)
			}
		}
		if len(running) < 100 {
			return fmt.Errorf("%d of %d pods running", len(running), len(list.Items))
		}
		return nil
	})

	var batches []float64
	for _, line := range controllerLog(t, s, "solved pending pods") {
		if n, _ := line["newNodes"].(float64); n > 0 {
			batches = append(batches, n)
		}
	}
	if len(batches) != 1 {
		t.Errorf("batches that launched nodes: %v, want one — pods the plan placed found no room and went pending again", batches)
	}

	// Where the plan put each pod: its Nominated Event names the Machine.
	planned := map[string]string{} // pod → Machine
	for _, p := range running {
		for _, msg := range podEvents(t, s, p) {
			if m, ok := strings.CutPrefix(msg, "Pod should schedule on machine "); ok {
				planned[p.Name] = m
			}
		}
	}
	machineOf := map[string]string{} // node → Machine
	for _, m := range machines(t, s) {
		machineOf[m.Status.NodeName] = m.Name
	}
	received, asPlanned, elsewhere := map[string]int{}, 0, map[string]int{}
	for _, p := range running {
		m := machineOf[p.Spec.NodeName]
		if planned[p.Name] != m {
			elsewhere[p.Labels["app"]]++
			continue
		}
		received[m]++
		asPlanned++
	}
	for _, m := range machineOf {
		if received[m] == 0 {
			t.Errorf("machine %s runs none of the pods it was launched for", m)
		}
	}
	t.Logf("%d Machines; %d of %d pods run on the node the plan put them on; elsewhere: %v", len(machineOf), asPlanned, len(running), elsewhere)

	st := status(t, s)
	var priced float64
	for _, line := range controllerLog(t, s, "created machine") {
		usd, _ := line["usdPerHour"].(float64)
		priced += usd
	}
	t.Logf("%d instances cost $%.4f/h; the Plan priced them at $%.4f/h", len(st.Instances), st.USDPerHour, priced)
	if len(st.Instances) != len(machineOf) || math.Abs(st.USDPerHour-priced) > 0.1*priced {
		t.Errorf("%d instances at $%.4f/h for %d Machines the Plan priced at $%.4f/h", len(st.Instances), st.USDPerHour, len(machineOf), priced)
	}
}
