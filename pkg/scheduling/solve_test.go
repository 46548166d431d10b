package scheduling

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestSolve_FillsExistingNodesBeforeLaunching(t *testing.T) {
	existing := makeNode("node-1", "zone-a", "4", "8Gi", makePod("bound", "3", "1Gi"))
	inFlight := makeNode("node-0-launching", "zone-a", "4", "8Gi")
	inFlight.InFlight = true
	plan := Solve(Snapshot{
		Pods:         []*v1.Pod{makePod("small", "1", "1Gi"), makePod("medium", "2", "1Gi"), makePod("big", "3", "1Gi")},
		Nodes:        []Node{inFlight, existing},
		Provisioners: []Provisioner{makeProvisioner("default", standardTypes())},
	})
	// Largest first: big only fits the in-flight node, medium then fits neither, small fits the
	// existing node's last free core.
	want := map[string]string{"big": "node-0-launching", "medium": "new-0", "small": "node-1"}
	if diff := cmp.Diff(want, nodeOfPod(plan)); diff != "" {
		t.Errorf("placements (-want +got):\n%s", diff)
	}
	if len(plan.Placements) != 2 || !plan.Placements[0].InFlight {
		t.Errorf("placements = %+v, want big marked in-flight", plan.Placements)
	}
}

func countPods(nodes []NewNode) int {
	n := 0
	for _, node := range nodes {
		n += len(node.Pods)
	}
	return n
}

func TestSolve_NewNodeListsFeasibleTypesCheapestFirst(t *testing.T) {
	plan := Solve(Snapshot{
		Pods:         []*v1.Pod{makePod("a", "3", "1Gi")},
		Provisioners: []Provisioner{makeProvisioner("default", standardTypes())},
	})
	if len(plan.NewNodes) != 1 {
		t.Fatalf("want one new node, got %+v", plan)
	}
	want := []InstanceTypeOption{{Name: "medium", Price: 0.2}, {Name: "large", Price: 0.4}}
	if diff := cmp.Diff(want, plan.NewNodes[0].InstanceTypes); diff != "" {
		t.Errorf("instance types (-want +got):\n%s", diff)
	}
	if got := plan.HourlyPrice(); got != 0.2 {
		t.Errorf("HourlyPrice() = %v, want 0.2", got)
	}
}

func TestSolve_PacksSeveralPodsOntoOneNode(t *testing.T) {
	plan := Solve(Snapshot{
		Pods:         []*v1.Pod{makePod("a", "3", "1Gi"), makePod("b", "3", "1Gi"), makePod("c", "1", "1Gi")},
		Provisioners: []Provisioner{makeProvisioner("default", standardTypes())},
	})
	if len(plan.NewNodes) != 1 || len(plan.NewNodes[0].Pods) != 3 {
		t.Fatalf("want one node with three pods, got %+v", plan.NewNodes)
	}
	if diff := cmp.Diff([]InstanceTypeOption{{Name: "large", Price: 0.4}}, plan.NewNodes[0].InstanceTypes); diff != "" {
		t.Errorf("only large holds 7 cpu (-want +got):\n%s", diff)
	}
}

func TestSolve_HigherWeightProvisionerFirst(t *testing.T) {
	low := makeProvisioner("low", standardTypes())
	high := makeProvisioner("high", standardTypes())
	high.Weight = 10
	plan := Solve(Snapshot{Pods: []*v1.Pod{makePod("a", "1", "1Gi")}, Provisioners: []Provisioner{low, high}})
	if len(plan.NewNodes) != 1 || plan.NewNodes[0].Provisioner != "high" {
		t.Fatalf("want a node from the heavier provisioner, got %+v", plan.NewNodes)
	}
}

func TestSolve_ProvisionerRequirementsLabelsAndTaintsShapeTheNode(t *testing.T) {
	p := makeProvisioner("gpu", standardTypes())
	p.Labels = map[string]string{"team": "ml"}
	p.Taints = []v1.Taint{{Key: "dedicated", Value: "ml", Effect: v1.TaintEffectNoSchedule}}
	p.StartupTaints = []v1.Taint{{Key: "agent-not-ready", Effect: v1.TaintEffectNoSchedule}}
	p.Requirements = NewRequirements(In(LabelZone, "zone-b"))
	tolerant := makePod("tolerant", "1", "1Gi", withNodeSelector("team", "ml"),
		withTolerations(v1.Toleration{Key: "dedicated", Value: "ml", Effect: v1.TaintEffectNoSchedule}))
	plan := Solve(Snapshot{Pods: []*v1.Pod{tolerant}, Provisioners: []Provisioner{p}})
	if len(plan.NewNodes) != 1 {
		t.Fatalf("want one node, got %+v", plan)
	}
	n := plan.NewNodes[0]
	labels := n.Requirements.Labels()
	for k, v := range map[string]string{"team": "ml", LabelZone: "zone-b", LabelProvisionerName: "gpu"} {
		if labels[k] != v {
			t.Errorf("node label %s = %q, want %q", k, labels[k], v)
		}
	}
	if len(n.Taints) != 2 {
		t.Errorf("node taints = %v, want the taint and the startup taint", n.Taints)
	}
}

