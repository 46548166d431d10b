package provisioning

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

func TestStatus_ResourcesSumNodesAndLaunchingMachinesOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "status", nil)
	owned := map[string]string{v1alpha5.ProvisionerNameLabelKey: f.provisioner.Name}
	cpu := func(v string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(v)}
	}

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "status-node", Labels: owned}, Spec: corev1.NodeSpec{ProviderID: "fake:///z/i-1"}}
	registered := &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "status-registered", Labels: owned}}
	launching := &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: "status-launching", Labels: owned},
		Spec: v1alpha5.MachineSpec{Resources: v1alpha5.ResourceRequirements{Requests: cpu("2")}}}
	for _, obj := range []client.Object{node, registered, launching} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, node) })
	node.Status.Capacity = cpu("4")
	registered.Status = v1alpha5.MachineStatus{ProviderID: "fake:///z/i-1", Capacity: cpu("4")}
	for _, obj := range []client.Object{node, registered} {
		if err := env.Client.Status().Update(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	controller := NewStatusController(env.Client)
	if _, err := controller.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(f.provisioner)}); err != nil {
		t.Fatal(err)
	}
	got := &v1alpha5.Provisioner{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(f.provisioner), got); err != nil {
		t.Fatal(err)
	}
	// The node's 4 and the launching Machine's requested 2; the registered Machine is its node.
	if used := got.Status.Resources[corev1.ResourceCPU]; used.Cmp(resource.MustParse("6")) != 0 {
		t.Errorf("status.resources.cpu = %s, want 6", used.String())
	}
}
