package scheduling

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func withClaim(volume, claim string) podOption {
	return func(p *v1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: volume, VolumeSource: v1.VolumeSource{
			PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
		}})
	}
}

func withEphemeralVolume(volume, class string) podOption {
	return func(p *v1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: volume, VolumeSource: v1.VolumeSource{
			Ephemeral: &v1.EphemeralVolumeSource{VolumeClaimTemplate: &v1.PersistentVolumeClaimTemplate{
				Spec: v1.PersistentVolumeClaimSpec{StorageClassName: &class},
			}},
		}})
	}
}

// boundClaim is a claim bound to volume; unboundClaim names a class (nil: none given).
func boundClaim(name, volume string) *v1.PersistentVolumeClaim {
	return &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1.PersistentVolumeClaimSpec{VolumeName: volume}}
}

func unboundClaim(name string, class *string) *v1.PersistentVolumeClaim {
	return &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1.PersistentVolumeClaimSpec{StorageClassName: class}}
}

// zonalVolume is an EBS CSI volume whose node affinity requires zone under key.
func zonalVolume(name, key, zone string) *v1.PersistentVolume {
	return &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.PersistentVolumeSpec{
		PersistentVolumeSource: v1.PersistentVolumeSource{CSI: &v1.CSIPersistentVolumeSource{Driver: ebsCSIDriver, VolumeHandle: name}},
		NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
			MatchExpressions: []v1.NodeSelectorRequirement{nsr(key, v1.NodeSelectorOpIn, zone)},
		}}}},
	}}
}

func storageClass(name string, mode storagev1.VolumeBindingMode, zones ...string) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: ebsCSIDriver, VolumeBindingMode: &mode}
	if len(zones) > 0 {
		sc.AllowedTopologies = []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{{Key: LabelZone, Values: zones}}}}
	}
	return sc
}

func ptrTo[T any](v T) *T { return &v }

const wffc = storagev1.VolumeBindingWaitForFirstConsumer

func TestSolve_VolumeTopologyDecidesWhereThePodGoes(t *testing.T) {
	defaultClass := storageClass("gp3", wffc, "zone-c")
	defaultClass.Annotations = map[string]string{annotationDefaultStorageClass: "true"}
	for _, tc := range []struct {
		name    string
		pod     *v1.Pod
		claims  []*v1.PersistentVolumeClaim
		volumes []*v1.PersistentVolume
		classes []*storagev1.StorageClass
		// wantNode is the existing node's name, or the zone of the new node.
		wantNode string
	}{
		{"a bound volume in another zone keeps the pod off the existing node",
			makePod("db", "1", "1Gi", withClaim("data", "data")),
			[]*v1.PersistentVolumeClaim{boundClaim("data", "pv-b")}, []*v1.PersistentVolume{zonalVolume("pv-b", LabelZone, "zone-b")}, nil,
			"zone-b"},
		{"a bound volume in the existing node's zone uses the existing node",
			makePod("db", "1", "1Gi", withClaim("data", "data")),
			[]*v1.PersistentVolumeClaim{boundClaim("data", "pv-a")}, []*v1.PersistentVolume{zonalVolume("pv-a", LabelZone, "zone-a")}, nil,
			"existing"},
		{"the EBS CSI zone key means the node's zone",
			makePod("db", "1", "1Gi", withClaim("data", "data")),
			[]*v1.PersistentVolumeClaim{boundClaim("data", "pv-b")}, []*v1.PersistentVolume{zonalVolume("pv-b", "topology.ebs.csi.aws.com/zone", "zone-b")}, nil,
			"zone-b"},
		{"a WaitForFirstConsumer claim goes where its class allows",
			makePod("db", "1", "1Gi", withClaim("data", "data")),
			[]*v1.PersistentVolumeClaim{unboundClaim("data", ptrTo("zonal"))}, nil, []*storagev1.StorageClass{storageClass("zonal", wffc, "zone-b", "zone-c")},
			"[zone-b zone-c]"},
		{"a WaitForFirstConsumer class without allowedTopologies does not constrain",
			makePod("db", "1", "1Gi", withClaim("data", "data")),
			[]*v1.PersistentVolumeClaim{unboundClaim("data", ptrTo("anywhere"))}, nil, []*storagev1.StorageClass{storageClass("anywhere", wffc)},
			"existing"},
		{"a claim naming no class uses the default class",
			makePod("db", "1", "1Gi", withClaim("data", "data")),
			[]*v1.PersistentVolumeClaim{unboundClaim("data", nil)}, nil, []*storagev1.StorageClass{storageClass("other", wffc), defaultClass},
			"zone-c"},
		{"a generic ephemeral volume follows its template's class before its claim exists",
			makePod("scratch", "1", "1Gi", withEphemeralVolume("tmp", "zonal")),
			nil, nil, []*storagev1.StorageClass{storageClass("zonal", wffc, "zone-b")},
			"zone-b"},
		{"a generic ephemeral volume's bound claim pins the pod to its volume",
			makePod("scratch", "1", "1Gi", withEphemeralVolume("tmp", "zonal")),
			[]*v1.PersistentVolumeClaim{boundClaim("scratch-tmp", "pv-c")}, []*v1.PersistentVolume{zonalVolume("pv-c", LabelZone, "zone-c")},
			[]*storagev1.StorageClass{storageClass("zonal", wffc, "zone-b")},
			"zone-c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := Solve(Snapshot{
				Pods:                   []*v1.Pod{tc.pod},
				Nodes:                  []Node{makeNode("existing", "zone-a", "4", "8Gi")},
				Provisioners:           []Provisioner{makeProvisioner("default", standardTypes())},
				PersistentVolumeClaims: tc.claims, PersistentVolumes: tc.volumes, StorageClasses: tc.classes,
			})
			if len(plan.Unschedulable) > 0 {
				t.Fatalf("pod unschedulable: %+v", plan.Unschedulable[0].Reasons)
			}
			got := ""
			if len(plan.Placements) == 1 {
				got = plan.Placements[0].Node
			} else if len(plan.NewNodes) == 1 {
				got = zoneOf(plan.NewNodes[0])
			}
			if got != tc.wantNode {
				t.Errorf("pod went to %q, want %q (plan %+v)", got, tc.wantNode, plan)
			}
		})
	}
}