func TestSolve_DefaultsApplyOnlyWhereProvisionerIsSilent(t *testing.T) {
	types := []*InstanceType{makeInstanceType("spotty", 4, 8, 0.2, true)}
	p := makeProvisioner("default", types)
	p.Defaults = NewRequirements(In(LabelCapacityType, CapacityTypeOnDemand))
	plan := Solve(Snapshot{Pods: []*v1.Pod{makePod("a", "1", "1Gi")}, Provisioners: []Provisioner{p}})
	if got := plan.NewNodes[0].Requirements.Labels()[LabelCapacityType]; got != CapacityTypeOnDemand {
		t.Errorf("capacity type = %q, want on-demand from the default", got)
	}
	if got := plan.HourlyPrice(); got != 0.2 {
		t.Errorf("price = %v, want the on-demand price 0.2", got)
	}
	p.Requirements = NewRequirements(In(LabelCapacityType, CapacityTypeSpot, CapacityTypeOnDemand))
	plan = Solve(Snapshot{Pods: []*v1.Pod{makePod("a", "1", "1Gi")}, Provisioners: []Provisioner{p}})
	if got := plan.HourlyPrice(); got < 0.139 || got > 0.141 {
		t.Errorf("price = %v, want the spot price 0.14 once the provisioner allows spot", got)
	}
}

func TestSolve_DaemonSetOverheadReservedOnNewNodes(t *testing.T) {
	ds := makePod("logging", "1", "1Gi")
	gpuOnly := makePod("gpu-driver", "2", "1Gi", withNodeSelector(LabelInstanceType, "large"))
	plan := Solve(Snapshot{
		Pods:          []*v1.Pod{makePod("a", "1500m", "1Gi")},
		DaemonSetPods: []*v1.Pod{ds, gpuOnly},
		Provisioners:  []Provisioner{makeProvisioner("default", standardTypes())},
	})
	// small (2 cpu) leaves 1 after logging: too little; medium leaves 3; large leaves 8-1-2=5.
	want := []InstanceTypeOption{{Name: "medium", Price: 0.2}, {Name: "large", Price: 0.4}}
	if diff := cmp.Diff(want, plan.NewNodes[0].InstanceTypes); diff != "" {
		t.Errorf("instance types (-want +got):\n%s", diff)
	}
}

func TestSolve_LimitsCapPlannedCapacity(t *testing.T) {
	p := makeProvisioner("default", standardTypes())
	p.Limits = v1.ResourceList{v1.ResourceCPU: resource.MustParse("10")}
	p.Usage = v1.ResourceList{v1.ResourceCPU: resource.MustParse("4")}
	plan := Solve(Snapshot{
		Pods: []*v1.Pod{
			makePod("a", "3", "1Gi", withAntiAffinity(LabelHostname, map[string]string{"app": "x"}), withLabels("app", "x")),
			makePod("b", "3", "1Gi", withAntiAffinity(LabelHostname, map[string]string{"app": "x"}), withLabels("app", "x")),
		},
		Provisioners: []Provisioner{p},
	})
	// 6 cpu remain: the first node may only be medium (4), leaving 2, too little for a second.
	if len(plan.NewNodes) != 1 || len(plan.Unschedulable) != 1 {
		t.Fatalf("want one node and one unschedulable pod, got %+v", plan)
	}
	if diff := cmp.Diff([]InstanceTypeOption{{Name: "medium", Price: 0.2}}, plan.NewNodes[0].InstanceTypes); diff != "" {
		t.Errorf("instance types within limits (-want +got):\n%s", diff)
	}
	r := plan.Unschedulable[0].Reasons[0]
	if r.Code != ReasonLimitExceeded || !strings.Contains(r.Message, "cpu") {
		t.Errorf("reason = %+v, want LimitExceeded naming cpu", r)
	}
}

func TestSolve_HostPortsKeepPodsApart(t *testing.T) {
	plan := Solve(Snapshot{
		Pods:         []*v1.Pod{makePod("a", "1", "1Gi", withHostPort(8080)), makePod("b", "1", "1Gi", withHostPort(8080))},
		Provisioners: []Provisioner{makeProvisioner("default", standardTypes())},
	})
	if len(plan.NewNodes) != 2 {
		t.Errorf("want two nodes for two pods on one host port, got %d", len(plan.NewNodes))
	}
}

