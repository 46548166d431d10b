package operator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

// A controller can die at any point of a launch. Started again, it launches a Machine created
// before the crash exactly once, and finds the instance of a Machine it launched but whose status
// it never wrote instead of launching a second one.
func TestControllers_RestartMidLaunchLeavesOneInstancePerMachine(t *testing.T) {
	ctx := context.Background()
	a := newAWSOperator(t, "kerf-crash")
	for _, obj := range []client.Object{
		&v1alpha1.AWSNodeTemplate{ObjectMeta: metav1.ObjectMeta{Name: "crash"}, Spec: v1alpha1.AWSNodeTemplateSpec{
			SubnetSelector: map[string]string{"karpenter.sh/discovery": a.cluster}, SecurityGroupSelector: map[string]string{"karpenter.sh/discovery": a.cluster},
		}},
		&v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "crash"}, Spec: v1alpha5.ProvisionerSpec{ProviderRef: &v1alpha5.MachineTemplateRef{Name: "crash"}}},
	} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "crash"}})
	})
	newMachine := func(name string) *v1alpha5.Machine {
		m := &v1alpha5.Machine{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: "crash"},
				Finalizers: []string{v1alpha5.TerminationFinalizer}},
			Spec: v1alpha5.MachineSpec{
				Requirements: []corev1.NodeSelectorRequirement{
					{Key: v1alpha5.LabelInstanceType, Operator: corev1.NodeSelectorOpIn, Values: []string{"c5.large", "m5.large"}},
					{Key: v1alpha5.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: []string{v1alpha5.CapacityTypeOnDemand}},
				},
				Resources:          v1alpha5.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
				MachineTemplateRef: &v1alpha5.MachineTemplateRef{Name: "crash"},
			},
		}
		if err := env.Client.Create(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// Crash after the Machine was created, before the launch.
	newMachine("crash-unlaunched")
	// Crash after the launch, before the status write: the previous process's provider launched it.
	unrecorded := newMachine("crash-unrecorded")
	launched, err := a.newCloudProvider(t, env.Client, nil).Create(ctx, unrecorded)
	if err != nil {
		t.Fatal(err)
	}

	a.start(t)
	providerIDs := map[string]string{}
	kubeenv.Eventually(t, 30*time.Second, "both Machines launched", func() error {
		for _, name := range []string{"crash-unlaunched", "crash-unrecorded"} {
			m := &v1alpha5.Machine{}
			if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, m); err != nil {
				return err
			}
			if m.Status.ProviderID == "" {
				return fmt.Errorf("machine %s not launched yet", name)
			}
			providerIDs[name] = m.Status.ProviderID
		}
		return nil
	})
	if got := providerIDs["crash-unrecorded"]; got != launched.Status.ProviderID {
		t.Errorf("the Machine launched before the crash records instance %s, want the one launched then, %s", got, launched.Status.ProviderID)
	}
	var live []string
	for _, inst := range a.srv.World.Instances() {
		if inst.State == "pending" || inst.State == "running" {
			live = append(live, inst.ID)
		}
	}
	if len(live) != 2 {
		t.Errorf("awsim runs instances %v for 2 Machines, want exactly one each", live)
	}
}
