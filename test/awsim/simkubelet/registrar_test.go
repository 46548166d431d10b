package simkubelet

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kerf-autoscaler/kerf/test/awsim"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

// registrarEnv is an API server and an awsim world on a fake clock, with an EC2 client and the
// AL2 image to launch.
func registrarEnv(t *testing.T, opts awsim.Options) (kubernetes.Interface, *awsim.Running, *clocktesting.FakeClock, *ec2.Client, string) {
	t.Helper()
	env, err := kubeenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	clk := clocktesting.NewFakeClock(time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC))
	opts.Clock = clk
	srv, err := awsim.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ami, _ := srv.World.Parameter("/aws/service/eks/optimized-ami/1.30/amazon-linux-2/recommended/image_id")
	return kubernetes.NewForConfigOrDie(env.Config), srv, clk, ec2.NewFromConfig(srv.AWSConfig()), ami
}

func TestRegistrar_RegistersRunningInstancesAndDeletesTerminated(t *testing.T) {
	kube, srv, clk, ec2c, ami := registrarEnv(t, awsim.Options{BootDelay: 30 * time.Second})
	ctx := context.Background()
	out, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(ami), InstanceType: "m5.large",
		MinCount: aws.Int32(2), MaxCount: aws.Int32(2), UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(al2))),
		IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String(srv.World.NodeInstanceProfile())}})
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistrar(kube, srv.World, clk)
	nodes := func() []corev1.Node {
		t.Helper()
		if err := reg.Sync(ctx); err != nil {
			t.Fatalf("sync: %v", err)
		}
		list, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return list.Items
	}
	if n := nodes(); len(n) != 0 {
		t.Fatalf("pending instances registered %d nodes", len(n))
	}
	clk.Step(30 * time.Second)
	got := nodes()
	if len(got) != 2 {
		t.Fatalf("running instances: %d nodes, want 2", len(got))
	}
	n := got[0]
	pods := n.Status.Allocatable[corev1.ResourcePods]
	if n.Labels["karpenter.sh/capacity-type"] != "spot" || len(n.Spec.Taints) != 2 || pods.Value() != 58 ||
		n.Status.Conditions[0].Type != corev1.NodeReady || n.Labels["node.kubernetes.io/instance-type"] != "m5.large" {
		t.Errorf("node does not follow its user data (or kept the not-ready taint): labels %v taints %v allocatable %v", n.Labels, n.Spec.Taints, n.Status.Allocatable)
	}
	if len(nodes()) != 2 {
		t.Errorf("a second sync changed the node count")
	}
	// Another writer won the race at registration and the not-ready taint stayed on a Ready node:
	// the next sync lifts it, or the node would never take a pod.
	n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule})
	if _, err := kube.CoreV1().Nodes().Update(ctx, &n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, node := range nodes() {
		for _, taint := range node.Spec.Taints {
			if taint.Key == corev1.TaintNodeNotReady {
				t.Errorf("node %s is Ready and still has the not-ready taint after a sync", node.Name)
			}
		}
	}
	victim := aws.ToString(out.Instances[0].InstanceId)
	if _, err := ec2c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{victim}}); err != nil {
		t.Fatal(err)
	}
	if n := nodes(); len(n) != 2 {
		t.Errorf("while shutting down the instance still exists; nodes %d, want 2", len(n))
	}
	clk.Step(time.Minute)
	left := nodes()
	if len(left) != 1 || left[0].Spec.ProviderID == "aws:///us-east-1a/"+victim {
		t.Errorf("after terminating %s: nodes %v", victim, left)
	}
	_, err = kube.CoreV1().Nodes().Get(ctx, aws.ToString(out.Instances[0].PrivateDnsName), metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("terminated instance's node: %v, want NotFound", err)
	}
}

// A kubelet authenticates with its instance's role: an instance launched without an instance
// profile never joins, and the registrar says why.
func TestRegistrar_AnInstanceWithoutAnInstanceProfileNeverJoins(t *testing.T) {
	kube, srv, clk, ec2c, ami := registrarEnv(t, awsim.Options{})
	ctx := context.Background()
	if _, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(ami), InstanceType: "m5.large",
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(al2)))}); err != nil {
		t.Fatal(err)
	}
	err := NewRegistrar(kube, srv.World, clk).Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "no IAM instance profile") {
		t.Errorf("sync: %v, want the instance refused for having no instance profile", err)
	}
	list, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d nodes registered, want none", len(list.Items))
	}
}
