package state

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

// Field indexes Kerf's controllers look objects up by in the shared cache. The operator adds them
// once with AddIndexes, before any controller registers; a test that builds its own cache adds
// them the same way.
const (
	// PodNodeNameIndex indexes Pods by spec.nodeName. The name is the API server's own field
	// selector, so a lookup by it works through the cache and straight against the server alike.
	PodNodeNameIndex = "spec.nodeName"
	// NodeProviderIDIndex indexes Nodes by spec.providerID.
	NodeProviderIDIndex = "spec.providerID"
	// MachineProviderIDIndex indexes Machines by status.providerID.
	MachineProviderIDIndex = "status.providerID"
	// NodeInstanceIDIndex and MachineInstanceIDIndex index by the cloud's instance ID, the last
	// segment of the provider ID, which is all an interruption message names.
	NodeInstanceIDIndex    = "kerf.instanceID"
	MachineInstanceIDIndex = "kerf.instanceID"
)

// InstanceID is the last segment of a provider ID (aws:///us-east-1a/i-0abc → i-0abc).
func InstanceID(providerID string) string {
	if providerID == "" {
		return ""
	}
	return providerID[strings.LastIndex(providerID, "/")+1:]
}

// AddIndexes registers every field index with indexer.
func AddIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &corev1.Pod{}, PodNodeNameIndex, func(o client.Object) []string {
		pod, ok := o.(*corev1.Pod)
		if !ok || pod.Spec.NodeName == "" {
			return nil
		}
		return []string{pod.Spec.NodeName}
	}); err != nil {
		return fmt.Errorf("indexing pods by node name, %w", err)
	}
	if err := indexer.IndexField(ctx, &corev1.Node{}, NodeProviderIDIndex, func(o client.Object) []string {
		node, ok := o.(*corev1.Node)
		if !ok || node.Spec.ProviderID == "" {
			return nil
		}
		return []string{node.Spec.ProviderID}
	}); err != nil {
		return fmt.Errorf("indexing nodes by provider id, %w", err)
	}
	if err := indexer.IndexField(ctx, &corev1.Node{}, NodeInstanceIDIndex, func(o client.Object) []string {
		node, ok := o.(*corev1.Node)
		if !ok || InstanceID(node.Spec.ProviderID) == "" {
			return nil
		}
		return []string{InstanceID(node.Spec.ProviderID)}
	}); err != nil {
		return fmt.Errorf("indexing nodes by instance id, %w", err)
	}
	if err := indexer.IndexField(ctx, &v1alpha5.Machine{}, MachineInstanceIDIndex, func(o client.Object) []string {
		machine, ok := o.(*v1alpha5.Machine)
		if !ok || InstanceID(machine.Status.ProviderID) == "" {
			return nil
		}
		return []string{InstanceID(machine.Status.ProviderID)}
	}); err != nil {
		return fmt.Errorf("indexing machines by instance id, %w", err)
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

// NodeForProviderID returns the Node whose spec.providerID is providerID, or nil when none has
// registered.
func NodeForProviderID(ctx context.Context, reader client.Reader, providerID string) (*corev1.Node, error) {
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

// MachineForProviderID returns the Machine whose status.providerID is providerID, or nil when
// none has it.
func MachineForProviderID(ctx context.Context, reader client.Reader, providerID string) (*v1alpha5.Machine, error) {
	machines := &v1alpha5.MachineList{}
	if err := reader.List(ctx, machines, client.MatchingFields{MachineProviderIDIndex: providerID}); err != nil {
		return nil, fmt.Errorf("listing machines for provider id %s, %w", providerID, err)
	}
	switch len(machines.Items) {
	case 0:
		return nil, nil
	case 1:
		return &machines.Items[0], nil
	default:
		return nil, fmt.Errorf("%d machines claim provider id %s", len(machines.Items), providerID)
	}
}