func TestSolve_RequiredNodeAffinityTriesEachTerm(t *testing.T) {
	pod := makePod("a", "1", "1Gi", withNodeAffinity(
		[]v1.NodeSelectorRequirement{nsr(LabelZone, v1.NodeSelectorOpIn, "zone-z")},
		[]v1.NodeSelectorRequirement{nsr(LabelZone, v1.NodeSelectorOpIn, "zone-c")},
	))
	plan := Solve(Snapshot{Pods: []*v1.Pod{pod}, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	if len(plan.NewNodes) != 1 || zoneOf(plan.NewNodes[0]) != "zone-c" {
		t.Fatalf("want a node in zone-c from the second term, got %+v", plan)
	}
}

func TestSolve_PreferredNodeAffinityHonouredWhenPossible(t *testing.T) {
	pod := makePod("a", "1", "1Gi", withPreferredNodeAffinity(10, nsr(LabelZone, v1.NodeSelectorOpIn, "zone-b")))
	plan := Solve(Snapshot{Pods: []*v1.Pod{pod}, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	if zoneOf(plan.NewNodes[0]) != "zone-b" {
		t.Errorf("zone = %q, want the preferred zone-b", zoneOf(plan.NewNodes[0]))
	}
	impossible := makePod("b", "1", "1Gi", withPreferredNodeAffinity(10, nsr(LabelZone, v1.NodeSelectorOpIn, "zone-z")))
	plan = Solve(Snapshot{Pods: []*v1.Pod{impossible}, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	if len(plan.NewNodes) != 1 {
		t.Errorf("an impossible preference must be relaxed, got %+v", plan)
	}
}

func TestSolve_PreferNoScheduleTaintAvoidedUntilNeeded(t *testing.T) {
	tainted := makeNode("tainted", "zone-a", "4", "8Gi")
	tainted.Taints = []v1.Taint{{Key: "soft", Effect: v1.TaintEffectPreferNoSchedule}}
	snap := Snapshot{Pods: []*v1.Pod{makePod("a", "1", "1Gi")}, Nodes: []Node{tainted}, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}}
	if plan := Solve(snap); len(plan.NewNodes) != 1 {
		t.Errorf("want a new node rather than the PreferNoSchedule node, got %+v", plan)
	}
	snap.Provisioners = nil
	if plan := Solve(snap); len(plan.Placements) != 1 {
		t.Errorf("want the tainted node used when nothing else exists, got %+v", plan)
	}
	snap.Provisioners = []Provisioner{makeProvisioner("default", standardTypes())}
	snap.Options.IgnorePreferences = true
	if plan := Solve(snap); len(plan.Placements) != 1 {
		t.Errorf("IgnorePreferences must use the tainted node, got %+v", plan)
	}
}

// Packing pods onto one node stops where the only types left cost far more per vCPU than the
// Provisioner's ordinary ones: 24 one-vCPU pods go on three ordinary nodes, not one "huge" at
// three times the price per vCPU.
func TestSolve_StopsGrowingANodeOntoTypesThatCostMorePerPod(t *testing.T) {
	types := append(standardTypes(), makeInstanceType("huge", 32, 64, 4.8, false))
	var pods []*v1.Pod
	for i := range 24 {
		pods = append(pods, makePod(fmt.Sprintf("p%02d", i), "1", "1Gi"))
	}
	plan := Solve(Snapshot{Pods: pods, Provisioners: []Provisioner{makeProvisioner("default", types)}})
	if len(plan.Unschedulable) > 0 {
		t.Fatalf("unschedulable: %v", plan.Unschedulable)
	}
	for _, n := range plan.NewNodes {
		if n.InstanceTypes[0].Name == "huge" {
			t.Errorf("a node of %d pods launches as huge at $%.2f/h", len(n.Pods), n.Price())
		}
	}
	// Ordinary types cost $0.05 per vCPU: 24 pods need at least $1.20/h of them.
	if price := plan.HourlyPrice(); price > 1.6 {
		t.Errorf("plan costs $%.2f/h for 24 vCPUs of pods, want ordinary nodes at about $0.05 per vCPU", price)
	}
}

// Keeping nodes off dear types never costs a pod its place: pods that must share a node, or that
// a Provisioner limit leaves no room for elsewhere, still grow a node onto them.
func TestSolve_GrowsOntoDearTypesWhenNothingElseFits(t *testing.T) {
	types := append(standardTypes(), makeInstanceType("huge", 32, 64, 4.8, false))
	limited := makeProvisioner("default", types)
	limited.Limits = v1.ResourceList{v1.ResourceCPU: resource.MustParse("34")}
	for _, tc := range []struct {
		name        string
		provisioner Provisioner
		pod         func(i int) *v1.Pod
	}{
		{"provisioner limit", limited, func(i int) *v1.Pod { return makePod(fmt.Sprintf("p%02d", i), "1", "1Gi") }},
		{"required co-location", makeProvisioner("default", types), func(i int) *v1.Pod {
			return makePod(fmt.Sprintf("p%02d", i), "1", "1Gi", withLabels("app", "db"), withPodAffinity(LabelHostname, map[string]string{"app": "db"}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pods []*v1.Pod
			for i := range 20 {
				pods = append(pods, tc.pod(i))
			}
			plan := Solve(Snapshot{Pods: pods, Provisioners: []Provisioner{tc.provisioner}})
			if len(plan.Unschedulable) > 0 {
				t.Errorf("%d of 20 pods unschedulable, first: %+v", len(plan.Unschedulable), plan.Unschedulable[0])
			}
		})
	}
}
