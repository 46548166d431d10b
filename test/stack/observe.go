package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/test/awsim"
)

// Status is what a person watching the cluster sees, gathered in one pass.
type Status struct {
	PendingPods, RunningPods int
	// Machines in name order.
	Machines []MachineStatus
	// NodesReady counts Nodes whose Ready condition is true.
	NodesReady, Nodes int
	// Instances are awsim's instances that are pending or running: what the account pays for.
	Instances []awsim.InstanceState
	// USDPerHour sums the instances' prices, from the same price sources Kerf reads (the Pricing
	// API and spot price history, both served by awsim).
	USDPerHour float64
}

// MachineStatus is one Machine as the sandbox shows it.
type MachineStatus struct {
	Name, Provisioner, InstanceType, Zone, CapacityType string
	Launched, Registered, Initialized                   bool
	// USDPerHour is the launched offering's price; zero until the Machine is launched.
	USDPerHour float64
}

// Status gathers the cluster's and the account's state.
func (s *Stack) Status(ctx context.Context) (Status, error) {
	var st Status
	pods := &corev1.PodList{}
	if err := s.Env.Client.List(ctx, pods); err != nil {
		return st, fmt.Errorf("listing pods, %w", err)
	}
	for _, p := range pods.Items {
		switch p.Status.Phase {
		case corev1.PodPending:
			st.PendingPods++
		case corev1.PodRunning:
			st.RunningPods++
		}
	}
	nodes := &corev1.NodeList{}
	if err := s.Env.Client.List(ctx, nodes); err != nil {
		return st, fmt.Errorf("listing nodes, %w", err)
	}
	st.Nodes = len(nodes.Items)
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				st.NodesReady++
			}
		}
	}
	world, err := s.AWSIMState(ctx)
	if err != nil {
		return st, err
	}
	prices := s.prices(ctx)
	for _, inst := range world.Instances {
		if inst.State == "pending" || inst.State == "running" {
			st.Instances = append(st.Instances, inst)
			st.USDPerHour += price(prices, inst.InstanceType, inst.Zone, inst.CapacityType)
		}
	}
	machines := &v1alpha5.MachineList{}
	if err := s.Env.Client.List(ctx, machines); err != nil {
		return st, fmt.Errorf("listing machines, %w", err)
	}
	for _, m := range machines.Items {
		ms := MachineStatus{Name: m.Name, Provisioner: m.Labels[v1alpha5.ProvisionerNameLabelKey], InstanceType: m.Labels[v1alpha5.LabelInstanceType],
			Zone: m.Labels[v1alpha5.LabelTopologyZone], CapacityType: m.Labels[v1alpha5.CapacityTypeLabelKey],
			Launched:    v1alpha5.IsConditionTrue(m.Status.Conditions, v1alpha5.MachineLaunched),
			Registered:  v1alpha5.IsConditionTrue(m.Status.Conditions, v1alpha5.MachineRegistered),
			Initialized: v1alpha5.IsConditionTrue(m.Status.Conditions, v1alpha5.MachineInitialized)}
		if ms.Launched && ms.InstanceType != "" {
			ms.USDPerHour = price(prices, ms.InstanceType, ms.Zone, ms.CapacityType)
		}
		st.Machines = append(st.Machines, ms)
	}
	sort.Slice(st.Machines, func(i, j int) bool { return st.Machines[i].Name < st.Machines[j].Name })
	return st, nil
}

func price(p *aws.Prices, instanceType, zone, capacityType string) float64 {
	var usd float64
	if capacityType == v1alpha5.CapacityTypeSpot {
		usd, _ = p.Spot(instanceType, zone)
	} else {
		usd, _ = p.OnDemand(instanceType)
	}
	return usd
}

// pricesOnce holds the stack's own price reader, built on first use.
type pricesOnce struct {
	once     sync.Once
	provider *aws.DefaultPricingProvider
	err      error
}

func (s *Stack) prices(ctx context.Context) *aws.Prices {
	s.pricing.once.Do(func() {
		cfg := s.AWSConfig()
		s.pricing.provider, s.pricing.err = aws.NewPricingProvider(ec2.NewFromConfig(cfg), pricing.NewFromConfig(cfg), clock.RealClock{},
			aws.PricingOptions{Region: cfg.Region})
	})
	if s.pricing.err != nil {
		return nil
	}
	return s.pricing.provider.Prices(ctx)
}

// AWSConfig is an SDK configuration for awsim, for tests that call EC2 themselves.
func (s *Stack) AWSConfig() awssdk.Config {
	return awssdk.Config{Region: awsRegion, Credentials: credentials.NewStaticCredentialsProvider("AKIDAWSIM", "awsim-secret", ""),
		BaseEndpoint: awssdk.String(s.AWSEndpoint), HTTPClient: awsim.NewHTTPClient()}
}

// AWSIMState reads awsim's world summary.
func (s *Stack) AWSIMState(ctx context.Context) (awsim.State, error) {
	var st awsim.State
	return st, s.AWSIMAdmin(ctx, http.MethodGet, "state", nil, &st)
}

// AWSIMAdmin calls awsim's admin API (test/awsim/admin.go lists the endpoints) with in as the
// JSON body, decoding the answer into out when out is not nil.
func (s *Stack) AWSIMAdmin(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.AWSEndpoint+"/_awsim/"+path, body)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("calling awsim %s %s, %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("awsim %s %s: %s %s", method, path, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}
