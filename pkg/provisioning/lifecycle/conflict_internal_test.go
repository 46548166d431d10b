package lifecycle

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A lost race is retried quietly; a real failure alongside it still reaches the log and backoff.
func TestOnlyConflicts(t *testing.T) {
	conflict := fmt.Errorf("patching node n, %w", apierrors.NewConflict(schema.GroupResource{Resource: "nodes"}, "n", errors.New("modified")))
	for _, tc := range []struct {
		name string
		errs []error
		want bool
	}{
		{"one conflict", []error{conflict, nil}, true},
		{"conflicts only", []error{conflict, conflict}, true},
		{"a conflict and a launch failure", []error{errors.New("creating fleet, throttled"), conflict}, false},
		{"a launch failure", []error{errors.New("creating fleet, throttled")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := onlyConflicts(tc.errs); got != tc.want {
				t.Errorf("onlyConflicts(%v) = %t, want %t", tc.errs, got, tc.want)
			}
		})
	}
}
