package awsim

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

func TestSSM_EKSOptimizedParametersPointAtDescribableImages(t *testing.T) {
	e := start(t, Options{})
	tests := []struct {
		path, arch, namePrefix string
	}{
		{"/aws/service/eks/optimized-ami/1.28/amazon-linux-2/recommended/image_id", "x86_64", "amazon-eks-node-1.28-v"},
		{"/aws/service/eks/optimized-ami/1.36/amazon-linux-2-arm64/recommended/image_id", "arm64", "amazon-eks-arm64-node-1.36-v"},
		{"/aws/service/eks/optimized-ami/1.30/amazon-linux-2-gpu/recommended/image_id", "x86_64", "amazon-eks-gpu-node-1.30-v"},
		{"/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id", "x86_64", "amazon-eks-node-al2023-x86_64-standard-1.31-v"},
		{"/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/arm64/nvidia/recommended/image_id", "arm64", "amazon-eks-node-al2023-arm64-nvidia-1.31-v"},
		{"/aws/service/bottlerocket/aws-k8s-1.32/x86_64/latest/image_id", "x86_64", "bottlerocket-aws-k8s-1.32-x86_64-v"},
		{"/aws/service/bottlerocket/aws-k8s-1.32-nvidia/arm64/latest/image_id", "arm64", "bottlerocket-aws-k8s-1.32-nvidia-arm64-v"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			p, err := e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String(tc.path)})
			if err != nil {
				t.Fatal(err)
			}
			id := aws.ToString(p.Parameter.Value)
			imgs, err := e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
			if err != nil || len(imgs.Images) != 1 {
				t.Fatalf("DescribeImages(%s): %v %+v", id, err, imgs)
			}
			img := imgs.Images[0]
			if string(img.Architecture) != tc.arch || !strings.HasPrefix(aws.ToString(img.Name), tc.namePrefix) || img.State != ec2types.ImageStateAvailable {
				t.Errorf("image %s: arch %s name %s state %s", id, img.Architecture, aws.ToString(img.Name), img.State)
			}
		})
	}
	_, err := e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/aws/service/eks/optimized-ami/1.19/amazon-linux-2/recommended/image_id")})
	if code := errorCode(t, err); code != "ParameterNotFound" {
		t.Errorf("unsupported version: %q, want ParameterNotFound", code)
	}
	many, err := e.ssm.GetParameters(e.ctx, &ssm.GetParametersInput{Names: []string{tests[0].path, "/nope"}})
	if err != nil || len(many.Parameters) != 1 || len(many.InvalidParameters) != 1 || many.InvalidParameters[0] != "/nope" {
		t.Errorf("GetParameters: %v %+v", err, many)
	}
}

func TestRollAMIs_MovesParametersAndKeepsOldImages(t *testing.T) {
	e := start(t, Options{})
	path := "/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id"
	before, _ := e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String(path)})
	if release := e.srv.World.RollAMIs(); release != 2 {
		t.Fatalf("release %d, want 2", release)
	}
	after, err := e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String(path)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(after.Parameter.Value) == aws.ToString(before.Parameter.Value) || after.Parameter.Version != before.Parameter.Version+1 {
		t.Errorf("parameter %s v%d -> %s v%d, want a new image and version", aws.ToString(before.Parameter.Value), before.Parameter.Version,
			aws.ToString(after.Parameter.Value), after.Parameter.Version)
	}
	imgs, err := e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"},
		Filters: []ec2types.Filter{sdkFilter("name", "amazon-eks-node-al2023-x86_64-standard-1.30-*")}})
	if err != nil || len(imgs.Images) != 2 {
		t.Fatalf("both releases should be describable: %v, %d images", err, len(imgs.Images))
	}
	_, err = e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0123456789abcdef0"}})
	if code := errorCode(t, err); code != "InvalidAMIID.NotFound" {
		t.Errorf("unknown AMI: %q", code)
	}
}
