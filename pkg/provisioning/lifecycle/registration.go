package lifecycle

import (
	"context"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/state"
)

// register links the Node that registered with the Machine's provider ID: the first time, it gives
// the Node the termination finalizer and the Machine's labels, annotations and taints the Node
// lacks. The
// registered label marks that this was done, so a startup taint an agent has since removed is
// never put back.
func (c *Controller) register(ctx context.Context, s *scope) (phaseResult, error) {
	machine := s.machine
	if machine.Status.ProviderID == "" {
		return phaseResult{}, nil
	}
	node, err := state.NodeForProviderID(ctx, c.kubeClient, machine.Status.ProviderID)
	if err != nil {
		return phaseResult{}, fmt.Errorf("registering machine %s, %w", machine.Name, err)
	}
	if node == nil && isTrue(machine, v1alpha5.MachineRegistered) {
		// The Node was deleted after it registered: termination and garbage collection own what
		// happens next, and liveness must not count this as a Node that never came.
		return phaseResult{}, nil
	}
	if node == nil {
		setCondition(machine, c.clock.Now(), v1alpha5.MachineRegistered, metav1.ConditionUnknown, ReasonNodeNotFound,
			"no node with provider id "+machine.Status.ProviderID+" has registered")
		return phaseResult{}, nil
	}
	if node.Labels[v1alpha5.LabelNodeRegistered] != "true" {
		if err := c.syncNode(ctx, machine, node); err != nil {
			return phaseResult{}, fmt.Errorf("registering machine %s, %w", machine.Name, err)
		}
		c.metrics.registered.WithLabelValues(provisionerOf(machine)).Inc()
		c.metrics.nodesCreated.WithLabelValues(provisionerOf(machine)).Inc()
		log.FromContext(ctx).Info("registered machine", "Node", klog.KObj(node), "providerID", machine.Status.ProviderID)
	}
	s.node = node
	machine.Status.NodeName = node.Name
	setCondition(machine, c.clock.Now(), v1alpha5.MachineRegistered, metav1.ConditionTrue, ReasonRegistered, "")
	return phaseResult{}, nil
}

// syncNode adds the termination finalizer, the Machine's labels, annotations and taints the Node
// lacks, and the registered label. It never overwrites what the kubelet or a user set. The
// annotations are the Provisioner's spec.annotations and the hashes drift compares.
func (c *Controller) syncNode(ctx context.Context, machine *v1alpha5.Machine, node *corev1.Node) error {
	stored := node.DeepCopy()
	controllerutil.AddFinalizer(node, v1alpha5.TerminationFinalizer)
	node.Labels = withMissing(node.Labels, machine.Labels)
	// kubectl's record of what was applied to the Machine says nothing about the Node, and
	// would make kubectl apply on the Node compute a wrong patch.
	annotations := maps.Clone(machine.Annotations)
	delete(annotations, corev1.LastAppliedConfigAnnotation)
	node.Annotations = withMissing(node.Annotations, annotations)
	node.Labels[v1alpha5.LabelNodeRegistered] = "true"
	taints := append(append([]corev1.Taint{}, machine.Spec.Taints...), machine.Spec.StartupTaints...)
	if machine.Labels[v1alpha5.BatchLabelKey] != "" && node.Labels[v1alpha5.LabelNodeInitialized] != "true" && c.batchOpenTimeout > 0 {
		taints = append(taints, BatchGateTaint)
	}
	for _, taint := range taints {
		if !hasTaint(node.Spec.Taints, taint) {
			node.Spec.Taints = append(node.Spec.Taints, taint)
		}
	}
	// Finalizers and taints are lists a merge patch replaces whole: the optimistic lock keeps a
	// concurrent writer's entries from being dropped.
	if err := c.kubeClient.Patch(ctx, node, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patching node %s, %w", node.Name, err)
	}
	return nil
}

// withMissing returns to with every key of from it lacks added.
func withMissing(to, from map[string]string) map[string]string {
	if to == nil {
		to = map[string]string{}
	}
	for k, v := range from {
		if _, ok := to[k]; !ok {
			to[k] = v
		}
	}
	return to
}

// initialize marks the Node initialized once it can take the pods planned for it: Ready, no startup
// or ephemeral (not-ready, unreachable, uninitialized) taint left, and every extended resource the instance has advertised by the device plugins.
func (c *Controller) initialize(ctx context.Context, s *scope) (phaseResult, error) {
	machine, node := s.machine, s.node
	if node == nil || isTrue(machine, v1alpha5.MachineInitialized) {
		return phaseResult{}, nil
	}
	if reason, message := notInitialized(machine, node); reason != "" {
		setCondition(machine, c.clock.Now(), v1alpha5.MachineInitialized, metav1.ConditionUnknown, reason, message)
		return phaseResult{}, nil
	}
	if node.Labels[v1alpha5.LabelNodeInitialized] != "true" {
		stored := node.DeepCopy()
		node.Labels[v1alpha5.LabelNodeInitialized] = "true"
		if err := c.kubeClient.Patch(ctx, node, client.MergeFrom(stored)); err != nil {
			return phaseResult{}, fmt.Errorf("initializing machine %s, patching node %s, %w", machine.Name, node.Name, err)
		}
		c.metrics.initialized.WithLabelValues(provisionerOf(machine)).Inc()
		log.FromContext(ctx).Info("initialized machine", "Node", klog.KObj(node))
	}
	setCondition(machine, c.clock.Now(), v1alpha5.MachineInitialized, metav1.ConditionTrue, ReasonInitialized, "")
	return phaseResult{}, nil
}

// notInitialized returns why the Node cannot take pods yet, or "" when it can.
func notInitialized(machine *v1alpha5.Machine, node *corev1.Node) (reason, message string) {
	ready := false
	for _, condition := range node.Status.Conditions {
		if condition.Type == corev1.NodeReady {
			ready = condition.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return ReasonNodeNotReady, "node " + node.Name + " is not Ready"
	}
	// A Ready node can still carry the not-ready taint for a moment: pods planned there would be
	// refused by the kube-scheduler, and once the node counts as initialized the next batch would
	// plan a second node for them.
	for _, taint := range node.Spec.Taints {
		if state.IsEphemeralTaint(taint) {
			return ReasonEphemeralTaintsExist, "taint " + taint.ToString() + " remains on node " + node.Name
		}
	}
	for _, taint := range machine.Spec.StartupTaints {
		if hasTaint(node.Spec.Taints, taint) {
			return ReasonStartupTaintsExist, "startup taint " + taint.ToString() + " remains on node " + node.Name
		}
	}
	for name := range machine.Status.Capacity {
		if !isExtendedResource(name) {
			continue
		}
		if quantity, ok := node.Status.Allocatable[name]; !ok || quantity.IsZero() {
			return ReasonResourceNotReady, "resource " + string(name) + " is not yet allocatable on node " + node.Name
		}
	}
	return "", ""
}

// hasTaint reports whether taints has one with taint's key and effect.
func hasTaint(taints []corev1.Taint, taint corev1.Taint) bool {
	for i := range taints {
		if taints[i].MatchTaint(&taint) {
			return true
		}
	}
	return false
}

// isExtendedResource reports whether name is a resource a device plugin advertises (nvidia.com/gpu,
// vpc.amazonaws.com/pod-eni), not one the kubelet always reports (cpu, memory, pods,
// ephemeral-storage, hugepages-*).
func isExtendedResource(name corev1.ResourceName) bool {
	s := string(name)
	domain, _, qualified := strings.Cut(s, "/")
	if !qualified || strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return domain != "kubernetes.io" && !strings.HasSuffix(domain, ".kubernetes.io")
}
