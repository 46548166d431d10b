package consolidation

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kerf-autoscaler/kerf/pkg/podutil"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

var (
	c1, c2, c4, c8 = instanceType(1), instanceType(2), instanceType(4), instanceType(8)
)

// summary is what a test compares: each command's method, nodes, replacement type and saving.
type summary struct {
	Method      Method
	Nodes       []string
	Replacement string
	Savings     float64
}

func summarize(r Result) []summary {
	var out []summary
	for _, c := range r.Commands {
		s := summary{Method: c.Method, Nodes: c.Nodes, Savings: math.Round(c.Savings*1e4) / 1e4}
		if c.Replacement != nil {
			s.Replacement = c.Replacement.InstanceTypes[0].Name
		}
		out = append(out, s)
	}
	return out
}

func TestEvaluate_FindsTheCommandsWorthRunning(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster *cluster
		opts    Options
		want    []summary
		skipped map[string]ReasonCode
	}{
		{
			name:    "empty nodes go together",
			cluster: newCluster(c1, c2, c4).node("a", c2, nil).node("b", c4, nil).node("busy", c2, pods("web", 2, "900m")),
			want:    []summary{{Method: MethodEmpty, Nodes: []string{"a", "b"}, Savings: 0.3}},
			skipped: map[string]ReasonCode{"busy": ReasonNotCheaper},
		},
		{
			name:    "a node whose pods fit on another is deleted",
			cluster: newCluster(c1, c2, c4).node("full", c4, pods("big", 3, "1")).node("small", c2, pods("web", 1, "500m")),
			want:    []summary{{Method: MethodDelete, Nodes: []string{"small"}, Savings: 0.1}},
			skipped: map[string]ReasonCode{"full": ReasonNotCheaper},
		},
		{
			name:    "an oversized node is replaced by one cheaper node",
			cluster: newCluster(c1, c2, c4, c8).node("big", c8, pods("web", 2, "700m")),
			want:    []summary{{Method: MethodReplace, Nodes: []string{"big"}, Replacement: "c.2x", Savings: 0.3}},
		},
		{
			name: "several lightly used nodes fold onto the rest at once",
			cluster: newCluster(c1, c2, c4, c8).node("a", c4, pods("a", 1, "1")).node("b", c4, pods("b", 1, "1")).
				node("c", c4, pods("c", 1, "1")),
			want:    []summary{{Method: MethodMultiNode, Nodes: []string{"a", "b"}, Savings: 0.4}},
			skipped: map[string]ReasonCode{"c": ReasonNotCheaper},
		},
		{
			name: "two nodes fold onto the third and one smaller node",
			cluster: newCluster(c1, c2, c4, c8).node("a", c4, pods("a", 1, "1500m")).node("b", c4, pods("b", 1, "1500m")).
				node("c", c4, pods("c", 1, "1500m")),
			want:    []summary{{Method: MethodMultiNode, Nodes: []string{"a", "b"}, Replacement: "c.2x", Savings: 0.3}},
			skipped: map[string]ReasonCode{"c": ReasonNotCheaper},
		},
		{
			name: "nodes are not folded onto one as dear as the dearest of them",
			cluster: newCluster(c1, c2, c4, c8).node("a", c4, pods("a", 1, "3500m")).node("b", c4, pods("b", 1, "3500m")).
				node("c", c4, pods("c", 1, "500m")),
			// a and b onto c plus a c.4x would save $0.2/h, as deleting a alone does.
			want:    []summary{{Method: MethodDelete, Nodes: []string{"a"}, Savings: 0.2}},
			skipped: map[string]ReasonCode{"b": ReasonNotCheaper, "c": ReasonNotCheaper},
		},
		{
			name:    "a spot node is not replaced by default",
			cluster: newCluster(instanceType(1, "spot"), instanceType(8, "spot")).node("spot", instanceType(8, "spot"), pods("web", 1, "500m"), spot),
			skipped: map[string]ReasonCode{"spot": ReasonSpotToSpot},
		},
		{
			name:    "with spot-to-spot on, a spot node with many cheaper spot types is replaced",
			cluster: manySpotTypes().node("spot", instanceType(32, "spot"), pods("web", 1, "500m"), spot),
			opts:    Options{SpotToSpot: true},
			want:    []summary{{Method: MethodReplace, Nodes: []string{"spot"}, Replacement: "c.1x", Savings: 0.62}},
		},
		{
			name:    "with spot-to-spot on, a spot node with few cheaper spot types is kept",
			cluster: newCluster(instanceType(1, "spot"), instanceType(32, "spot")).node("spot", instanceType(32, "spot"), pods("web", 1, "500m"), spot),
			opts:    Options{SpotToSpot: true},
			skipped: map[string]ReasonCode{"spot": ReasonSpotToSpot},
		},
		{
			name:    "a right-sized node is left alone",
			cluster: newCluster(c1, c2, c4).node("right", c2, pods("web", 2, "900m")),
			skipped: map[string]ReasonCode{"right": ReasonNotCheaper},
		},
		{
			name: "a Provisioner's own threshold applies to its nodes",
			cluster: func() *cluster {
				c := newCluster(c1, c2, c4, c8).node("big", c8, pods("web", 2, "700m"))
				c.in.Provisioners[0].MinSavingsPercent = 80
				return c
			}(),
			skipped: map[string]ReasonCode{"big": ReasonSavingsBelowThreshold},
		},
		{
			name:    "a saving below the threshold is not worth the disruption",
			cluster: newCluster(c1, c2, c4, c8).node("big", c8, pods("web", 10, "300m")),
			opts:    Options{MinSavingsPerPod: 0.05},
			skipped: map[string]ReasonCode{"big": ReasonSavingsBelowThreshold},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cluster.in.Options = tc.opts
			got := Evaluate(tc.cluster.in, epoch)
			if diff := cmp.Diff(tc.want, summarize(got)); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			skipped := map[string]ReasonCode{}
			for _, s := range got.Skipped {
				skipped[s.Node] = s.Code
			}
			if tc.skipped == nil {
				tc.skipped = map[string]ReasonCode{}
			}
			if diff := cmp.Diff(tc.skipped, skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s\n%+v", diff, got.Skipped)
			}
		})
	}
}

