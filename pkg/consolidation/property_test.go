package consolidation

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// randomCluster builds n nodes of random sizes, each running pods up to a random share of it,
// with affinity some with hostname anti-affinity so the rules Solve knows are exercised.
func randomCluster(rng *rand.Rand, n int, affinity bool) *cluster {
	sizes := []*scheduling.InstanceType{c1, c2, c4, c8}
	c := newCluster(sizes...)
	for i := range n {
		it := sizes[rng.IntN(len(sizes))]
		alloc := it.Allocatable()
		cpu := alloc.Cpu().MilliValue()
		used := int64(0)
		var ps []*v1.Pod
		for j := 0; used < cpu*int64(rng.IntN(100))/100; j++ {
			req := int64(100 + rng.IntN(900))
			if used+req > cpu {
				break
			}
			used += req
			p := pod(fmt.Sprintf("n%d-p%d", i, j), fmt.Sprintf("%dm", req))
			if affinity && rng.IntN(4) == 0 {
				p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{
					{TopologyKey: v1.LabelHostname, LabelSelector: selector("app", "spread-"+fmt.Sprint(rng.IntN(3)))}}}}
				p.Labels["app"] = "spread-" + fmt.Sprint(rng.IntN(3))
			}
			ps = append(ps, p)
		}
		c.node(fmt.Sprintf("node-%03d", i), it, ps)
	}
	return c
}

// For random clusters, running the commands of a pass one after another, as the disruption
// controller does, always leaves every evicted pod a place: on the nodes that stay or on the
// command's replacement, under every rule Solve knows.
func TestEvaluate_CommandsNeverLeaveAPodWithoutAPlace(t *testing.T) {
	for seed := range uint64(60) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			// Half the clusters have anti-affinity, half none (where simulations fold pods away).
			c := randomCluster(rng, 5+rng.IntN(30), seed%2 == 0)
			result := Evaluate(c.in, epoch)
			nodes := slices.Clone(c.in.Cluster.Nodes)
			for k, cmd := range result.Commands {
				var evicted []*v1.Pod
				nodes = slices.DeleteFunc(nodes, func(n scheduling.Node) bool {
					if slices.Contains(cmd.Nodes, n.Name) {
						evicted = append(evicted, n.Pods...)
						return true
					}
					return false
				})
				if cmd.Replacement != nil {
					types := c.in.Cluster.Provisioners[0].InstanceTypes
					it := types[slices.IndexFunc(types, func(it *scheduling.InstanceType) bool { return it.Name == cmd.Replacement.InstanceTypes[0].Name })]
					name := fmt.Sprintf("replacement-%d", k)
					nodes = append(nodes, scheduling.Node{Name: name, Allocatable: it.Allocatable(),
						Labels: map[string]string{scheduling.LabelInstanceType: it.Name, scheduling.LabelArch: "amd64", scheduling.LabelZone: "zone-a", v1.LabelHostname: name}})
				}
				plan := scheduling.Solve(scheduling.Snapshot{Pods: evicted, Nodes: nodes})
				if len(plan.Unschedulable) > 0 {
					t.Fatalf("command %d %+v leaves %d pods without a place, first %s: %+v", k, summarize(Result{Commands: []Command{cmd}}),
						len(plan.Unschedulable), plan.Unschedulable[0].Pod, plan.Unschedulable[0].Nodes)
				}
				byName := map[scheduling.PodKey]*v1.Pod{}
				for _, p := range evicted {
					byName[scheduling.PodKey{Namespace: p.Namespace, Name: p.Name}] = p
				}
				for _, placement := range plan.Placements {
					i := slices.IndexFunc(nodes, func(n scheduling.Node) bool { return n.Name == placement.Node })
					nodes[i].Pods = append(slices.Clip(nodes[i].Pods), bound(byName[placement.Pod], placement.Node))
				}
			}
		})
	}
}
