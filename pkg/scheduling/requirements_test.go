package scheduling

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
)

func TestNewRequirement_RejectsMalformedInputWithoutPanicking(t *testing.T) {
	for _, tc := range []struct {
		name   string
		op     v1.NodeSelectorOperator
		values []string
	}{
		{"Gt with a word", v1.NodeSelectorOpGt, []string{"ten"}},
		{"Lt with two values", v1.NodeSelectorOpLt, []string{"1", "2"}},
		{"unknown operator", "Near", []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewRequirement("k", tc.op, tc.values...); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

func TestRequirement_IntersectFollowsOperatorSemantics(t *testing.T) {
	for _, tc := range []struct {
		name        string
		a, b        []string // op, values...
		has         map[string]bool
		absentOK    bool
		satisfiable bool
		str         string
	}{
		{"In and In keep common values", []string{"In", "a", "b"}, []string{"In", "b", "c"}, map[string]bool{"a": false, "b": true, "c": false}, false, true, "In [b]"},
		{"In and NotIn subtract", []string{"In", "a", "b"}, []string{"NotIn", "a"}, map[string]bool{"a": false, "b": true}, false, true, "In [b]"},
		{"disjoint In is unsatisfiable", []string{"In", "a"}, []string{"In", "b"}, nil, false, false, "no value"},
		{"NotIn and NotIn exclude both, allow absence", []string{"NotIn", "a"}, []string{"NotIn", "b"}, map[string]bool{"a": false, "b": false, "c": true}, true, true, "NotIn [a b]"},
		{"Exists and NotIn require the label", []string{"Exists"}, []string{"NotIn", "a"}, map[string]bool{"a": false, "z": true}, false, true, "Exists, NotIn [a]"},
		{"DoesNotExist and NotIn allow only absence", []string{"DoesNotExist"}, []string{"NotIn", "a"}, map[string]bool{"a": false, "z": false}, true, true, "DoesNotExist"},
		{"DoesNotExist and In conflict", []string{"DoesNotExist"}, []string{"In", "a"}, nil, false, false, "no value"},
		{"Gt filters In values", []string{"In", "2", "4", "8", "x"}, []string{"Gt", "3"}, map[string]bool{"2": false, "4": true, "8": true, "x": false}, false, true, "In [4 8]"},
		{"Gt and Lt bound integers", []string{"Gt", "3"}, []string{"Lt", "6"}, map[string]bool{"3": false, "4": true, "5": true, "6": false, "x": false}, false, true, "Gt 3, Lt 6"},
		{"Gt above Lt is unsatisfiable", []string{"Gt", "5"}, []string{"Lt", "6"}, nil, false, false, "Gt 5, Lt 6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := mustRequirement(t, "k", v1.NodeSelectorOperator(tc.a[0]), tc.a[1:]...)
			b := mustRequirement(t, "k", v1.NodeSelectorOperator(tc.b[0]), tc.b[1:]...)
			got := a.Intersect(b)
			for v, want := range tc.has {
				if got.Has(v) != want {
					t.Errorf("Has(%q) = %v, want %v", v, !want, want)
				}
			}
			if got.AllowsAbsent() != tc.absentOK {
				t.Errorf("AllowsAbsent() = %v, want %v", got.AllowsAbsent(), tc.absentOK)
			}
			if got.Satisfiable() != tc.satisfiable {
				t.Errorf("Satisfiable() = %v, want %v", got.Satisfiable(), tc.satisfiable)
			}
			if got.String() != tc.str {
				t.Errorf("String() = %q, want %q", got.String(), tc.str)
			}
			if back := b.Intersect(a); !back.Equal(got) {
				t.Errorf("intersection is not commutative: %v vs %v", back, got)
			}
		})
	}
}

func TestRequirements_AdmitsNamesTheConflictingKey(t *testing.T) {
	provisioner := NewRequirements(In(LabelZone, "zone-a", "zone-b"), In(LabelCapacityType, "spot", "on-demand"))
	for _, tc := range []struct {
		name   string
		wanted Requirements
		want   *Incompatibility
	}{
		{"zone inside the allowed set", NewRequirements(In(LabelZone, "zone-b")), nil},
		{"zone outside the allowed set", NewRequirements(In(LabelZone, "zone-d")),
			&Incompatibility{Key: LabelZone, Wanted: "In [zone-d]", Allowed: "In [zone-a zone-b]"}},
		{"custom label the provisioner does not define", NewRequirements(In("team", "blue")),
			&Incompatibility{Key: "team", Wanted: "In [blue]", Allowed: "DoesNotExist"}},
		{"NotIn on an undefined label is fine", NewRequirements(mustRequirement(t, "team", v1.NodeSelectorOpNotIn, "red")), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, provisioner.Admits(tc.wanted)); diff != "" {
				t.Errorf("Admits() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequirements_MatchesLabelsOfExistingNodes(t *testing.T) {
	labels := map[string]string{LabelZone: "zone-a", "cpu": "8"}
	for _, tc := range []struct {
		name string
		reqs Requirements
		ok   bool
	}{
		{"matching In", NewRequirements(In(LabelZone, "zone-a")), true},
		{"Gt on a numeric label", NewRequirements(mustRequirement(t, "cpu", v1.NodeSelectorOpGt, "4")), true},
		{"Lt on a numeric label", NewRequirements(mustRequirement(t, "cpu", v1.NodeSelectorOpLt, "4")), false},
		{"Exists on a missing label", NewRequirements(mustRequirement(t, "gpu", v1.NodeSelectorOpExists)), false},
		{"DoesNotExist on a missing label", NewRequirements(DoesNotExist("gpu")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.reqs.MatchesLabels(labels) == nil; got != tc.ok {
				t.Errorf("MatchesLabels() ok = %v, want %v", got, tc.ok)
			}
		})
	}
}

func TestRequirements_WithDefaultsKeepsUserChoices(t *testing.T) {
	user := NewRequirements(In(LabelCapacityType, "spot"))
	defaults := NewRequirements(In(LabelCapacityType, "on-demand"), In(LabelArch, "amd64"))
	got := user.WithDefaults(defaults)
	want := NewRequirements(In(LabelCapacityType, "spot"), In(LabelArch, "amd64"))
	if !got.Equal(want) {
		t.Errorf("WithDefaults() = %v, want %v", got, want)
	}
}

func TestRequirements_RoundTripThroughNodeSelector(t *testing.T) {
	in := []v1.NodeSelectorRequirement{
		nsr("a", v1.NodeSelectorOpIn, "x", "y"),
		nsr("b", v1.NodeSelectorOpNotIn, "z"),
		nsr("c", v1.NodeSelectorOpExists),
		nsr("d", v1.NodeSelectorOpDoesNotExist),
		nsr("e", v1.NodeSelectorOpGt, "3"),
	}
	reqs, err := RequirementsFromNodeSelector(in)
	if err != nil {
		t.Fatal(err)
	}
	back, err := RequirementsFromNodeSelector(reqs.NodeSelectorRequirements())
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(reqs) {
		t.Errorf("round trip changed requirements: %v -> %v", reqs, back)
	}
}

// A planned node's requirements summarise its candidate instance types. Written onto a Machine,
// they must still admit every candidate, including those that lack a label others carry: the
// cheapest type often has no local NVMe.
func TestRequirements_NodeSelectorAdmitsCandidatesThatLackALabel(t *testing.T) {
	withNVMe := NewRequirements(In(LabelInstanceType, "c6id.32xlarge"), In("karpenter.k8s.aws/instance-local-nvme", "7600"))
	// Instance types say a label is absent, as the AWS provider writes them.
	withoutNVMe := NewRequirements(In(LabelInstanceType, "c6a.32xlarge"), DoesNotExist("karpenter.k8s.aws/instance-local-nvme"))
	summary := unionRequirements([]Requirements{withNVMe, withoutNVMe})

	written, err := RequirementsFromNodeSelector(summary.NodeSelectorRequirements())
	if err != nil {
		t.Fatal(err)
	}
	for _, candidate := range []Requirements{withNVMe, withoutNVMe} {
		if err := written.Intersects(candidate); err != nil {
			t.Errorf("the Machine's requirements %v refuse candidate %v: %v", written, candidate, err)
		}
	}
}
