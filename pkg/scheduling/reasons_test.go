package scheduling

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestSolve_ReasonForEveryKindOfFailure(t *testing.T) {
	tainted := makeProvisioner("tainted", standardTypes())
	tainted.Taints = []v1.Taint{{Key: "dedicated", Value: "ml", Effect: v1.TaintEffectNoSchedule}}
	zoneA := makeProvisioner("zone-a-only", standardTypes())
	zoneA.Requirements = NewRequirements(In(LabelZone, "zone-a"))
	unavailable := makeInstanceType("gone", 8, 16, 0.4, false)
	for i := range unavailable.Offerings {
		unavailable.Offerings[i].Available = i == 0 // only zone-a
	}
	for _, tc := range []struct {
		name        string
		pod         *v1.Pod
		provs       []Provisioner
		wantCode    ReasonCode
		wantMessage []string
	}{
		{"no provisioner", makePod("p", "1", "1Gi"), nil, ReasonNoProvisioner, nil},
		{"untolerated taint", makePod("p", "1", "1Gi"), []Provisioner{tainted}, ReasonTaintNotTolerated, []string{"dedicated=ml:NoSchedule"}},
		{"requirement conflict names key, wanted and allowed", makePod("p", "1", "1Gi", withNodeSelector(LabelZone, "zone-c")),
			[]Provisioner{zoneA}, ReasonIncompatibleRequirements, []string{LabelZone, "In [zone-c]", "In [zone-a]"}},
		{"no instance type with the wanted label", makePod("p", "1", "1Gi", withNodeSelector(LabelInstanceType, "huge")),
			[]Provisioner{makeProvisioner("default", standardTypes())}, ReasonIncompatibleRequirements, []string{LabelInstanceType, "huge"}},
		{"no available offering in the wanted zone", makePod("p", "1", "1Gi", withNodeSelector(LabelZone, "zone-b")),
			[]Provisioner{makeProvisioner("default", []*InstanceType{unavailable})}, ReasonNoAvailableOffering, []string{"zone-b", "none available"}},
		{"a zone no instance type is offered in is a requirement conflict", makePod("p", "1", "1Gi", withNodeSelector(LabelZone, "zone-z")),
			[]Provisioner{makeProvisioner("default", []*InstanceType{unavailable})}, ReasonIncompatibleRequirements, []string{"zone-z", "zone-a"}},
		{"too much cpu names the resource", makePod("p", "16", "1Gi"),
			[]Provisioner{makeProvisioner("default", standardTypes())}, ReasonInsufficientResources, []string{"cpu", "16", "8"}},
		{"extended resource no type has", makePod("p", "1", "1Gi", withRequest("nvidia.com/gpu", "1")),
			[]Provisioner{makeProvisioner("default", standardTypes())}, ReasonInsufficientResources, []string{"nvidia.com/gpu"}},
		{"malformed spec", makePod("p", "1", "1Gi", withNodeAffinity([]v1.NodeSelectorRequirement{nsr("cpu", v1.NodeSelectorOpGt, "many")})),
			[]Provisioner{makeProvisioner("default", standardTypes())}, ReasonInvalidPod, []string{"many"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := Solve(Snapshot{Pods: []*v1.Pod{tc.pod}, Provisioners: tc.provs})
			if len(plan.Unschedulable) != 1 {
				t.Fatalf("want the pod unschedulable, got %+v", plan)
			}
			reasons := plan.Unschedulable[0].Reasons
			if len(reasons) != max(1, len(tc.provs)) {
				t.Fatalf("want one reason per provisioner, got %+v", reasons)
			}
			r := reasons[0]
			if r.Code != tc.wantCode {
				t.Errorf("code = %s, want %s (%s)", r.Code, tc.wantCode, r.Message)
			}
			for _, s := range tc.wantMessage {
				if !strings.Contains(r.Message, s) {
					t.Errorf("message %q does not mention %q", r.Message, s)
				}
			}
		})
	}
}

func TestSolve_ReasonsArePerProvisioner(t *testing.T) {
	tainted := makeProvisioner("a-tainted", standardTypes())
	tainted.Taints = []v1.Taint{{Key: "dedicated", Effect: v1.TaintEffectNoSchedule}}
	small := makeProvisioner("b-small", standardTypes()[:1])
	plan := Solve(Snapshot{Pods: []*v1.Pod{makePod("p", "4", "1Gi")}, Provisioners: []Provisioner{small, tainted}})
	got := map[string]ReasonCode{}
	for _, r := range plan.Unschedulable[0].Reasons {
		got[r.Provisioner] = r.Code
	}
	want := map[string]ReasonCode{"a-tainted": ReasonTaintNotTolerated, "b-small": ReasonInsufficientResources}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("reason for %s = %s, want %s", k, got[k], v)
		}
	}
}

func TestSolve_AntiAffinityReasonWhenEveryZoneIsTaken(t *testing.T) {
	sel := map[string]string{"app": "db"}
	var nodes []Node
	for _, z := range testZones {
		nodes = append(nodes, makeNode("n-"+z, z, "1", "1Gi", makePod("db-"+z, "100m", "10Mi", withLabels("app", "db"))))
	}
	pod := makePod("db-new", "1", "1Gi", withLabels("app", "db"), withAntiAffinity(LabelZone, sel))
	plan := Solve(Snapshot{Pods: []*v1.Pod{pod}, Nodes: nodes, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())}})
	if len(plan.Unschedulable) != 1 {
		t.Fatalf("want unschedulable, got %+v", plan)
	}
	r := plan.Unschedulable[0].Reasons[0]
	if r.Code != ReasonPodAntiAffinity || !strings.Contains(r.Message, LabelZone) {
		t.Errorf("reason = %+v, want anti-affinity naming the zone key", r)
	}
}
