package aws_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
)

func (e *launchEnv) amiProvider() *aws.DefaultAMIProvider {
	return aws.NewAMIProvider(e.ec2, e.ssm, func(context.Context) (string, error) { return testK8sVersion, nil }, e.clock)
}

func (e *launchEnv) param(path string) string {
	e.t.Helper()
	v, ok := e.srv.World.Parameter(path)
	if !ok {
		e.t.Fatalf("awsim has no parameter %s", path)
	}
	return v
}

func TestAMIs_ResolvedFromSSMPerFamily(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	eks := "/aws/service/eks/optimized-ami/1.30/"
	br := "/aws/service/bottlerocket/aws-k8s-1.30"
	type want struct{ arch, accelerator, param string }
	tests := []struct {
		family string
		want   []want
	}{
		{v1alpha1.AMIFamilyAL2, []want{
			{"amd64", "", eks + "amazon-linux-2/recommended/image_id"},
			{"amd64", "neuron", eks + "amazon-linux-2-gpu/recommended/image_id"},
			{"amd64", "nvidia", eks + "amazon-linux-2-gpu/recommended/image_id"},
			{"arm64", "", eks + "amazon-linux-2-arm64/recommended/image_id"},
		}},
		{v1alpha1.AMIFamilyAL2023, []want{
			{"amd64", "", eks + "amazon-linux-2023/x86_64/standard/recommended/image_id"},
			{"amd64", "neuron", eks + "amazon-linux-2023/x86_64/neuron/recommended/image_id"},
			{"amd64", "nvidia", eks + "amazon-linux-2023/x86_64/nvidia/recommended/image_id"},
			{"arm64", "", eks + "amazon-linux-2023/arm64/standard/recommended/image_id"},
			{"arm64", "nvidia", eks + "amazon-linux-2023/arm64/nvidia/recommended/image_id"},
		}},
		{v1alpha1.AMIFamilyBottlerocket, []want{
			{"amd64", "", br + "/x86_64/latest/image_id"},
			{"amd64", "nvidia", br + "-nvidia/x86_64/latest/image_id"},
			{"arm64", "", br + "/arm64/latest/image_id"},
			{"arm64", "nvidia", br + "-nvidia/arm64/latest/image_id"},
		}},
	}
	p := e.amiProvider()
	for _, tc := range tests {
		t.Run(tc.family, func(t *testing.T) {
			amis, err := p.List(e.ctx, defaultNodeTemplate(tc.family))
			if err != nil {
				t.Fatal(err)
			}
			if len(amis) != len(tc.want) {
				t.Fatalf("got %d images %+v, want %d", len(amis), amis, len(tc.want))
			}
			for i, w := range tc.want {
				got := amis[i]
				if got.Architecture != w.arch || got.Accelerator != w.accelerator || got.ID != e.param(w.param) {
					t.Errorf("image %d = %+v, want %s/%q %s", i, got, w.arch, w.accelerator, e.param(w.param))
				}
			}
		})
	}
}

