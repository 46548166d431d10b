package scheduling

import (
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestSolve_ZoneSpreadCountsExistingPods(t *testing.T) {
	web := map[string]string{"app": "web"}
	// zone-a already runs two web pods; zone-b and zone-c none.
	nodes := []Node{makeNode("n-a", "zone-a", "1", "1Gi",
		makePod("old-1", "100m", "10Mi", withLabels("app", "web")), makePod("old-2", "100m", "10Mi", withLabels("app", "web")))}
	var pods []*v1.Pod
	for i := range 4 {
		pods = append(pods, makePod(fmt.Sprintf("web-%d", i), "1", "1Gi", withLabels("app", "web"), withSpread(LabelZone, 1, v1.DoNotSchedule, web)))
	}
	plan := Solve(Snapshot{Pods: pods, Nodes: nodes, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	perZone := map[string]int{"zone-a": 2}
	for _, n := range plan.NewNodes {
		perZone[zoneOf(n)] += len(n.Pods)
	}
	want := map[string]int{"zone-a": 2, "zone-b": 2, "zone-c": 2}
	for z, c := range want {
		if perZone[z] != c {
			t.Errorf("zone %s has %d web pods, want %d (all: %v)", z, perZone[z], c, perZone)
		}
	}
	if len(plan.Unschedulable) != 0 {
		t.Errorf("unschedulable: %+v", plan.Unschedulable)
	}
}

// A hostname spread skews over the nodes the kube-scheduler will see: every node of the plan,
// existing or new, with room or not. A pod joins a node holding at most maxSkew more matching pods
// than the emptiest; a new node is opened only when no node of the plan can take it.
func TestSolve_HostnameSpreadSkewsOverTheNodesOfThePlan(t *testing.T) {
	sel := map[string]string{"app": "api"}
	api := func(n int, maxSkew int32, minDomains int32) []*v1.Pod {
		var pods []*v1.Pod
		for i := range n {
			pod := makePod(fmt.Sprintf("api-%d", i), "100m", "100Mi", withLabels("app", "api"), withSpread(LabelHostname, maxSkew, v1.DoNotSchedule, sel))
			if minDomains > 0 {
				pod.Spec.TopologySpreadConstraints[0].MinDomains = &minDomains
			}
			pods = append(pods, pod)
		}
		return pods
	}
	tests := []struct {
		name  string
		pods  []*v1.Pod
		nodes []Node
		want  []int // pods on each new node, in the plan's order
	}{{
		name: "one node of the plan holds them all: skew is zero over one node",
		pods: api(4, 2, 0),
		want: []int{4},
	}, {
		name: "minDomains spreads them before the nodes exist",
		pods: api(4, 1, 2),
		want: []int{2, 2},
	}, {
		name:  "a full node without one counts: each new node takes maxSkew",
		pods:  api(3, 1, 0),
		nodes: []Node{makeNode("full", "zone-a", "100m", "1Gi", makePod("other", "100m", "10Mi"))},
		want:  []int{1, 1, 1},
	}, {
		name: "the node planned for the rest of the batch takes them, as the kube-scheduler will",
		pods: append(api(3, 1, 0), makePod("large", "3", "1Gi")),
		want: []int{4},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Solve(Snapshot{Pods: tt.pods, Nodes: tt.nodes, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
			var got []int
			for _, n := range plan.NewNodes {
				got = append(got, len(n.Pods))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(plan.Unschedulable) > 0 {
				t.Errorf("pods per new node %v, unschedulable %d; want %v", got, len(plan.Unschedulable), tt.want)
			}
		})
	}
}

func TestSolve_ScheduleAnywaySpreadRelaxedWhenZonesAreFull(t *testing.T) {
	sel := map[string]string{"app": "web"}
	p := makeProvisioner("default", standardTypes())
	p.Requirements = NewRequirements(In(LabelZone, "zone-a"))
	var pods []*v1.Pod
	for i := range 3 {
		pods = append(pods, makePod(fmt.Sprintf("web-%d", i), "1", "1Gi", withLabels("app", "web"), withSpread(LabelZone, 1, v1.ScheduleAnyway, sel)))
	}
	nodes := []Node{makeNode("n-b", "zone-b", "1", "1Gi")}
	plan := Solve(Snapshot{Pods: pods, Nodes: nodes, Provisioners: []Provisioner{p}})
	if len(plan.Unschedulable) != 0 {
		t.Errorf("a ScheduleAnyway spread must never leave pods pending: %+v", plan.Unschedulable)
	}
}

func TestSolve_MinDomainsForcesSpreadBeforeDomainsExist(t *testing.T) {
	sel := map[string]string{"app": "db"}
	minDomains := int32(4)
	var pods []*v1.Pod
	for i := range 2 {
		pod := makePod(fmt.Sprintf("db-%d", i), "1", "1Gi", withLabels("app", "db"), withSpread(LabelZone, 1, v1.DoNotSchedule, sel))
		pod.Spec.TopologySpreadConstraints[0].MinDomains = &minDomains
		pods = append(pods, pod)
	}
	// Only three zones exist, fewer than minDomains: the global minimum counts as 0, so every zone
	// holds at most one pod, and the plan can still place both.
	plan := Solve(Snapshot{Pods: pods, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	if len(plan.NewNodes) != 2 || zoneOf(plan.NewNodes[0]) == zoneOf(plan.NewNodes[1]) {
		t.Fatalf("want two nodes in different zones, got %+v", plan.NewNodes)
	}
}

func TestSolve_PodAffinityFollowsFirstPod(t *testing.T) {
	sel := map[string]string{"group": "g1"}
	var pods []*v1.Pod
	for i := range 5 {
		pods = append(pods, makePod(fmt.Sprintf("p-%d", i), "3", "1Gi", withLabels("group", "g1"), withPodAffinity(LabelZone, sel)))
	}
	plan := Solve(Snapshot{Pods: pods, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	zones := map[string]bool{}
	for _, n := range plan.NewNodes {
		zones[zoneOf(n)] = true
	}
	if len(zones) != 1 || len(plan.Unschedulable) != 0 {
		t.Errorf("affine pods spread over zones %v (unschedulable %d), want one zone", zones, len(plan.Unschedulable))
	}
}

func TestSolve_PodAffinityToExistingPodPicksItsZone(t *testing.T) {
	nodes := []Node{makeNode("n-c", "zone-c", "1", "1Gi", makePod("cache", "100m", "10Mi", withLabels("app", "cache")))}
	pod := makePod("client", "2", "1Gi", withPodAffinity(LabelZone, map[string]string{"app": "cache"}))
	plan := Solve(Snapshot{Pods: []*v1.Pod{pod}, Nodes: nodes, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	if len(plan.NewNodes) != 1 || zoneOf(plan.NewNodes[0]) != "zone-c" {
		t.Fatalf("want a new node in zone-c next to the cache, got %+v", plan)
	}
}

func TestSolve_PodAffinityWithNoMatchAndNoSelfMatchIsUnschedulable(t *testing.T) {
	pod := makePod("client", "1", "1Gi", withPodAffinity(LabelZone, map[string]string{"app": "missing"}))
	plan := Solve(Snapshot{Pods: []*v1.Pod{pod}, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	if len(plan.Unschedulable) != 1 || plan.Unschedulable[0].Reasons[0].Code != ReasonPodAffinity {
		t.Fatalf("want PodAffinityUnsatisfiable, got %+v", plan)
	}
}

func TestSolve_HostnameAntiAffinityOneNodePerPod(t *testing.T) {
	sel := map[string]string{"app": "nginx"}
	var pods []*v1.Pod
	for i := range 3 {
		pods = append(pods, makePod(fmt.Sprintf("nginx-%d", i), "100m", "100Mi", withLabels("app", "nginx"), withAntiAffinity(LabelHostname, sel)))
	}
	pods = append(pods, makePod("other", "100m", "100Mi"))
	plan := Solve(Snapshot{Pods: pods, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	if len(plan.NewNodes) != 3 {
		t.Fatalf("want 3 nodes, got %d", len(plan.NewNodes))
	}
	for _, n := range plan.NewNodes {
		nginx := 0
		for _, p := range n.Pods {
			if p.Name != "other" {
				nginx++
			}
		}
		if nginx != 1 {
			t.Errorf("node holds %v, want exactly one nginx pod", podNames(n.Pods))
		}
	}
}

func TestSolve_ExistingPodAntiAffinityRepelsNewPods(t *testing.T) {
	guard := makePod("guard", "100m", "10Mi", withAntiAffinity(LabelZone, map[string]string{"app": "noisy"}))
	nodes := []Node{makeNode("n-a", "zone-a", "8", "16Gi", guard)}
	pod := makePod("noisy", "1", "1Gi", withLabels("app", "noisy"))
	plan := Solve(Snapshot{Pods: []*v1.Pod{pod}, Nodes: nodes, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	if len(plan.Placements) != 0 || len(plan.NewNodes) != 1 {
		t.Fatalf("the noisy pod must avoid the guarded node, got %+v", plan)
	}
	if z := zoneOf(plan.NewNodes[0]); z == "zone-a" {
		t.Errorf("new node in %s, the guard's anti-affinity zone", z)
	}
}

func TestSolve_AntiAffinityNamespacesAreRespected(t *testing.T) {
	sel := map[string]string{"app": "x"}
	a := makePod("a", "100m", "100Mi", withLabels("app", "x"), withAntiAffinity(LabelHostname, sel))
	b := makePod("b", "100m", "100Mi", withLabels("app", "x"))
	b.Namespace = "other"
	plan := Solve(Snapshot{Pods: []*v1.Pod{a, b}, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	if len(plan.NewNodes) != 1 {
		t.Errorf("a pod in another namespace is not repelled: want 1 node, got %d", len(plan.NewNodes))
	}
}

func TestSolve_PreferredAntiAffinityRelaxedRatherThanPending(t *testing.T) {
	sel := map[string]string{"app": "nginx"}
	p := makeProvisioner("default", standardTypes())
	p.Requirements = NewRequirements(In(LabelZone, "zone-a"))
	var pods []*v1.Pod
	for i := range 3 {
		pods = append(pods, makePod(fmt.Sprintf("nginx-%d", i), "100m", "100Mi", withLabels("app", "nginx"), withPreferredAntiAffinity(10, LabelZone, sel)))
	}
	plan := Solve(Snapshot{Pods: pods, Provisioners: []Provisioner{p}})
	if len(plan.Unschedulable) != 0 || len(plan.NewNodes) != 1 {
		t.Errorf("want all pods on one zone-a node once the preference is relaxed, got %+v", plan)
	}
}

func TestSolve_SpreadCountsOnlyPodsOnNodesItsPoliciesInclude(t *testing.T) {
	honor, ignore := v1.NodeInclusionPolicyHonor, v1.NodeInclusionPolicyIgnore
	for _, tc := range []struct {
		name string
		// batchNode labels the full zone-a node pool=batch, which the pods' affinity excludes;
		// taintNode taints it instead.
		batchNode, taintNode bool
		affinityPolicy       *v1.NodeInclusionPolicy
		taintsPolicy         *v1.NodeInclusionPolicy
		wantInZoneA          int
	}{
		{"pods on a node the affinity excludes do not count by default", true, false, nil, nil, 1},
		{"nodeAffinityPolicy Ignore counts them", true, false, &ignore, nil, 0},
		{"pods on a tainted node count by default", false, true, nil, nil, 0},
		{"nodeTaintsPolicy Honor leaves them out", false, true, nil, &honor, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel := map[string]string{"app": "web"}
			var bound []*v1.Pod
			for i := range 3 {
				bound = append(bound, makePod(fmt.Sprintf("web-old-%d", i), "300m", "100Mi", withLabels("app", "web")))
			}
			full := makeNode("full", "zone-a", "1", "8Gi", bound...)
			if tc.batchNode {
				full.Labels["pool"] = "batch"
			}
			if tc.taintNode {
				full.Taints = []v1.Taint{{Key: "batch", Effect: v1.TaintEffectNoSchedule}}
			}
			var pods []*v1.Pod
			for i := range 3 {
				pod := makePod(fmt.Sprintf("web-%d", i), "1", "1Gi", withLabels("app", "web"), withSpread(LabelZone, 1, v1.DoNotSchedule, sel),
					withNodeAffinity([]v1.NodeSelectorRequirement{nsr("pool", v1.NodeSelectorOpNotIn, "batch")}))
				pod.Spec.TopologySpreadConstraints[0].NodeAffinityPolicy = tc.affinityPolicy
				pod.Spec.TopologySpreadConstraints[0].NodeTaintsPolicy = tc.taintsPolicy
				pods = append(pods, pod)
			}
			plan := Solve(Snapshot{Pods: pods, Nodes: []Node{full}, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
			if len(plan.Unschedulable) > 0 {
				t.Fatalf("unschedulable: %+v", plan.Unschedulable)
			}
			inZoneA := 0
			for _, n := range plan.NewNodes {
				if zoneOf(n) == "zone-a" {
					inZoneA += len(n.Pods)
				}
			}
			if inZoneA != tc.wantInZoneA {
				t.Errorf("%d new pods in zone-a, want %d (nodes %+v)", inZoneA, tc.wantInZoneA, plan.NewNodes)
			}
		})
	}
}

func TestSolve_MatchAndMismatchLabelKeysNarrowTheSelector(t *testing.T) {
	web := map[string]string{"app": "web"}
	spreadByRevision := func(p *v1.Pod) { p.Spec.TopologySpreadConstraints[0].MatchLabelKeys = []string{"pod-template-hash"} }
	awayFromOtherTenants := func(p *v1.Pod) {
		p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].MismatchLabelKeys = []string{"tenant"}
	}
	for _, tc := range []struct {
		name     string
		running  *v1.Pod
		pod      *v1.Pod
		wantNode string
	}{
		{"without matchLabelKeys the old revision's pods count in the spread",
			makePod("old", "100m", "100Mi", withLabels("app", "web", "pod-template-hash", "v1")),
			makePod("new", "1", "1Gi", withLabels("app", "web", "pod-template-hash", "v2"), withSpread(LabelZone, 1, v1.DoNotSchedule, web)),
			"new-0"},
		{"matchLabelKeys spreads each revision on its own",
			makePod("old", "100m", "100Mi", withLabels("app", "web", "pod-template-hash", "v1")),
			makePod("new", "1", "1Gi", withLabels("app", "web", "pod-template-hash", "v2"), withSpread(LabelZone, 1, v1.DoNotSchedule, web), spreadByRevision),
			"node"},
		{"mismatchLabelKeys lets a tenant's pods share a node",
			makePod("old", "100m", "100Mi", withLabels("app", "web", "tenant", "a")),
			makePod("new", "1", "1Gi", withLabels("app", "web", "tenant", "a"), withAntiAffinity(LabelHostname, web), awayFromOtherTenants),
			"node"},
		{"mismatchLabelKeys keeps other tenants' pods apart",
			makePod("old", "100m", "100Mi", withLabels("app", "web", "tenant", "b")),
			makePod("new", "1", "1Gi", withLabels("app", "web", "tenant", "a"), withAntiAffinity(LabelHostname, web), awayFromOtherTenants),
			"new-0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := Solve(Snapshot{Pods: []*v1.Pod{tc.pod}, Nodes: []Node{makeNode("node", "zone-a", "4", "8Gi", tc.running)},
				Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
			if got := nodeOfPod(plan)["new"]; got != tc.wantNode {
				t.Errorf("pod went to %q, want %q (plan %+v)", got, tc.wantNode, plan)
			}
		})
	}
}

// Nodes opened for pods placed after a hostname spread's pods would join the spread's domains with
// none of them, breaking its skew once they exist: the kube-scheduler would then refuse the pods
// stacked on the first nodes. The spread's pods are placed once every other node exists.
func TestSolve_HostnameSpreadHoldsOverNodesOpenedForOtherPods(t *testing.T) {
	sel := map[string]string{"app": "front"}
	var pods []*v1.Pod
	for i := range 6 {
		pods = append(pods, makePod(fmt.Sprintf("front-%d", i), "200m", "100Mi", withLabels("app", "front"), withSpread(LabelHostname, 1, v1.DoNotSchedule, sel)))
	}
	// Two pods on one host port need two nodes; they are smaller, so largest-first takes them later.
	for i := range 2 {
		pods = append(pods, makePod(fmt.Sprintf("exporter-%d", i), "100m", "10Mi", withHostPort(9100)))
	}
	plan := Solve(Snapshot{Pods: pods, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	perNode := map[string]int{}
	for pod, node := range nodeOfPod(plan) {
		if strings.HasPrefix(pod, "front-") {
			perNode[node]++
		}
	}
	low, high := len(pods), 0
	for i := range plan.NewNodes {
		n := perNode[fmt.Sprintf("new-%d", i)]
		low, high = min(low, n), max(high, n)
	}
	if high-low > 1 || len(plan.Unschedulable) > 0 {
		t.Errorf("front pods per node %v over %d nodes (skew %d, unschedulable %d); want a skew of at most 1 over every node",
			perNode, len(plan.NewNodes), high-low, len(plan.Unschedulable))
	}
}
