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
