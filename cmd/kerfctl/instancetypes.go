package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

const instanceTypesUsage = `Usage: kerfctl instance-types [flags]

Prints every instance type EC2 offers in the region with its capacity, the kubelet's overhead,
what is left allocatable to pods, and its zones and prices, as Kerf computes them.

Flags:
`

// instanceTypesFlags are the command's options.
type instanceTypesFlags struct {
	region, endpoint, amiFamily, output string
	maxPods                             *int32
	isolatedVPC                         bool
	vmMemoryOverheadPercent             float64
}

func parseInstanceTypesFlags(args []string, stderr io.Writer) (instanceTypesFlags, error) {
	var f instanceTypesFlags
	fs := flag.NewFlagSet("instance-types", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, instanceTypesUsage); fs.PrintDefaults() }
	fs.StringVar(&f.region, "region", "", "AWS region (default: from the AWS environment and config files)")
	fs.StringVar(&f.endpoint, "endpoint", "", "endpoint URL for every AWS service, e.g. an awsim at http://127.0.0.1:4566")
	fs.StringVar(&f.amiFamily, "ami-family", v1alpha1.AMIFamilyAL2, "AMI family: AL2, AL2023, Bottlerocket, Ubuntu, Windows2019, Windows2022 or Custom")
	fs.Func("max-pods", "the kubelet's maxPods (default: the ENI limit; 110 on Windows)", func(s string) error {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a non-negative integer", s)
		}
		m := int32(n)
		f.maxPods = &m
		return nil
	})
	fs.StringVar(&f.output, "o", "table", "output format: table or json")
	fs.BoolVar(&f.isolatedVPC, "isolated-vpc", false, "never call the Pricing API; use the embedded price table")
	fs.Float64Var(&f.vmMemoryOverheadPercent, "vm-memory-overhead-percent", 0.075, "fraction of an instance's memory the hypervisor keeps, in [0, 1)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if f.output != "table" && f.output != "json" {
		return f, fmt.Errorf("-o %q: want table or json", f.output)
	}
	families := []string{v1alpha1.AMIFamilyAL2, v1alpha1.AMIFamilyAL2023, v1alpha1.AMIFamilyBottlerocket, v1alpha1.AMIFamilyUbuntu,
		v1alpha1.AMIFamilyWindows2019, v1alpha1.AMIFamilyWindows2022, v1alpha1.AMIFamilyCustom}
	if !slices.Contains(families, f.amiFamily) {
		return f, fmt.Errorf("--ami-family %q: want one of %s", f.amiFamily, strings.Join(families, ", "))
	}
	return f, nil
}

// instanceTypes runs `kerfctl instance-types`.
func (c *cli) instanceTypes(ctx context.Context, args []string) int {
	f, err := parseInstanceTypesFlags(args, c.stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "kerfctl instance-types: %v\n", err)
		return 2
	}
	// Failures to refresh prices are logged, not fatal: show them on stderr.
	ctx = log.IntoContext(ctx, funcr.New(func(prefix, args string) { fmt.Fprintln(c.stderr, prefix, args) }, funcr.Options{}))
	its, err := c.listInstanceTypes(ctx, f)
	if err != nil {
		fmt.Fprintf(c.stderr, "kerfctl instance-types: %v\n", err)
		return 1
	}
	if f.output == "json" {
		err = writeInstanceTypesJSON(c.stdout, its)
	} else {
		err = writeInstanceTypesTable(c.stdout, its)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "kerfctl instance-types: writing output, %v\n", err)
		return 1
	}
	return 0
}

