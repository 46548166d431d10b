package lifecycle

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

// Field indexes the controller looks objects up by. Register adds them to the manager's cache; a
// test that drives Reconcile with its own cache adds them with AddIndexes.
const (
	// NodeProviderIDIndex indexes Nodes by spec.providerID.
	NodeProviderIDIndex = "spec.providerID"
	// MachineProviderIDIndex indexes Machines by status.providerID.
	MachineProviderIDIndex = "status.providerID"
)

// AddIndexes registers the field indexes the controller needs with indexer.
func AddIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &corev1.Node{}, NodeProviderIDIndex, func(o client.Object) []string {
		node, ok := o.(*corev1.Node)
		if !ok || node.Spec.ProviderID == "" {
			return nil
		}
		return []string{node.Spec.ProviderID}
	}); err != nil {
		return fmt.Errorf("indexing nodes by provider id, %w", err)
	}
	if err := indexer.IndexField(ctx, &v1alpha5.Machine{}, MachineProviderIDIndex, func(o client.Object) []string {
		machine, ok := o.(*v1alpha5.Machine)
		if !ok || machine.Status.ProviderID == "" {
			return nil
		}
		return []string{machine.Status.ProviderID}
	}); err != nil {
		return fmt.Errorf("indexing machines by provider id, %w", err)
	}
	return nil
}

// nodeForProviderID returns the Node whose spec.providerID is providerID, or nil when none has
// registered yet.
func nodeForProviderID(ctx context.Context, reader client.Reader, providerID string) (*corev1.Node, error) {
	nodes := &corev1.NodeList{}
	if err := reader.List(ctx, nodes, client.MatchingFields{NodeProviderIDIndex: providerID}); err != nil {
		return nil, fmt.Errorf("listing nodes for provider id %s, %w", providerID, err)
	}
	switch len(nodes.Items) {
	case 0:
		return nil, nil
	case 1:
		return &nodes.Items[0], nil
	default:
		return nil, fmt.Errorf("%d nodes claim provider id %s", len(nodes.Items), providerID)
	}
}