func TestSolve_ReasonForEveryKindOfVolumeFailure(t *testing.T) {
	zoneA := makeProvisioner("zone-a-only", standardTypes())
	zoneA.Requirements = NewRequirements(In(LabelZone, "zone-a"))
	full := makeInstanceType("full", 8, 16, 0.4, false)
	for i := range full.Offerings {
		full.Offerings[i].Available = full.Offerings[i].Zone != "zone-b"
	}
	pvB := []*v1.PersistentVolume{zonalVolume("pv-b", LabelZone, "zone-b")}
	dataB := []*v1.PersistentVolumeClaim{boundClaim("data", "pv-b")}
	for _, tc := range []struct {
		name        string
		pod         *v1.Pod
		claims      []*v1.PersistentVolumeClaim
		volumes     []*v1.PersistentVolume
		classes     []*storagev1.StorageClass
		prov        Provisioner
		wantCode    ReasonCode
		wantMessage []string
	}{
		{"missing claim", makePod("db", "1", "1Gi", withClaim("data", "data")), nil, nil, nil,
			makeProvisioner("default", standardTypes()), ReasonVolumeNotFound, []string{"PersistentVolumeClaim default/data not found"}},
		{"missing bound volume", makePod("db", "1", "1Gi", withClaim("data", "data")), dataB, nil, nil,
			makeProvisioner("default", standardTypes()), ReasonVolumeNotFound, []string{"PersistentVolume pv-b"}},
		{"missing class", makePod("db", "1", "1Gi", withClaim("data", "data")), []*v1.PersistentVolumeClaim{unboundClaim("data", ptrTo("gone"))}, nil, nil,
			makeProvisioner("default", standardTypes()), ReasonVolumeNotFound, []string{"StorageClass gone"}},
		{"unbound claim of an Immediate class waits to bind",
			makePod("db", "1", "1Gi", withClaim("data", "data")), []*v1.PersistentVolumeClaim{unboundClaim("data", ptrTo("now"))}, nil,
			[]*storagev1.StorageClass{storageClass("now", storagev1.VolumeBindingImmediate)},
			makeProvisioner("default", standardTypes()), ReasonVolumeNotBound, []string{"default/data", "binds immediately"}},
		{"unbound claim without a class waits for a volume",
			makePod("db", "1", "1Gi", withClaim("data", "data")), []*v1.PersistentVolumeClaim{unboundClaim("data", ptrTo(""))}, nil, nil,
			makeProvisioner("default", standardTypes()), ReasonVolumeNotBound, []string{"default/data", "no StorageClass"}},
		{"the pod's node selector excludes its volume's zone",
			makePod("db", "1", "1Gi", withClaim("data", "data"), withNodeSelector(LabelZone, "zone-a")), dataB, pvB, nil,
			makeProvisioner("default", standardTypes()), ReasonVolumeTopology, []string{"default/data", "pv-b", "zone-b"}},
		{"the Provisioner cannot launch in the volume's zone",
			makePod("db", "1", "1Gi", withClaim("data", "data")), dataB, pvB, nil,
			zoneA, ReasonVolumeTopology, []string{"default/data", "In [zone-b]", "In [zone-a]"}},
		{"no capacity in the volume's zone",
			makePod("db", "1", "1Gi", withClaim("data", "data")), dataB, pvB, nil,
			makeProvisioner("default", []*InstanceType{full}), ReasonNoAvailableOffering, []string{"zone-b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := Solve(Snapshot{
				Pods: []*v1.Pod{tc.pod}, Provisioners: []Provisioner{tc.prov},
				PersistentVolumeClaims: tc.claims, PersistentVolumes: tc.volumes, StorageClasses: tc.classes,
			})
			if len(plan.Unschedulable) != 1 {
				t.Fatalf("want the pod unschedulable, got %+v", plan)
			}
			r := plan.Unschedulable[0].Reasons[0]
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

func TestSolve_VolumeAttachLimitsOfExistingNodes(t *testing.T) {
	class := storageClass("gp3", wffc)
	claims := []*v1.PersistentVolumeClaim{unboundClaim("old", ptrTo("gp3")), unboundClaim("new", ptrTo("gp3")), unboundClaim("other", ptrTo("efs"))}
	efs := storageClass("efs", wffc)
	efs.Provisioner = "efs.csi.aws.com"
	for _, tc := range []struct {
		name     string
		pod      *v1.Pod
		limits   map[string]int32
		wantNode string
	}{
		{"a node at its driver's limit takes no new volume",
			makePod("p", "1", "1Gi", withClaim("v", "new")), map[string]int32{ebsCSIDriver: 1}, "new-0"},
		{"a claim already attached to the node costs nothing",
			makePod("p", "1", "1Gi", withClaim("v", "old")), map[string]int32{ebsCSIDriver: 1}, "existing"},
		{"another driver's limit is separate",
			makePod("p", "1", "1Gi", withClaim("v", "other")), map[string]int32{ebsCSIDriver: 1, "efs.csi.aws.com": 1}, "existing"},
		{"a node with room under the limit takes the volume",
			makePod("p", "1", "1Gi", withClaim("v", "new")), map[string]int32{ebsCSIDriver: 2}, "existing"},
		{"unknown limits do not block",
			makePod("p", "1", "1Gi", withClaim("v", "new")), nil, "existing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := makeNode("existing", "zone-a", "4", "8Gi", makePod("running", "100m", "100Mi", withClaim("v", "old")))
			node.VolumeLimits = tc.limits
			plan := Solve(Snapshot{
				Pods: []*v1.Pod{tc.pod}, Nodes: []Node{node}, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())},
				PersistentVolumeClaims: claims, StorageClasses: []*storagev1.StorageClass{class, efs},
			})
			if got := nodeOfPod(plan)["p"]; got != tc.wantNode {
				t.Errorf("pod went to %q, want %q (plan %+v)", got, tc.wantNode, plan)
			}
		})
	}
}

