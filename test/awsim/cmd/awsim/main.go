// Command awsim serves the simulated AWS endpoints (EC2, SQS, SSM, Pricing) and the admin API on
// one address until SIGTERM or SIGINT; with --kubeconfig it also registers a Node for each
// running instance, as its kubelet would.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"github.com/kerf-autoscaler/kerf/test/awsim"
	"github.com/kerf-autoscaler/kerf/test/awsim/simkubelet"
)

func main() {
	addr := flag.String("addr", envOr("AWSIM_ADDR", "127.0.0.1:4566"), "listen address (env AWSIM_ADDR)")
	region := flag.String("region", envOr("AWSIM_REGION", "us-east-1"), "simulated region (env AWSIM_REGION)")
	cluster := flag.String("cluster-name", envOr("AWSIM_CLUSTER_NAME", "kerf"), "cluster the subnets and security groups are tagged for (env AWSIM_CLUSTER_NAME)")
	bootDelay := flag.Duration("boot-delay", 0, "how long instances stay pending")
	odVCPU := flag.Int("on-demand-vcpu-limit", 0, "the account's vCPU quota for running on-demand instances (0: none)")
	spotVCPU := flag.Int("spot-vcpu-limit", 0, "the account's vCPU quota for running spot instances (0: none)")
	visibility := flag.Duration("visibility-delay", 0, "longest time a new instance stays unknown to DescribeInstances, TerminateInstances and CreateTags, as EC2's eventual consistency (a seeded random part of it per instance)")
	seed := flag.Int64("seed", 42, "seed for prices, offerings, IDs and fault draws")
	eventsQueue := flag.String("events-queue", envOr("AWSIM_EVENTS_QUEUE", ""), "SQS queue (created at start) that receives EventBridge events (env AWSIM_EVENTS_QUEUE)")
	kubeconfig := flag.String("kubeconfig", envOr("AWSIM_KUBECONFIG", ""), "kubeconfig of the cluster the simulated kubelet registers Nodes in (env AWSIM_KUBECONFIG); none: no Nodes")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	opts := awsim.Options{Region: *region, ClusterName: *cluster, BootDelay: *bootDelay, Seed: *seed, VisibilityDelay: *visibility,
		OnDemandVCPULimit: *odVCPU, SpotVCPULimit: *spotVCPU}
	if err := run(ctx, os.Stdout, *addr, *kubeconfig, *eventsQueue, opts); err != nil {
		fmt.Fprintln(os.Stderr, "awsim:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, after writing one ready line to out.
func run(ctx context.Context, out io.Writer, addr, kubeconfig, eventsQueue string, opts awsim.Options) error {
	var kube kubernetes.Interface
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return fmt.Errorf("reading --kubeconfig, %w", err)
		}
		if kube, err = kubernetes.NewForConfig(cfg); err != nil {
			return fmt.Errorf("building Kubernetes client, %w", err)
		}
		// EKS's DescribeCluster names the API server the simulated nodes join, with its CA.
		if err := rest.LoadTLSFiles(cfg); err != nil {
			return fmt.Errorf("reading --kubeconfig's CA, %w", err)
		}
		opts.ClusterEndpoint = cfg.Host
		if !strings.Contains(cfg.Host, "://") {
			opts.ClusterEndpoint = "https://" + cfg.Host
		}
		opts.ClusterCA = base64.StdEncoding.EncodeToString(cfg.CAData)
	}
	srv, err := awsim.Start(addr, opts)
	if err != nil {
		return err
	}
	if eventsQueue != "" {
		if _, err := srv.World.CreateQueue(eventsQueue, srv.URL); err != nil {
			return errors.Join(fmt.Errorf("creating events queue, %w", err), srv.Close())
		}
		srv.World.SetEventsQueue(eventsQueue)
	}
	if kube != nil {
		reg := simkubelet.NewRegistrar(kube, srv.World, clock.RealClock{})
		go reg.Run(ctx, registrarInterval, func(err error) { fmt.Fprintln(os.Stderr, "awsim: simulated kubelet:", err) })
	}
	fmt.Fprintf(out, "awsim ready endpoint=%s region=%s cluster=%s\n", srv.URL, srv.World.Region(), srv.World.ClusterName())
	<-ctx.Done()
	return srv.Close()
}

// registrarInterval is how often the simulated kubelet compares instances and Nodes.
const registrarInterval = time.Second

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
