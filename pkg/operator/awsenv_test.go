package operator_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/pkg/operator"
	"github.com/kerf-autoscaler/kerf/test/awsim"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

// awsOperator is the operator wired as the binary wires it, with the AWS cloud provider on the
// real SDK against awsim, built but not started.
type awsOperator struct {
	op      *operator.Operator
	cloud   *aws.CloudProvider
	srv     *awsim.Running
	clk     *clocktesting.FakeClock
	cluster string
}

func newAWSOperator(t *testing.T, cluster string) *awsOperator {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Now())
	srv, err := awsim.Start("127.0.0.1:0", awsim.Options{Clock: clk, Seed: 42, ClusterName: cluster})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return newAWSOperatorOn(t, cluster, srv, clk)
}

// newAWSOperatorOn builds an operator on an awsim already running, as a restarted controller
// finds the cloud its predecessor left.
func newAWSOperatorOn(t *testing.T, cluster string, srv *awsim.Running, clk *clocktesting.FakeClock) *awsOperator {
	t.Helper()
	opts, err := operator.ParseOptions([]string{"--cluster-name=" + cluster, "--leader-elect=false", "--isolated-vpc",
		fmt.Sprintf("--metrics-port=%d", kubeenv.FreePort(t)), fmt.Sprintf("--health-probe-port=%d", kubeenv.FreePort(t)),
		"--batch-idle-duration=50ms", "--batch-max-duration=200ms"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	// The controllers run as a user holding only the chart's ClusterRole, so a permission the
	// code needs but its RBAC markers forgot fails here rather than in a user's cluster.
	op, err := operator.New(opts, asChartRBAC(t), logr.Discard(), func(o *ctrl.Options) {
		// controller-runtime refuses a controller name a process used before; every test's
		// operator registers the same controllers.
		o.Controller.SkipNameValidation = ptr.To(true)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each test's controllers publish their metrics afresh, not into the process-wide registry
	// an earlier test's operator already filled.
	op.Registry = prometheus.NewRegistry()
	a := &awsOperator{op: op, srv: srv, clk: clk, cluster: cluster}
	// As the binary wires it: the pools a fleet found empty reach the same record the lifecycle
	// controller and every Snapshot use.
	a.cloud = a.newCloudProvider(t, op.GetClient(), op.Unavailable)
	return a
}

// newCloudProvider builds an AWS cloud provider on awsim with fresh caches, reading Kubernetes
// through kube: the operator's cache, or the API server directly for a process that ran before.
func (a *awsOperator) newCloudProvider(t *testing.T, kube client.Reader, unavailable aws.UnavailableOfferingsMarker) *aws.CloudProvider {
	t.Helper()
	cfg := a.srv.AWSConfig()
	ec2Client := ec2.NewFromConfig(cfg)
	prices, err := aws.NewPricingProvider(ec2Client, nil, a.clk, aws.PricingOptions{Region: cfg.Region, IsolatedVPC: true})
	if err != nil {
		t.Fatal(err)
	}
	instanceTypes, err := aws.NewInstanceTypeProvider(ec2Client, prices, a.clk, a.op.Options.VMMemoryOverheadPercent, aws.PodNetworking{})
	if err != nil {
		t.Fatal(err)
	}
	cloud, err := aws.NewCloudProvider(aws.CloudProviderOptions{
		ClusterName: a.cluster, ClusterEndpoint: env.Config.Host, CABundle: base64.StdEncoding.EncodeToString(env.Config.CAData),
		ClusterCIDR: "10.100.0.0/16", DefaultInstanceProfile: awsim.NodeInstanceProfileFor(a.cluster), KubeClient: kube, EC2: ec2Client, SSM: ssm.NewFromConfig(cfg), InstanceTypes: instanceTypes, Clock: a.clk,
		KubernetesVersion:    func(context.Context) (string, error) { return "1.36", nil },
		UnavailableOfferings: unavailable,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cloud
}

// start registers the controllers and runs the manager until the test ends. At the end every
// Machine is deleted, its Node drained and its instance terminated first, so the next test's operator starts on an
// API server without them.
func (a *awsOperator) start(t *testing.T) {
	t.Helper()
	stop := a.run(t)
	t.Cleanup(func() {
		defer stop()
		// No kubelet runs here to finish the pods a drain evicts, so the test's pods go first.
		if err := env.Client.DeleteAllOf(context.Background(), &corev1.Pod{}, client.InNamespace("default"), client.GracePeriodSeconds(0)); err != nil {
			t.Errorf("deleting pods: %v", err)
		}
		if err := env.Client.DeleteAllOf(context.Background(), &v1alpha5.Machine{}); err != nil {
			t.Errorf("deleting machines: %v", err)
			return
		}
		kubeenv.Eventually(t, 30*time.Second, "every Machine terminated", func() error {
			list := &v1alpha5.MachineList{}
			if err := env.Client.List(context.Background(), list); err != nil {
				return err
			}
			if len(list.Items) > 0 {
				return fmt.Errorf("%d machines left", len(list.Items))
			}
			return nil
		})
	})
}

// run registers the controllers and runs the manager until stop, which a test calls to kill the
// controller mid-way (and the test's end calls in any case).
func (a *awsOperator) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// The batcher runs on the operator's real clock: its windows are milliseconds here.
	if err := a.op.RegisterControllers(ctx, a.cloud, aws.DefaultRequirements); err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- a.op.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-stopped; err != nil {
				t.Errorf("manager: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