func (c *cli) listInstanceTypes(ctx context.Context, f instanceTypesFlags) ([]*scheduling.InstanceType, error) {
	var opts []func(*config.LoadOptions) error
	if f.region != "" {
		opts = append(opts, config.WithRegion(f.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration, %w", err)
	}
	if c.httpClient != nil {
		cfg.HTTPClient = c.httpClient
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region: set --region or AWS_REGION")
	}
	if f.endpoint != "" {
		cfg.BaseEndpoint = awssdk.String(f.endpoint)
	}
	ec2c := ec2.NewFromConfig(cfg)
	var pricingAPI aws.PricingAPI
	if !f.isolatedVPC {
		pricingAPI = pricing.NewFromConfig(cfg, func(o *pricing.Options) {
			if f.endpoint == "" {
				o.Region = aws.PricingAPIRegion(cfg.Region)
			}
		})
	}
	clk := clock.RealClock{}
	prices, err := aws.NewPricingProvider(ec2c, pricingAPI, clk, aws.PricingOptions{Region: cfg.Region, IsolatedVPC: f.isolatedVPC})
	if err != nil {
		return nil, err
	}
	types, err := aws.NewInstanceTypeProvider(ec2c, prices, clk, f.vmMemoryOverheadPercent, aws.PodNetworking{})
	if err != nil {
		return nil, err
	}
	nodeTemplate := &v1alpha1.AWSNodeTemplate{Spec: v1alpha1.AWSNodeTemplateSpec{AMIFamily: awssdk.String(f.amiFamily)}}
	return types.List(ctx, nodeTemplate, &v1alpha5.KubeletConfiguration{MaxPods: f.maxPods})
}

// instanceTypeJSON is one element of the JSON output. Resource lists marshal as Kubernetes
// quantity strings ("7577Mi", "1930m").
type instanceTypeJSON struct {
	Name        string              `json:"name"`
	Labels      map[string]string   `json:"labels"`
	Capacity    corev1.ResourceList `json:"capacity"`
	Overhead    corev1.ResourceList `json:"overhead"`
	Allocatable corev1.ResourceList `json:"allocatable"`
	Offerings   []offeringJSON      `json:"offerings"`
}

type offeringJSON struct {
	Zone         string  `json:"zone"`
	CapacityType string  `json:"capacityType"`
	Price        float64 `json:"price"`
	Available    bool    `json:"available"`
}

func writeInstanceTypesJSON(w io.Writer, its []*scheduling.InstanceType) error {
	out := make([]instanceTypeJSON, 0, len(its))
	for _, it := range its {
		j := instanceTypeJSON{Name: it.Name, Labels: it.Requirements.Labels(), Capacity: it.Capacity,
			Overhead: it.Overhead.Total(), Allocatable: it.Allocatable(), Offerings: []offeringJSON{}}
		for _, o := range it.Offerings {
			j.Offerings = append(j.Offerings, offeringJSON{Zone: o.Zone, CapacityType: o.CapacityType, Price: o.Price, Available: o.Available})
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeInstanceTypesTable(w io.Writer, its []*scheduling.InstanceType) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCPU\tMEMORY\tPODS\tALLOC CPU\tALLOC MEMORY\tALLOC STORAGE\tEXTENDED\tZONES\tON-DEMAND $/H\tSPOT $/H (MIN)")
	for _, it := range its {
		alloc := it.Allocatable()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Name,
			quantity(it.Capacity, corev1.ResourceCPU), quantity(it.Capacity, corev1.ResourceMemory), quantity(it.Capacity, corev1.ResourcePods),
			quantity(alloc, corev1.ResourceCPU), quantity(alloc, corev1.ResourceMemory), quantity(alloc, corev1.ResourceEphemeralStorage),
			extended(it.Capacity), zones(it.Offerings), cheapest(it.Offerings, v1alpha5.CapacityTypeOnDemand), cheapest(it.Offerings, v1alpha5.CapacityTypeSpot))
	}
	return tw.Flush()
}

func quantity(l corev1.ResourceList, name corev1.ResourceName) string {
	if q, ok := l[name]; ok {
		return q.String()
	}
	return "-"
}

// extended lists the resources beyond cpu, memory, storage and pods, e.g. nvidia.com/gpu=1.
func extended(l corev1.ResourceList) string {
	var parts []string
	for name, q := range l {
		switch name {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourcePods:
			continue
		}
		parts = append(parts, string(name)+"="+q.String())
	}
	if len(parts) == 0 {
		return "-"
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func zones(os scheduling.Offerings) string {
	var zs []string
	for _, o := range os {
		zs = append(zs, o.Zone)
	}
	slices.Sort(zs)
	zs = slices.Compact(zs)
	if len(zs) == 0 {
		return "-"
	}
	return strings.Join(zs, ",")
}

func cheapest(os scheduling.Offerings, capacityType string) string {
	price := math.Inf(1)
	for _, o := range os {
		if o.CapacityType == capacityType {
			price = math.Min(price, o.Price)
		}
	}
	if math.IsInf(price, 1) {
		return "-"
	}
	return strconv.FormatFloat(price, 'f', 4, 64)
}
