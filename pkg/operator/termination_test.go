package operator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/test/awsim"
	"github.com/kerf-autoscaler/kerf/test/awsim/simkubelet"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

// A controller can die at any point of a node's way out. Killed while a pod holds the drain, and
// again right after it terminated the instance but before it released the Node, each successor
// resumes where the last stopped: EC2 receives exactly one TerminateInstances, and the Node, the
// Machine and the instance are all gone at the end.
func TestControllers_RestartMidDrainAndAfterTerminateTerminatesOnce(t *testing.T) {
	ctx := context.Background()
	const cluster = "kerf-drain"
	clk := clocktesting.NewFakeClock(time.Now())
	srv, err := awsim.Start("127.0.0.1:0", awsim.Options{Clock: clk, Seed: 7, ClusterName: cluster})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for _, obj := range []client.Object{
		&v1alpha1.AWSNodeTemplate{ObjectMeta: metav1.ObjectMeta{Name: "drain"}, Spec: v1alpha1.AWSNodeTemplateSpec{
			SubnetSelector: map[string]string{"karpenter.sh/discovery": cluster}, SecurityGroupSelector: map[string]string{"karpenter.sh/discovery": cluster},
		}},
		&v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "drain"}, Spec: v1alpha5.ProvisionerSpec{ProviderRef: &v1alpha5.MachineTemplateRef{Name: "drain"}}},
		&v1alpha5.Machine{
			ObjectMeta: metav1.ObjectMeta{Name: "drain-1", Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: "drain"}},
			Spec: v1alpha5.MachineSpec{
				Requirements: []corev1.NodeSelectorRequirement{
					{Key: v1alpha5.LabelInstanceType, Operator: corev1.NodeSelectorOpIn, Values: []string{"m5.large"}},
					{Key: v1alpha5.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: []string{v1alpha5.CapacityTypeOnDemand}},
				},
				Resources:          v1alpha5.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
				MachineTemplateRef: &v1alpha5.MachineTemplateRef{Name: "drain"},
			},
		},
	} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "drain"}})
	})

	stopFirst := newAWSOperatorOn(t, cluster, srv, clk).run(t)
	machine := &v1alpha5.Machine{}
	registrar := simkubelet.NewRegistrar(kubernetes.NewForConfigOrDie(env.Config), srv.World, clk)
	kubeenv.Eventually(t, 30*time.Second, "the Machine launched", func() error {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "drain-1"}, machine); err != nil {
			return err
		}
		if machine.Status.ProviderID == "" {
			return fmt.Errorf("not launched yet")
		}
		return nil
	})
	clk.Step(5 * time.Minute)
	kubeenv.Eventually(t, 30*time.Second, "the Machine initialized", func() error {
		if err := registrar.Sync(ctx); err != nil {
			return err
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "drain-1"}, machine); err != nil {
			return err
		}
		if !v1alpha5.IsConditionTrue(machine.Status.Conditions, v1alpha5.MachineInitialized) {
			return fmt.Errorf("conditions %+v", machine.Status.Conditions)
		}
		return nil
	})
	nodeName := machine.Status.NodeName
	held := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "held", Namespace: "default", Annotations: map[string]string{v1alpha5.DoNotEvictPodAnnotationKey: "true"}},
		Spec:       corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "pause"}}},
	}
	if err := env.Client.Create(ctx, held); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), held, client.GracePeriodSeconds(0)) })

	// First death: mid-drain, the do-not-evict pod holding the cordoned Node.
	if err := env.Client.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}); err != nil {
		t.Fatal(err)
	}
	kubeenv.Eventually(t, 30*time.Second, "the Node cordoned", func() error {
		node := &corev1.Node{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: nodeName}, node); err != nil {
			return err
		}
		if !node.Spec.Unschedulable {
			return fmt.Errorf("not cordoned yet")
		}
		return nil
	})
	stopFirst()
	if n := srv.World.Calls("TerminateInstances"); n != 0 {
		t.Fatalf("%d TerminateInstances calls while a pod held the drain, want none", n)
	}

	// Second death: right after the instance was terminated, before the Node was released.
	stopSecond := newAWSOperatorOn(t, cluster, srv, clk).run(t)
	released := held.DeepCopy()
	released.Annotations = nil
	if err := env.Client.Patch(ctx, released, client.MergeFrom(held)); err != nil {
		t.Fatal(err)
	}
	// No kubelet runs here: stand in for it and finish the pod once it is evicted.
	kubeenv.Eventually(t, 30*time.Second, "the pod evicted", func() error {
		pod := &corev1.Pod{}
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(held), pod)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if pod.DeletionTimestamp == nil {
			return fmt.Errorf("not evicted yet")
		}
		return env.Client.Delete(ctx, pod, client.GracePeriodSeconds(0))
	})
	kubeenv.Eventually(t, 30*time.Second, "the instance terminated", func() error {
		if n := srv.World.Calls("TerminateInstances"); n == 0 {
			return fmt.Errorf("no TerminateInstances yet")
		}
		return nil
	})
	stopSecond()
	if err := env.Client.Get(ctx, client.ObjectKey{Name: nodeName}, &corev1.Node{}); err != nil {
		t.Logf("the Node was released before the second stop (%v); this run resumed from the drain only", err)
	}

	newAWSOperatorOn(t, cluster, srv, clk).start(t)
	kubeenv.Eventually(t, 30*time.Second, "the Node and Machine gone", func() error {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: nodeName}, &corev1.Node{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("node: %v", err)
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "drain-1"}, &v1alpha5.Machine{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("machine: %v", err)
		}
		return nil
	})
	if n := srv.World.Calls("TerminateInstances"); n != 1 {
		t.Errorf("EC2 received %d TerminateInstances calls, want exactly 1", n)
	}
	for _, inst := range srv.World.Instances() {
		if inst.State != "shutting-down" && inst.State != "terminated" {
			t.Errorf("instance %s is %s, want every instance terminated", inst.ID, inst.State)
		}
	}
}
