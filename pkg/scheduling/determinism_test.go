package scheduling

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// mixedSnapshot exercises every input kind at once: existing and in-flight nodes with bound pods,
// two provisioners, DaemonSets and the diverse pods.
func mixedSnapshot() Snapshot {
	snap := diverseSnapshot(300, 40, 7)
	tainted := Provisioner{Name: "tainted", Weight: 5, InstanceTypes: syntheticTypes(20),
		Taints: []v1.Taint{{Key: "dedicated", Effect: v1.TaintEffectNoSchedule}}}
	snap.Provisioners = append(snap.Provisioners, tainted)
	for i := range 6 {
		n := makeNode(fmt.Sprintf("node-%d", i), diverseZones[i%3], "4", "8Gi",
			makePod(fmt.Sprintf("bound-%d", i), "500m", "512Mi", withLabels("my-label", diverseValues[i], "app", "nginx")))
		n.InFlight = i%2 == 1
		snap.Nodes = append(snap.Nodes, n)
	}
	snap.DaemonSetPods = []*v1.Pod{makePod("ds-logs", "100m", "128Mi"), makePod("ds-gpu", "200m", "128Mi", withNodeSelector(LabelInstanceType, "fake-it-3"))}
	snap.Pods = append(snap.Pods, makePod("tolerant", "2", "1Gi", withTolerations(v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpExists})),
		makePod("too-big", "900", "1Gi"))
	// Volumes: one bound per zone, one WaitForFirstConsumer class, attach limits on existing nodes.
	for i, z := range diverseZones {
		name := fmt.Sprintf("data-%d", i)
		snap.PersistentVolumes = append(snap.PersistentVolumes, zonalVolume("pv-"+name, LabelZone, z))
		snap.PersistentVolumeClaims = append(snap.PersistentVolumeClaims, boundClaim(name, "pv-"+name), unboundClaim("scratch-"+name, ptrTo("gp3")))
		snap.Pods = append(snap.Pods, makePod("db-"+name, "1", "1Gi", withClaim("data", name), withClaim("scratch", "scratch-"+name)))
		snap.Nodes[i].VolumeLimits = map[string]int32{ebsCSIDriver: 1}
	}
	snap.StorageClasses = []*storagev1.StorageClass{storageClass("gp3", wffc, diverseZones[:2]...), storageClass("io2", wffc)}
	snap.Pods = append(snap.Pods, makePod("db-lost", "1", "1Gi", withClaim("data", "lost")))
	return snap
}

func shuffled(snap Snapshot, rng *rand.Rand) Snapshot {
	shuffle := func(n int, swap func(i, j int)) { rng.Shuffle(n, swap) }
	out := snap
	out.Pods = append([]*v1.Pod(nil), snap.Pods...)
	shuffle(len(out.Pods), func(i, j int) { out.Pods[i], out.Pods[j] = out.Pods[j], out.Pods[i] })
	out.Nodes = append([]Node(nil), snap.Nodes...)
	shuffle(len(out.Nodes), func(i, j int) { out.Nodes[i], out.Nodes[j] = out.Nodes[j], out.Nodes[i] })
	out.DaemonSetPods = append([]*v1.Pod(nil), snap.DaemonSetPods...)
	shuffle(len(out.DaemonSetPods), func(i, j int) {
		out.DaemonSetPods[i], out.DaemonSetPods[j] = out.DaemonSetPods[j], out.DaemonSetPods[i]
	})
	out.PersistentVolumeClaims = slices.Clone(snap.PersistentVolumeClaims)
	shuffle(len(out.PersistentVolumeClaims), func(i, j int) {
		out.PersistentVolumeClaims[i], out.PersistentVolumeClaims[j] = out.PersistentVolumeClaims[j], out.PersistentVolumeClaims[i]
	})
	out.PersistentVolumes = slices.Clone(snap.PersistentVolumes)
	shuffle(len(out.PersistentVolumes), func(i, j int) {
		out.PersistentVolumes[i], out.PersistentVolumes[j] = out.PersistentVolumes[j], out.PersistentVolumes[i]
	})
	out.StorageClasses = slices.Clone(snap.StorageClasses)
	shuffle(len(out.StorageClasses), func(i, j int) {
		out.StorageClasses[i], out.StorageClasses[j] = out.StorageClasses[j], out.StorageClasses[i]
	})
	out.Provisioners = append([]Provisioner(nil), snap.Provisioners...)
	shuffle(len(out.Provisioners), func(i, j int) { out.Provisioners[i], out.Provisioners[j] = out.Provisioners[j], out.Provisioners[i] })
	for i := range out.Provisioners {
		types := append([]*InstanceType(nil), out.Provisioners[i].InstanceTypes...)
		shuffle(len(types), func(a, b int) { types[a], types[b] = types[b], types[a] })
		out.Provisioners[i].InstanceTypes = types
	}
	return out
}

var planComparers = cmp.Options{
	cmp.Comparer(func(a, b Requirements) bool { return a.Equal(b) }),
	cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 }),
}

func TestSolve_SameSnapshotInAnyOrderGivesIdenticalPlan(t *testing.T) {
	snap := mixedSnapshot()
	want := Solve(snap)
	if len(want.NewNodes) == 0 || len(want.Placements) == 0 || len(want.Unschedulable) == 0 {
		t.Fatalf("the snapshot should exercise new nodes, placements and failures: %d/%d/%d",
			len(want.NewNodes), len(want.Placements), len(want.Unschedulable))
	}
	rng := rand.New(rand.NewPCG(42, 42))
	for i := range 5 {
		got := Solve(shuffled(snap, rng))
		if diff := cmp.Diff(want, got, planComparers); diff != "" {
			t.Fatalf("shuffle %d changed the plan (-first +shuffled):\n%s", i, diff)
		}
	}
}

func TestSolve_DoesNotModifyTheSnapshot(t *testing.T) {
	snap := mixedSnapshot()
	before := shuffled(snap, rand.New(rand.NewPCG(1, 1)))
	_ = Solve(before)
	again := Solve(before)
	if diff := cmp.Diff(Solve(snap), again, planComparers); diff != "" {
		t.Fatalf("solving twice differs (-want +got):\n%s", diff)
	}
}

func TestSolve_DiverseWorkloadMeetsTheAntiAffinityBound(t *testing.T) {
	plan := Solve(diverseSnapshot(500, 400, 42))
	if len(plan.Unschedulable) != 0 {
		t.Fatalf("%d pods unschedulable, first: %+v", len(plan.Unschedulable), plan.Unschedulable[0])
	}
	if got := len(plan.NewNodes); got != 100 {
		t.Errorf("nodes = %d, want 100 (one per anti-affinity pod)", got)
	}
	assertSpreadHolds(t, plan)
}

// assertSpreadHolds checks hostname anti-affinity and spread in a diverse plan from the output alone.
func assertSpreadHolds(t *testing.T, plan Plan) {
	t.Helper()
	for i, n := range plan.NewNodes {
		anti := 0
		for _, p := range n.Pods {
			if len(p.Name) > 5 && p.Name[:5] == "anti-" {
				anti++
			}
		}
		if anti > 1 {
			t.Errorf("node %d holds %d anti-affinity pods", i, anti)
		}
		if len(n.InstanceTypes) == 0 {
			t.Errorf("node %d has no candidate instance type", i)
		}
	}
}
