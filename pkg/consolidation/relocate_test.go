package consolidation

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestRelocate_SaysWhatRemovingNodesTakes(t *testing.T) {
	small, large := instanceType(2), instanceType(8)
	tests := []struct {
		name          string
		cluster       *cluster
		nodes         []string
		avoid         []string
		newNodes      int
		placed        int
		unschedulable int
		blocked       ReasonCode
	}{{
		name:    "pods fit on the nodes that stay",
		cluster: newCluster(small, large).node("a", large, pods("a", 2, "1")).node("b", large, pods("b", 1, "1")),
		nodes:   []string{"a"},
		placed:  2,
	}, {
		name:     "pods that do not fit get a replacement",
		cluster:  newCluster(small, large).node("a", large, pods("a", 3, "2")).node("b", large, pods("b", 3, "2")),
		nodes:    []string{"a"},
		newNodes: 1,
	}, {
		name:     "a node due to leave too takes no pod",
		cluster:  newCluster(small, large).node("a", large, pods("a", 2, "1")).node("b", large, pods("b", 1, "1")),
		nodes:    []string{"a"},
		avoid:    []string{"a", "b"},
		newNodes: 1,
	}, {
		name:     "two nodes leaving together",
		cluster:  newCluster(small, large).node("a", large, pods("a", 3, "2")).node("b", large, pods("b", 3, "2")),
		nodes:    []string{"a", "b"},
		newNodes: 2,
	}, {
		name:    "an empty node takes nothing",
		cluster: newCluster(small).node("a", large, nil),
		nodes:   []string{"a"},
	}, {
		name:    "a do-not-evict pod blocks",
		cluster: newCluster(small).node("a", large, []*v1.Pod{pod("p", "1", func(p *v1.Pod) { p.Annotations = map[string]string{"karpenter.sh/do-not-evict": "true"} })}),
		nodes:   []string{"a"},
		blocked: ReasonDoNotEvictPod,
	}, {
		name: "a budget that allows no disruption now blocks",
		cluster: func() *cluster {
			c := newCluster(small, large).node("a", large, []*v1.Pod{pod("web-1", "1", withApp("web"))}).node("c", large, nil)
			c.in.Budgets = []Budget{{Namespace: "default", Selector: labels.SelectorFromSet(labels.Set{"app": "web"}), Allowed: 0}}
			return c
		}(),
		nodes:   []string{"a"},
		blocked: ReasonPDBViolation,
	}, {
		// The drain evicts them in turn, one at a time, as the Eviction API lets it.
		name: "several pods under a budget of one do not block",
		cluster: func() *cluster {
			c := newCluster(small, large).node("a", large, []*v1.Pod{pod("web-1", "1", withApp("web")), pod("web-2", "1", withApp("web"))}).
				node("b", large, []*v1.Pod{pod("web-3", "1", withApp("web"))}).node("c", large, nil)
			c.in.Budgets = []Budget{{Namespace: "default", Selector: labels.SelectorFromSet(labels.Set{"app": "web"}), Allowed: 1}}
			return c
		}(),
		nodes: []string{"a", "b"},
	}, {
		name:          "a pod no Provisioner can hold is unschedulable",
		cluster:       newCluster(small).node("a", large, []*v1.Pod{pod("huge", "7")}),
		nodes:         []string{"a"},
		unschedulable: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Relocate(tt.cluster.in, tt.nodes, tt.avoid)
			if got.Blocked.Code != tt.blocked {
				t.Fatalf("blocked = %q (%s), want %q", got.Blocked.Code, got.Blocked.Message, tt.blocked)
			}
			if len(got.Plan.NewNodes) != tt.newNodes || len(got.Plan.Unschedulable) != tt.unschedulable {
				t.Errorf("new nodes %d, unschedulable %d; want %d, %d", len(got.Plan.NewNodes), len(got.Plan.Unschedulable), tt.newNodes, tt.unschedulable)
			}
			if tt.placed > 0 && len(got.Plan.Placements) != tt.placed {
				t.Errorf("placements = %d, want %d", len(got.Plan.Placements), tt.placed)
			}
		})
	}
}

func withApp(app string) func(*v1.Pod) {
	return func(p *v1.Pod) { p.Labels = map[string]string{"app": app} }
}
