package operator_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/test/awsim/simkubelet"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

var env *kubeenv.Env

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard()) // controller-runtime's work queues log through the global logger
	os.Exit(kubeenv.Run(m, &env))
}

// asChartRBAC returns a client configuration for a user bound to the chart's generated
// ClusterRole and nothing else.
func asChartRBAC(t *testing.T) *rest.Config {
	t.Helper()
	ctx := context.Background()
	generated, err := os.ReadFile("../../charts/kerf/files/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const user = "kerf-controller"
	for _, doc := range strings.Split(string(generated), "\n---\n") {
		role := &rbacv1.ClusterRole{}
		if err := yaml.Unmarshal([]byte(doc), role); err != nil {
			t.Fatal(err)
		}
		if role.Kind != "ClusterRole" {
			continue // the namespaced Role holds the leader-election lease, off in this test
		}
		role.Name = user
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: user},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		}
		for _, obj := range []client.Object{role, binding} {
			// Every test's operator runs as the same user.
			if err := env.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
	}
	config, err := env.UserConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	return config
}

// The whole provisioning path with every real part but the kube-scheduler: the operator's
// controllers on a real API server, the AWS cloud provider on the real SDK against awsim, and
// awsim's kubelet registering the Node. A pod the scheduler marked unschedulable becomes one
// Machine, one EC2 instance of the cheapest type that fits, and an initialized Node.
func TestControllers_PendingPodBecomesAnInitializedNodeOnAWS(t *testing.T) {
	ctx := context.Background()
	a := newAWSOperator(t, "kerf-it")
	op, srv, clk := a.op, a.srv, a.clk
	a.start(t)

	for _, obj := range []client.Object{
		&v1alpha1.AWSNodeTemplate{ObjectMeta: metav1.ObjectMeta{Name: "it"}, Spec: v1alpha1.AWSNodeTemplateSpec{
			SubnetSelector: map[string]string{"karpenter.sh/discovery": a.cluster}, SecurityGroupSelector: map[string]string{"karpenter.sh/discovery": a.cluster},
		}},
		&v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "it"}, Spec: v1alpha5.ProvisionerSpec{
			ProviderRef: &v1alpha5.MachineTemplateRef{Name: "it"},
			Labels:      map[string]string{"team": "it"},
			Requirements: []v1alpha5.NodeSelectorRequirement{
				{Key: v1alpha5.LabelInstanceFamily, Operator: corev1.NodeSelectorOpIn, Values: []string{"m5", "c5"}},
			},
		}},
	} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	createUnschedulablePod(ctx, t, "web")

	machine := &v1alpha5.Machine{}
	kubeenv.Eventually(t, 30*time.Second, "a Machine launched for the pending pod", func() error {
		list := &v1alpha5.MachineList{}
		if err := env.Client.List(ctx, list); err != nil {
			return err
		}
		if len(list.Items) != 1 {
			return fmt.Errorf("%d machines", len(list.Items))
		}
		*machine = list.Items[0]
		if machine.Status.ProviderID == "" {
			return fmt.Errorf("machine %s not launched yet", machine.Name)
		}
		return nil
	})
	instances := srv.World.Instances()
	if len(instances) != 1 {
		t.Fatalf("awsim holds %d instances, want exactly 1", len(instances))
	}
	// 3 cpu and 4Gi on-demand among m5 and c5: c5.xlarge (4 vCPU, 8 GiB) is the cheapest that fits.
	if got := instances[0].InstanceType; got != "c5.xlarge" || instances[0].CapacityType != "on-demand" {
		t.Errorf("launched %s %s, want on-demand c5.xlarge", instances[0].CapacityType, got)
	}

	// The instance boots and awsim's kubelet registers its Node from the user data Kerf wrote.
	clk.Step(5 * time.Minute)
	registrar := simkubelet.NewRegistrar(kubernetes.NewForConfigOrDie(env.Config), srv.World, clk)
	kubeenv.Eventually(t, 30*time.Second, "the Machine initialized", func() error {
		if err := registrar.Sync(ctx); err != nil {
			return err
		}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(machine), machine); err != nil {
			return err
		}
		if !v1alpha5.IsConditionTrue(machine.Status.Conditions, v1alpha5.MachineInitialized) {
			return fmt.Errorf("machine %s conditions %+v", machine.Name, machine.Status.Conditions)
		}
		return nil
	})
	node := &corev1.Node{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: machine.Status.NodeName}, node); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		v1alpha5.ProvisionerNameLabelKey: "it", "team": "it", v1alpha5.LabelInstanceType: "c5.xlarge",
		v1alpha5.LabelNodeInitialized: "true", v1alpha5.LabelTopologyZone: instances[0].Zone,
	} {
		if got := node.Labels[key]; got != want {
			t.Errorf("node label %s = %q, want %q", key, got, want)
		}
	}

	// The kube-scheduler binds the first pod to its node (this test runs no scheduler).
	web := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}}
	if err := env.Client.SubResource("binding").Create(ctx, web, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node.Name},
	}); err != nil {
		t.Fatal(err)
	}

	// c5.xlarge runs out in every zone. The next pod's fleet launches m5.xlarge instead, and the
	// empty c5.xlarge pools it met on the way are left out of planning from then on.
	for _, zone := range srv.World.Zones() {
		srv.World.SetCapacity("c5.xlarge", zone, "on-demand", 0)
	}
	createUnschedulablePod(ctx, t, "api")
	kubeenv.Eventually(t, 30*time.Second, "a second instance launched", func() error {
		if n := len(srv.World.Instances()); n != 2 {
			return fmt.Errorf("%d instances", n)
		}
		return nil
	})
	second := srv.World.Instances()[0]
	if second.ID == instances[0].ID {
		second = srv.World.Instances()[1]
	}
	if second.InstanceType != "m5.xlarge" {
		t.Errorf("launched %s with c5.xlarge out of capacity, want m5.xlarge", second.InstanceType)
	}
	// awsim shows the instance as soon as the fleet launched it; the provider records the empty
	// pools a moment later, once it has read the fleet's answer.
	var unavailable []string
	kubeenv.Eventually(t, 10*time.Second, "the empty pools recorded", func() error {
		unavailable = nil
		for _, zone := range srv.World.Zones() {
			if op.Unavailable.IsUnavailable("c5.xlarge", zone, "on-demand") {
				unavailable = append(unavailable, zone)
			}
		}
		if len(unavailable) == 0 {
			return fmt.Errorf("no pool recorded yet")
		}
		return nil
	})
	if op.Unavailable.Len() != len(unavailable) {
		t.Errorf("the operator's unavailable offerings hold %d pools, c5.xlarge in zones %v; want the empty c5.xlarge pools the fleet met, nothing else",
			op.Unavailable.Len(), unavailable)
	}
}

// createUnschedulablePod creates a pod needing 3 CPUs and 4Gi, marked as the kube-scheduler
// marks a pod no node can take.
func createUnschedulablePod(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "pause", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("4Gi")},
		}}}},
	}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	if err := env.Client.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
}