func TestAMIs_FamilyErrors(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	tests := []struct {
		name    string
		family  string
		version func(context.Context) (string, error)
		want    string
	}{
		{"Custom needs an amiSelector", v1alpha1.AMIFamilyCustom, nil, "amiFamily Custom needs an amiSelector"},
		{"Ubuntu is not published in awsim", v1alpha1.AMIFamilyUbuntu, nil, "no Ubuntu image published for Kubernetes 1.30"},
		{"an unsupported Kubernetes version", v1alpha1.AMIFamilyAL2023, func(context.Context) (string, error) { return "1.19", nil }, "ParameterNotFound"},
		{"the version cannot be read", v1alpha1.AMIFamilyAL2023, func(context.Context) (string, error) { return "", errors.New("apiserver down") }, "reading the Kubernetes version, apiserver down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			version := tc.version
			if version == nil {
				version = func(context.Context) (string, error) { return testK8sVersion, nil }
			}
			p := aws.NewAMIProvider(e.ec2, e.ssm, version, e.clock)
			_, err := p.List(e.ctx, defaultNodeTemplate(tc.family))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestAMIs_SelectorNewestPerArchitectureWins(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	e.srv.World.RollAMIs() // two releases of every image
	x86 := e.param("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id")
	arm := e.param("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/arm64/standard/recommended/image_id")
	old := e.imagesNamed(t, "amazon-eks-node-al2023-x86_64-standard-1.30-*")
	var oldX86 string
	for _, id := range old {
		if id != x86 {
			oldX86 = id
		}
	}
	if _, err := e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{oldX86},
		Tags: []ec2types.Tag{{Key: awssdk.String("team"), Value: awssdk.String("ml")}}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		selector map[string]string
		want     map[string]string // arch -> image
	}{
		{"name wildcard with owners picks the newest release", map[string]string{"aws::name": "amazon-eks-node-al2023-*-standard-1.30-*", "aws::owners": "amazon"},
			map[string]string{"amd64": x86, "arm64": arm}},
		{"name wildcard defaults to self and amazon owners", map[string]string{"aws::name": "amazon-eks-node-al2023-x86_64-standard-1.30-*"},
			map[string]string{"amd64": x86}},
		{"aws-ids pins an older image", map[string]string{"aws-ids": oldX86}, map[string]string{"amd64": oldX86}},
		{"aws::ids, as v0.31 wrote it, pins an older image", map[string]string{"aws::ids": oldX86}, map[string]string{"amd64": oldX86}},
		{"tags", map[string]string{"team": "ml"}, map[string]string{"amd64": oldX86}},
	}
	p := e.amiProvider()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nt := defaultNodeTemplate(v1alpha1.AMIFamilyCustom)
			nt.Spec.AMISelector = tc.selector
			amis, err := p.List(e.ctx, nt)
			if err != nil {
				t.Fatal(err)
			}
			if len(amis) != len(tc.want) {
				t.Fatalf("got %+v, want %v", amis, tc.want)
			}
			for _, a := range amis {
				if tc.want[a.Architecture] != a.ID || a.Accelerator != aws.AnyAccelerator {
					t.Errorf("%s: %s (%s), want %s", a.Architecture, a.ID, a.Name, tc.want[a.Architecture])
				}
			}
		})
	}
	nt := defaultNodeTemplate(v1alpha1.AMIFamilyCustom)
	nt.Spec.AMISelector = map[string]string{"aws::name": "no-such-image-*"}
	if _, err := p.List(e.ctx, nt); err == nil || !strings.Contains(err.Error(), "no image matches amiSelector") {
		t.Errorf("selector matching nothing: %v", err)
	}
}

func (e *launchEnv) imagesNamed(t *testing.T, pattern string) []string {
	t.Helper()
	out, err := e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"},
		Filters: []ec2types.Filter{{Name: awssdk.String("name"), Values: []string{pattern}}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, img := range out.Images {
		ids = append(ids, awssdk.ToString(img.ImageId))
	}
	if len(ids) < 2 {
		t.Fatalf("want two releases named %s, got %v", pattern, ids)
	}
	return ids
}

func TestAMIs_SSMAnswersCachedForAMIsTTL(t *testing.T) {
	e := newLaunchEnv(t, defaultNodeTemplate(v1alpha1.AMIFamilyAL2023), nil)
	path := "/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id"
	p := e.amiProvider()
	nt := defaultNodeTemplate(v1alpha1.AMIFamilyAL2023)
	first, err := p.List(e.ctx, nt)
	if err != nil || first[0].ID != e.param(path) {
		t.Fatalf("List = %+v, %v", first, err)
	}
	e.srv.World.RollAMIs()
	if again, _ := p.List(e.ctx, nt); again[0].ID != first[0].ID {
		t.Errorf("new release seen before AMIsTTL")
	}
	e.clock.Step(aws.AMIsTTL)
	if later, _ := p.List(e.ctx, nt); later[0].ID != e.param(path) || later[0].ID == first[0].ID {
		t.Errorf("after AMIsTTL got %s, want the new release %s", later[0].ID, e.param(path))
	}
}