func TestSolve_PodsSharingAClaimCountItOnce(t *testing.T) {
	claims := []*v1.PersistentVolumeClaim{unboundClaim("shared", ptrTo("gp3")), unboundClaim("own", ptrTo("gp3"))}
	node := makeNode("existing", "zone-a", "4", "8Gi")
	node.VolumeLimits = map[string]int32{ebsCSIDriver: 2}
	plan := Solve(Snapshot{
		Pods: []*v1.Pod{
			makePod("a", "1", "1Gi", withClaim("v", "shared")), makePod("b", "1", "1Gi", withClaim("v", "shared")),
			makePod("c", "1", "1Gi", withClaim("v", "own")), makePod("d", "100m", "1Gi", withEphemeralVolume("tmp", "gp3")),
		},
		Nodes: []Node{node}, Provisioners: []Provisioner{makeProvisioner("default", standardTypes())},
		PersistentVolumeClaims: claims, StorageClasses: []*storagev1.StorageClass{storageClass("gp3", wffc)},
	})
	got := nodeOfPod(plan)
	for _, name := range []string{"a", "b", "c"} {
		if got[name] != "existing" {
			t.Errorf("pod %s went to %q, want the existing node (two distinct claims fit a limit of 2)", name, got[name])
		}
	}
	if got["d"] == "existing" {
		t.Errorf("pod d's third volume went onto the existing node past its limit of 2")
	}
}
