//go:build bench

package awsim

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Budgets from issue 4, asserted on the mean so a regression fails the benchmark run.
const (
	budgetDescribeCatalog = 100 * time.Millisecond
	budgetFleet100        = 50 * time.Millisecond
	// budgetInstancePage is awsim's own: a page of 1,000 instances from a world of 10,000.
	budgetInstancePage = 250 * time.Millisecond
)

// benchEnv runs awsim on the real clock (benchmarks measure it) with an EC2 client.
func benchEnv(b *testing.B) *env {
	b.Helper()
	srv, err := Start("127.0.0.1:0", Options{Seed: 42})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	cfg := srv.AWSConfig()
	return &env{srv: srv, ec2: ec2.NewFromConfig(cfg), ctx: b.Context()}
}

// BenchmarkDescribeInstanceTypes_WholeCatalog times awsim answering every page over HTTP (the
// budget is awsim's); the SDK's own XML decoding is timed separately below.
func BenchmarkDescribeInstanceTypes_WholeCatalog(b *testing.B) {
	e := benchEnv(b)
	client := &http.Client{}
	start := time.Now()
	for b.Loop() {
		pages, token := 0, ""
		for {
			form := url.Values{"Action": {"DescribeInstanceTypes"}, "Version": {"2016-11-15"}}
			if token != "" {
				form.Set("NextToken", token)
			}
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL, strings.NewReader(form.Encode()))
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260901/us-east-1/ec2/aws4_request")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			pages++
			i := bytes.Index(body, []byte("<nextToken>"))
			if i < 0 {
				break
			}
			token = string(body[i+len("<nextToken>") : bytes.Index(body, []byte("</nextToken>"))])
		}
		if pages != 14 {
			b.Fatalf("%d pages", pages)
		}
	}
	mean := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(mean.Microseconds())/1000, "ms/catalog")
	if mean > budgetDescribeCatalog {
		b.Errorf("whole catalog took %v on average, budget %v", mean, budgetDescribeCatalog)
	}
}

func BenchmarkDescribeInstanceTypes_WholeCatalogThroughSDK(b *testing.B) {
	e := benchEnv(b)
	start := time.Now()
	for b.Loop() {
		n := 0
		pager := ec2.NewDescribeInstanceTypesPaginator(e.ec2, &ec2.DescribeInstanceTypesInput{})
		for pager.HasMorePages() {
			out, err := pager.NextPage(e.ctx)
			if err != nil {
				b.Fatal(err)
			}
			n += len(out.InstanceTypes)
		}
		if n < 1300 {
			b.Fatalf("listed %d types", n)
		}
	}
	b.ReportMetric(float64((time.Since(start)/time.Duration(b.N)).Microseconds())/1000, "ms/catalog")
}

func BenchmarkCreateFleet_100Instances(b *testing.B) {
	// fleetWorld is a fresh world with a launch template. Each fleet takes 100 subnet addresses
	// and the subnets hold about 24,000, so the benchmark moves to a new world every 200 fleets,
	// outside the timed region.
	fleetWorld := func() (*env, *string) {
		e := benchEnv(b)
		ami, _ := e.srv.World.Parameter("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id")
		lt, err := e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("bench"),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(ami)}})
		if err != nil {
			b.Fatal(err)
		}
		return e, lt.LaunchTemplate.LaunchTemplateId
	}
	e, ltID := fleetWorld()
	var overrides []ec2types.FleetLaunchTemplateOverridesRequest
	for _, typ := range []string{"m5.large", "m5.xlarge", "c5.large", "c5.xlarge", "r5.large", "m6i.large", "c6i.large"} {
		for _, z := range e.srv.World.Zones() {
			overrides = append(overrides, ec2types.FleetLaunchTemplateOverridesRequest{InstanceType: ec2types.InstanceType(typ), AvailabilityZone: aws.String(z)})
		}
	}
	i := 0
	var launching time.Duration
	for b.Loop() {
		i++
		if i%200 == 0 {
			b.StopTimer()
			_ = e.srv.Close()
			e, ltID = fleetWorld()
			b.StartTimer()
		}
		began := time.Now()
		out, err := e.ec2.CreateFleet(e.ctx, &ec2.CreateFleetInput{
			Type:        ec2types.FleetTypeInstant,
			ClientToken: aws.String(fmt.Sprint("bench-", i)),
			LaunchTemplateConfigs: []ec2types.FleetLaunchTemplateConfigRequest{{
				LaunchTemplateSpecification: &ec2types.FleetLaunchTemplateSpecificationRequest{LaunchTemplateId: ltID, Version: aws.String("$Latest")},
				Overrides:                   overrides}},
			TargetCapacitySpecification: &ec2types.TargetCapacitySpecificationRequest{TotalTargetCapacity: aws.Int32(100), DefaultTargetCapacityType: ec2types.DefaultTargetCapacityTypeSpot},
			SpotOptions:                 &ec2types.SpotOptionsRequest{AllocationStrategy: ec2types.SpotAllocationStrategyPriceCapacityOptimized},
		})
		if err != nil || len(fleetInstanceIDs(out)) != 100 {
			b.Fatalf("fleet %d: %v, %d instances, errors %+v", i, err, len(fleetInstanceIDs(out)), fleetErrors(out))
		}
		launching += time.Since(began)
	}
	mean := launching / time.Duration(b.N)
	b.ReportMetric(float64(mean.Microseconds())/1000, "ms/fleet")
	if mean > budgetFleet100 {
		b.Errorf("CreateFleet of 100 took %v on average, budget %v", mean, budgetFleet100)
	}
}

// BenchmarkDescribeInstances_TenThousandInWorld lists one filtered page of 1,000 instances out of
// 10,000, the size the issue says must stay fast.
func BenchmarkDescribeInstances_TenThousandInWorld(b *testing.B) {
	e := benchEnv(b)
	ami, _ := e.srv.World.Parameter("/aws/service/eks/optimized-ami/1.30/amazon-linux-2/recommended/image_id")
	for i := 0; i < 10; i++ {
		_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(ami), InstanceType: "m5.large",
			MinCount: aws.Int32(1000), MaxCount: aws.Int32(1000), Placement: &ec2types.Placement{AvailabilityZone: aws.String(e.srv.World.Zones()[i%3])},
			TagSpecifications: []ec2types.TagSpecification{{
				ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: aws.String("karpenter.sh/managed-by"), Value: aws.String("kerf")}}}}})
		if err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	for b.Loop() {
		out, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000), Filters: []ec2types.Filter{
			{Name: aws.String("tag:karpenter.sh/managed-by"), Values: []string{"kerf"}},
			{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}}})
		if err != nil || out.NextToken == nil {
			b.Fatalf("describe: %v", err)
		}
	}
	mean := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(mean.Microseconds())/1000, "ms/page")
	if mean > budgetInstancePage {
		b.Errorf("a page of 1,000 of 10,000 instances took %v on average, budget %v", mean, budgetInstancePage)
	}
}

func fleetErrors(out *ec2.CreateFleetOutput) []string {
	if out == nil {
		return nil
	}
	var errs []string
	for _, e := range out.Errors {
		errs = append(errs, aws.ToString(e.ErrorCode)+": "+aws.ToString(e.ErrorMessage))
	}
	return errs
}
