package awsim

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	clocktesting "k8s.io/utils/clock/testing"
)

// epoch is the fake clock's start in every test.
var epoch = time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	srv     *Running
	clock   *clocktesting.FakeClock
	ec2     *ec2.Client
	sqs     *sqs.Client
	ssm     *ssm.Client
	pricing *pricing.Client
	ctx     context.Context
}

// start runs awsim on a free port with a fake clock and real SDK clients pointed at it.
func start(t *testing.T, opts Options) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(epoch)
	opts.Clock = clk
	srv, err := Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatalf("starting awsim: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cfg := srv.AWSConfig()
	return &env{srv: srv, clock: clk, ctx: context.Background(),
		ec2: ec2.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg), pricing: pricing.NewFromConfig(cfg)}
}

// errorCode returns the AWS error code of err ("" for nil).
func errorCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an AWS API error: %v", err)
	}
	return ae.ErrorCode()
}

// launchTemplate creates a template for the cluster's latest AL2023 x86_64 AMI.
func (e *env) launchTemplate(t *testing.T, name string) string {
	t.Helper()
	ami, _ := e.srv.World.Parameter("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id")
	out, err := e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(ami), UserData: aws.String("IyEvYmluL2Jhc2g=")},
	})
	if err != nil {
		t.Fatalf("CreateLaunchTemplate: %v", err)
	}
	return aws.ToString(out.LaunchTemplate.LaunchTemplateId)
}

func fmtSscan(s string, f *float64) (int, error) { return fmt.Sscan(s, f) }

func asError[T error](err error, target *T) bool { return errors.As(err, target) }