// manySpotTypes offers spot types of 1 to 32 cpu.
func manySpotTypes() *cluster {
	var types []*scheduling.InstanceType
	for cpu := int64(1); cpu <= 32; cpu++ {
		types = append(types, instanceType(cpu, "spot"))
	}
	return newCluster(types...)
}

func spot(n *NodeInfo) { n.CapacityType = "spot" }

// Every rule that keeps a node out of consolidation gives its own reason, checked on a node that
// would otherwise be deleted at once (it is empty or its pod fits on the other node).
func TestEvaluate_SaysWhyANodeIsLeftAlone(t *testing.T) {
	zero := int32(0)
	for _, tc := range []struct {
		name    string
		info    func(*NodeInfo)
		pod     func(*v1.Pod)
		budget  *Budget
		opts    Options
		enabled bool
		blocked string
		want    ReasonCode
	}{
		{name: "consolidation disabled", want: ReasonConsolidationDisabled},
		{name: "being deleted", enabled: true, info: func(n *NodeInfo) { n.Deleting = true }, want: ReasonDeleting},
		{name: "not initialized", enabled: true, info: func(n *NodeInfo) { n.Initialized = false }, want: ReasonNotInitialized},
		{name: "do-not-consolidate", enabled: true, info: func(n *NodeInfo) { n.DoNotConsolidate = true }, want: ReasonDoNotConsolidate},
		{name: "nominated", enabled: true, info: func(n *NodeInfo) { n.Nominated = true }, want: ReasonNominated},
		{name: "disruption blocked for its provisioner", enabled: true, blocked: "budget spent", want: ReasonDisruptionBlocked},
		{name: "too young", enabled: true, opts: Options{MinAge: 10 * time.Minute}, info: func(n *NodeInfo) { n.Created = epoch.Add(-time.Minute) }, want: ReasonTooYoung},
		{name: "do-not-evict pod", enabled: true, pod: func(p *v1.Pod) { p.Annotations = map[string]string{podutil.DoNotEvictAnnotation: "true"} }, want: ReasonDoNotEvictPod},
		{name: "safe-to-evict false pod", enabled: true, pod: func(p *v1.Pod) { p.Annotations = map[string]string{podutil.SafeToEvictAnnotation: "false"} }, want: ReasonDoNotEvictPod},
		{name: "PDB allows no disruption", enabled: true, budget: &Budget{Namespace: "default", Selector: labels.SelectorFromSet(labels.Set{"app": "web-0"}), Allowed: zero}, want: ReasonPDBViolation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			web := pods("web", 1, "500m")
			if tc.pod != nil {
				tc.pod(web[0])
			}
			c := newCluster(c1, c2, c4).node("other", c4, pods("big", 1, "2")).node("x", c2, web, func(n *NodeInfo) {
				if tc.info != nil {
					tc.info(n)
				}
			})
			c.in.Provisioners[0].Enabled = tc.enabled
			c.in.Provisioners[0].Blocked = tc.blocked
			c.in.Options = tc.opts
			if tc.budget != nil {
				c.in.Budgets = []Budget{*tc.budget}
			}
			got := Evaluate(c.in, epoch)
			for _, cmd := range got.Commands {
				for _, n := range cmd.Nodes {
					if n == "x" {
						t.Fatalf("node x consolidated by %+v", cmd)
					}
				}
			}
			for _, s := range got.Skipped {
				if s.Node == "x" {
					if s.Code != tc.want {
						t.Errorf("reason %s (%s), want %s", s.Code, s.Message, tc.want)
					}
					return
				}
			}
			t.Errorf("no reason for node x among %+v", got.Skipped)
		})
	}
}

