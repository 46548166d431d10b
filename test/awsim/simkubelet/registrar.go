package simkubelet

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"

	"github.com/kerf-autoscaler/kerf/test/awsim"
)

// Registrar keeps the API server's Nodes in step with awsim's instances: a running instance
// gets its Node (as its kubelet would register it), and a terminated or vanished instance loses
// it (as the cloud controller manager deletes it; finalizers still hold it).
type Registrar struct {
	client kubernetes.Interface
	world  *awsim.World
	clock  clock.WithTicker
}

// NewRegistrar builds a Registrar for a world and a cluster.
func NewRegistrar(client kubernetes.Interface, world *awsim.World, clk clock.WithTicker) *Registrar {
	return &Registrar{client: client, world: world, clock: clk}
}

// Run syncs every interval on the clock until ctx ends. A failed pass goes to onError and is
// retried on the next tick, as a kubelet retries registration.
func (r *Registrar) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	ticker := r.clock.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := r.Sync(ctx); err != nil && ctx.Err() == nil && onError != nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

// Sync makes one pass: register Nodes for running instances, delete Nodes of instances that
// are terminated or gone. It returns every error it met, after trying every instance.
func (r *Registrar) Sync(ctx context.Context) error {
	nodes, err := r.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes, %w", err)
	}
	byProvider := map[string]*corev1.Node{}
	for i := range nodes.Items {
		byProvider[nodes.Items[i].Spec.ProviderID] = &nodes.Items[i]
	}
	exists := map[string]bool{}
	var errs []error
	for _, inst := range r.world.Instances() {
		pid := fmt.Sprintf("aws:///%s/%s", inst.Zone, inst.ID)
		// As the cloud controller manager sees it, an instance still shutting down exists; only
		// a terminated (or vanished) one takes its Node with it.
		exists[pid] = inst.State == "running" || inst.State == "shutting-down"
		if inst.State != "running" {
			continue
		}
		if n := byProvider[pid]; n != nil {
			// Lifting the taint at registration can lose a race with another writer (Kerf
			// labelling the Node): try again on every pass until it is gone.
			if hasNotReadyTaint(n) && isReady(n) {
				if err := r.clearNotReadyTaint(ctx, n.Name); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		}
		if err := r.register(ctx, inst); err != nil {
			errs = append(errs, fmt.Errorf("registering node for %s, %w", inst.ID, err))
		}
	}
	for pid, n := range byProvider {
		if !strings.HasPrefix(pid, "aws:///") || exists[pid] || n.DeletionTimestamp != nil {
			continue
		}
		if err := r.client.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting node %s, %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// register creates the Node and then its status (the API server drops status on create).
// User data a kubelet could not start with, or an instance without an instance profile, registers
// no Node, as on EC2.
func (r *Registrar) register(ctx context.Context, inst awsim.InstanceState) error {
	if inst.InstanceProfile == "" {
		// The kubelet authenticates to EKS with the instance's role; without one it never joins.
		return fmt.Errorf("instance %s has no IAM instance profile: its kubelet has no credentials to join the cluster", inst.ID)
	}
	raw, err := base64.StdEncoding.DecodeString(inst.UserData)
	if err != nil {
		return fmt.Errorf("decoding user data, %w", err)
	}
	settings, err := ParseUserData(raw)
	if err != nil {
		return fmt.Errorf("parsing user data, %w", err)
	}
	node := Node(Instance{ID: inst.ID, Zone: inst.Zone, Region: inst.Region, InstanceType: inst.InstanceType,
		PrivateDNS: inst.PrivateDNS, PrivateIP: inst.PrivateIP, Arch: inst.Arch, VCPU: inst.VCPU, MemoryMiB: inst.MemoryMiB,
		ENIs: inst.ENIs, IPv4PerENI: inst.IPv4PerENI}, settings, r.clock.Now())
	status := node.Status
	created, err := r.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating node, %w", err)
	}
	created.Status = status
	ready, err := r.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("updating node status, %w", err)
	}
	if !hasNotReadyTaint(ready) {
		return nil
	}
	return r.clearNotReadyTaint(ctx, ready.Name)
}

// clearNotReadyTaint removes the node.kubernetes.io/not-ready taint the API server's
// TaintNodesByCondition admission adds at creation. The node lifecycle controller lifts it once
// the node reports Ready; the local stack runs no controller manager, so awsim does it.
func (r *Registrar) clearNotReadyTaint(ctx context.Context, name string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := r.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		kept := make([]corev1.Taint, 0, len(node.Spec.Taints))
		for _, t := range node.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady {
				kept = append(kept, t)
			}
		}
		if len(kept) == len(node.Spec.Taints) {
			return nil
		}
		node.Spec.Taints = kept
		_, err = r.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("removing not-ready taint from node %s, %w", name, err)
	}
	return nil
}

func hasNotReadyTaint(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady {
			return true
		}
	}
	return false
}

func isReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
