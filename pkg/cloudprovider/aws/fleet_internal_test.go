package aws

import (
	"strings"
	"testing"
)

func TestRenewedToken_FitsEC2AndDependsOnlyOnTheTokenAndTheDeadInstance(t *testing.T) {
	const dead, other = "i-0123456789abcdef0", "i-0fedcba9876543210"
	for _, token := range []string{
		"0b5d6e4c-8f7a-4b7e-9c35-2d1e3f4a5b6c",           // a Machine UID
		"default-" + strings.Repeat("x", 200) + "-abcde", // a long Machine name, the fallback token
	} {
		got := renewedToken(token, dead)
		if len(got) > maxClientTokenLength {
			t.Errorf("renewedToken(%.20s..., %s) = %q, %d characters; EC2 takes at most %d", token, dead, got, len(got), maxClientTokenLength)
		}
		if again := renewedToken(token, dead); again != got {
			t.Errorf("renewedToken is %q then %q, want the same token for a repeated launch", got, again)
		}
		if renewedToken(token, other) == got || got == token {
			t.Errorf("renewedToken(%.20s..., %s) = %q, want a token of its own", token, dead, got)
		}
	}
}

// The node template's spec.context reaches CreateFleet (v0.31 sent it, for capacity reservations
// shared through AWS RAM); without one, the field is left out, not sent empty.
func TestFleetInput_SendsTheTemplatesContext(t *testing.T) {
	req := LaunchRequest{ClientToken: "t", CapacityType: "on-demand", Tags: map[string]string{"team": "ml"},
		Overrides: []FleetOverride{{LaunchTemplate: LaunchTemplate{ID: "lt-1"}, InstanceType: "m5.large", SubnetID: "subnet-1"}}}
	if in := fleetInput(req); in.Context != nil {
		t.Errorf("context %q without one in the node template", *in.Context)
	}
	req.Context = "ctx-reserved-1"
	if in := fleetInput(req); in.Context == nil || *in.Context != "ctx-reserved-1" {
		t.Errorf("context %v, want the node template's ctx-reserved-1", in.Context)
	}
}
