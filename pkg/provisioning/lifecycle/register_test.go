package lifecycle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
	"github.com/kerf-autoscaler/kerf/pkg/state"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

// Through a manager, the watches do the work the other tests do by hand: a new Machine is
// launched, and the Node registering for it (a Node event, not a Machine one) makes it Ready.
func TestRegister_NewMachineBecomesReadyWhenItsNodeRegisters(t *testing.T) {
	h := newHarness(t)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := state.AddIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		t.Fatal(err)
	}
	controller := lifecycle.NewController(mgr.GetClient(), h.cloud, h.unavailable, mgr.GetEventRecorder(lifecycle.Name), h.clock, lifecycle.DefaultRegistrationTTL, h.metrics)
	if err := controller.Register(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	// Its cleanup runs before the harness removes the objects, so the controller does not race it.
	kubeenv.StartManager(ctx, t, cancel, mgr)

	h.createMachine("managed", withInstanceType("m5.large"))
	kubeenv.Eventually(t, 10*time.Second, "machine launched", func() error {
		return expectStatus(h.machine("managed"), v1alpha5.MachineLaunched, metav1.ConditionTrue)
	})
	h.registerNode(h.machine("managed"), nodeReady(true))
	kubeenv.Eventually(t, 10*time.Second, "machine ready", func() error {
		return expectStatus(h.machine("managed"), v1alpha5.MachineReady, metav1.ConditionTrue)
	})
	if nodeName := h.machine("managed").Status.NodeName; nodeName != "node-managed" {
		t.Errorf("machine nodeName %q, want node-managed", nodeName)
	}
}

func expectStatus(m *v1alpha5.Machine, conditionType string, status metav1.ConditionStatus) error {
	if m == nil {
		return fmt.Errorf("machine gone")
	}
	if c := condition(m, conditionType); c.Status != status {
		return fmt.Errorf("condition %s is %q (%s: %s), want %s", conditionType, c.Status, c.Reason, c.Message, status)
	}
	return nil
}
