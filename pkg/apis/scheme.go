package apis

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

// NewScheme returns a scheme with the Kubernetes built-in types and Kerf's APIs. Every caller gets
// its own; nothing registers into a global scheme.
func NewScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha5.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("building scheme, %w", err)
		}
	}
	return scheme, nil
}