// Two nodes whose pods share a PodDisruptionBudget that allows one disruption are consolidated
// together, as in v0.31: the budget is not spent now, and the drain evicts the pods in turn.
func TestEvaluate_PodsUnderOneBudgetOfOneMoveTogether(t *testing.T) {
	a, b := pods("a", 1, "300m"), pods("b", 1, "300m")
	a[0].Labels["tier"], b[0].Labels["tier"] = "web", "web"
	c := newCluster(c1, c2, c4).node("big", c4, pods("big", 1, "1")).node("a", c2, a).node("b", c2, b)
	c.in.Budgets = []Budget{{Namespace: "default", Selector: labels.SelectorFromSet(labels.Set{"tier": "web"}), Allowed: 1}}
	got := Evaluate(c.in, epoch)
	removed := map[string]bool{}
	for _, cmd := range got.Commands {
		for _, n := range cmd.Nodes {
			removed[n] = true
		}
	}
	if !removed["a"] || !removed["b"] {
		t.Errorf("commands %+v, skipped %+v: want both a and b removed", summarize(got), got.Skipped)
	}
}

// The same cluster, its nodes and pods in any order, gives the same commands.
func TestEvaluate_IsDeterministic(t *testing.T) {
	build := func() *cluster {
		c := newCluster(c1, c2, c4, c8)
		for i, size := range []*scheduling.InstanceType{c4, c2, c8, c4, c2, c1, c8, c4} {
			c.node(string(rune('a'+i)), size, pods(string(rune('a'+i)), i%3, "700m"))
		}
		return c
	}
	want := Evaluate(build().in, epoch)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		c := build()
		rng.Shuffle(len(c.in.Cluster.Nodes), func(i, j int) {
			c.in.Cluster.Nodes[i], c.in.Cluster.Nodes[j] = c.in.Cluster.Nodes[j], c.in.Cluster.Nodes[i]
		})
		rng.Shuffle(len(c.in.Nodes), func(i, j int) { c.in.Nodes[i], c.in.Nodes[j] = c.in.Nodes[j], c.in.Nodes[i] })
		if diff := cmp.Diff(summarize(want), summarize(Evaluate(c.in, epoch))); diff != "" {
			t.Fatalf("shuffled input changed the commands (-first +now):\n%s", diff)
		}
	}
}

// A controller's clock a second behind the API server's creation timestamps must not make every
// new node "too young" when no minimum age is set.
func TestEvaluate_NoMinimumAgeMeansAnyAge(t *testing.T) {
	c := newCluster(c1, c2, c4).node("other", c4, pods("big", 1, "2")).node("x", c2, pods("web", 1, "500m"), func(n *NodeInfo) {
		n.Created = epoch.Add(time.Second)
	})
	got := Evaluate(c.in, epoch)
	for _, cmd := range got.Commands {
		if slices.Contains(cmd.Nodes, "x") {
			return
		}
	}
	t.Errorf("commands %+v, skipped %+v; want node x consolidated", got.Commands, got.Skipped)
}
