package scheduling

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

func TestSolve_ReasonForEveryExistingNodeThatCannotTakeThePod(t *testing.T) {
	tainted := makeNode("node", "zone-a", "4", "8Gi")
	tainted.Taints = []v1.Taint{{Key: "dedicated", Value: "ml", Effect: v1.TaintEffectNoSchedule}}
	atLimit := makeNode("node", "zone-a", "4", "8Gi", makePod("running", "100m", "100Mi", withClaim("v", "old")))
	atLimit.VolumeLimits = map[string]int32{ebsCSIDriver: 1}
	inFlight := makeNode("node", "zone-a", "1", "8Gi")
	inFlight.InFlight = true
	claims := []*v1.PersistentVolumeClaim{boundClaim("data", "pv-b"), unboundClaim("old", ptrTo("gp3")), unboundClaim("new", ptrTo("gp3"))}
	for _, tc := range []struct {
		name        string
		node        Node
		pod         *v1.Pod
		wantCode    ReasonCode
		wantMessage []string
	}{
		{"untolerated taint", tainted, makePod("p", "1", "1Gi"), ReasonTaintNotTolerated, []string{"dedicated=ml:NoSchedule"}},
		{"label the pod does not select", makeNode("node", "zone-a", "4", "8Gi"), makePod("p", "1", "1Gi", withNodeSelector(LabelZone, "zone-b")),
			ReasonIncompatibleRequirements, []string{LabelZone, "is In [zone-a]", "wants In [zone-b]"}},
		{"volume in another zone", makeNode("node", "zone-a", "4", "8Gi"), makePod("p", "1", "1Gi", withClaim("v", "data")),
			ReasonVolumeTopology, []string{"default/data", "pv-b", "zone-b"}},
		{"host port in use", makeNode("node", "zone-a", "4", "8Gi", makePod("web", "100m", "100Mi", withHostPort(80))), makePod("p", "1", "1Gi", withHostPort(80)),
			ReasonHostPortConflict, []string{"0.0.0.0:80/TCP"}},
		{"not enough cpu left", makeNode("node", "zone-a", "1", "8Gi", makePod("busy", "800m", "100Mi")), makePod("p", "500m", "1Gi"),
			ReasonInsufficientResources, []string{"requests 500m cpu", "200m free of 1 allocatable"}},
		{"not enough cpu on an in-flight node", inFlight, makePod("p", "2", "1Gi"), ReasonInsufficientResources, []string{"cpu"}},
		{"volume attach limit reached", atLimit, makePod("p", "1", "1Gi", withClaim("v", "new")),
			ReasonVolumeAttachLimit, []string{"1 of at most 1 ebs.csi.aws.com volumes"}},
		{"anti-affinity with a pod on the node", makeNode("node", "zone-a", "4", "8Gi", makePod("db-0", "100m", "100Mi", withLabels("app", "db"))),
			makePod("p", "1", "1Gi", withLabels("app", "db"), withAntiAffinity(LabelHostname, map[string]string{"app": "db"})),
			ReasonPodAntiAffinity, []string{"pod anti-affinity", LabelHostname}},
		{"a running pod's anti-affinity repels the pod", makeNode("node", "zone-a", "4", "8Gi",
			makePod("db-0", "100m", "100Mi", withAntiAffinity(LabelZone, map[string]string{"app": "db"}))),
			makePod("p", "1", "1Gi", withLabels("app", "db")),
			ReasonPodAntiAffinity, []string{"repelled", LabelZone}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := Solve(Snapshot{Pods: []*v1.Pod{tc.pod}, Nodes: []Node{tc.node},
				PersistentVolumeClaims: claims, PersistentVolumes: []*v1.PersistentVolume{zonalVolume("pv-b", LabelZone, "zone-b")},
				StorageClasses: []*storagev1.StorageClass{storageClass("gp3", wffc)}})
			if len(plan.Unschedulable) != 1 {
				t.Fatalf("want the pod unschedulable, got %+v", plan)
			}
			nodes := plan.Unschedulable[0].Nodes
			if len(nodes) != 1 || nodes[0].Node != "node" || nodes[0].InFlight != tc.node.InFlight {
				t.Fatalf("want one reason for node (in-flight %v), got %+v", tc.node.InFlight, nodes)
			}
			if nodes[0].Code != tc.wantCode {
				t.Errorf("code = %s, want %s (%s)", nodes[0].Code, tc.wantCode, nodes[0].Message)
			}
			for _, s := range tc.wantMessage {
				if !strings.Contains(nodes[0].Message, s) {
					t.Errorf("message %q does not mention %q", nodes[0].Message, s)
				}
			}
		})
	}
}

func TestSolve_NodeReasonsListEveryNodeAndSummarise(t *testing.T) {
	tainted := makeNode("c-tainted", "zone-a", "8", "8Gi")
	tainted.Taints = []v1.Taint{{Key: "dedicated", Effect: v1.TaintEffectNoSchedule}}
	launching := makeNode("a-launching", "zone-a", "1", "8Gi")
	launching.InFlight = true
	plan := Solve(Snapshot{
		Pods:  []*v1.Pod{makePod("big", "4", "1Gi")},
		Nodes: []Node{tainted, launching, makeNode("b-small", "zone-b", "2", "8Gi")},
	})
	if len(plan.Unschedulable) != 1 {
		t.Fatalf("want the pod unschedulable, got %+v", plan)
	}
	u := plan.Unschedulable[0]
	var got []string
	for _, r := range u.Nodes {
		got = append(got, r.Node+" "+string(r.Code))
	}
	want := []string{"b-small InsufficientResources", "c-tainted TaintNotTolerated", "a-launching InsufficientResources"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("node reasons, existing nodes then in-flight (-want +got):\n%s", diff)
	}
	if got, want := u.NodeSummary(), "0/3 nodes are available: 2 InsufficientResources, 1 TaintNotTolerated."; got != want {
		t.Errorf("NodeSummary() = %q, want %q", got, want)
	}
}

func TestSolve_NoNodeReasonsWhenTheSpecRulesThePodOut(t *testing.T) {
	plan := Solve(Snapshot{
		Pods:  []*v1.Pod{makePod("p", "1", "1Gi", withClaim("v", "missing"))},
		Nodes: []Node{makeNode("node", "zone-a", "4", "8Gi")},
	})
	if len(plan.Unschedulable) != 1 || len(plan.Unschedulable[0].Nodes) != 0 || plan.Unschedulable[0].Reasons[0].Code != ReasonVolumeNotFound {
		t.Errorf("want a single VolumeNotFound reason and no node reasons, got %+v", plan.Unschedulable)
	}
}
