package aws

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"k8s.io/utils/clock"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// Accelerator variants of the EKS-optimized images.
const (
	AcceleratorNone   = ""
	AcceleratorNvidia = "nvidia"
	AcceleratorNeuron = "neuron"
)

// AMI is an image resolved for a node template and the instance types it suits.
type AMI struct {
	ID   string
	Name string
	// Architecture in Kubernetes' spelling: amd64 or arm64.
	Architecture string
	// Accelerator is the variant an EKS-optimized image was built for (nvidia, neuron, or none).
	// Images found through an amiSelector carry AnyAccelerator: the user vouches for them.
	Accelerator string
	Created     time.Time
}

// AnyAccelerator marks an image that suits instance types with or without accelerators.
const AnyAccelerator = "*"

// Suits reports whether the image can boot the instance type.
func (a AMI) Suits(it *scheduling.InstanceType) bool {
	if arch, ok := it.Requirements.Get(v1alpha5.LabelArch); ok && !arch.Has(a.Architecture) {
		return false
	}
	return a.Accelerator == AnyAccelerator || a.Accelerator == AcceleratorOf(it)
}

// AcceleratorOf is the image variant an instance type needs: nvidia for NVIDIA GPUs, neuron for
// Inferentia and Trainium, none otherwise.
func AcceleratorOf(it *scheduling.InstanceType) string {
	label := func(key string) string {
		if r, ok := it.Requirements.Get(key); ok {
			if values, finite := r.Values(); finite && len(values) == 1 {
				return values[0]
			}
		}
		return ""
	}
	if strings.EqualFold(label(v1alpha5.LabelInstanceGPUManufacturer), "nvidia") {
		return AcceleratorNvidia
	}
	if strings.EqualFold(label(v1alpha5.LabelInstanceAcceleratorManufacturer), "aws") {
		return AcceleratorNeuron
	}
	return AcceleratorNone
}

// AMIProvider resolves the images a node template launches.
type AMIProvider interface {
	// List returns the newest image per architecture and accelerator variant, sorted by
	// architecture then variant.
	List(ctx context.Context, nodeTemplate *v1alpha1.AWSNodeTemplate) ([]AMI, error)
}

// DefaultAMIProvider reads the public EKS-optimized SSM parameters, or DescribeImages for an
// amiSelector; answers are cached for AMIsTTL.
type DefaultAMIProvider struct {
	ec2               EC2API
	ssm               SSMAPI
	kubernetesVersion func(context.Context) (string, error)
	retry             retrier
	parameters        *expiringCache[string] // SSM path -> image ID
	images            *expiringCache[[]AMI]  // selector or image ID -> images
}

var _ AMIProvider = (*DefaultAMIProvider)(nil)

// NewAMIProvider returns an AMIProvider. kubernetesVersion returns the cluster's minor version
// ("1.30"); the controller reads it from the API server's /version.
func NewAMIProvider(ec2api EC2API, ssmapi SSMAPI, kubernetesVersion func(context.Context) (string, error), clk clock.Clock) *DefaultAMIProvider {
	return &DefaultAMIProvider{ec2: ec2api, ssm: ssmapi, kubernetesVersion: kubernetesVersion, retry: newRetrier(clk, 0, 0),
		parameters: newExpiringCache[string](clk, AMIsTTL), images: newExpiringCache[[]AMI](clk, AMIsTTL)}
}

// List implements AMIProvider.
func (p *DefaultAMIProvider) List(ctx context.Context, nodeTemplate *v1alpha1.AWSNodeTemplate) ([]AMI, error) {
	var amis []AMI
	var err error
	if len(nodeTemplate.Spec.AMISelector) > 0 {
		amis, err = p.fromSelector(ctx, nodeTemplate.Spec.AMISelector)
	} else {
		amis, err = p.fromSSM(ctx, amiFamily(nodeTemplate))
	}
	if err != nil {
		return nil, fmt.Errorf("resolving AMIs for node template %s, %w", nodeTemplate.Name, err)
	}
	return amis, nil
}

// amiFamily is the node template's family, AL2 when unset as in Karpenter v0.31.
func amiFamily(nodeTemplate *v1alpha1.AWSNodeTemplate) string {
	if f := nodeTemplate.Spec.AMIFamily; f != nil && *f != "" {
		return *f
	}
	return v1alpha1.AMIFamilyAL2
}

// ssmImage is one public parameter naming the latest image of a variant.
type ssmImage struct {
	path         string
	architecture string
	accelerator  string
}

// ssmImages lists the public parameters of a family for a Kubernetes minor version.
func ssmImages(family, version string) ([]ssmImage, error) {
	eks := "/aws/service/eks/optimized-ami/" + version + "/"
	switch family {
	case v1alpha1.AMIFamilyAL2:
		return []ssmImage{
			{eks + "amazon-linux-2/recommended/image_id", v1alpha5.ArchAMD64, AcceleratorNone},
			{eks + "amazon-linux-2-arm64/recommended/image_id", v1alpha5.ArchARM64, AcceleratorNone},
			{eks + "amazon-linux-2-gpu/recommended/image_id", v1alpha5.ArchAMD64, AcceleratorNvidia},
			{eks + "amazon-linux-2-gpu/recommended/image_id", v1alpha5.ArchAMD64, AcceleratorNeuron},
		}, nil
	case v1alpha1.AMIFamilyAL2023:
		al := eks + "amazon-linux-2023/"
		return []ssmImage{
			{al + "x86_64/standard/recommended/image_id", v1alpha5.ArchAMD64, AcceleratorNone},
			{al + "arm64/standard/recommended/image_id", v1alpha5.ArchARM64, AcceleratorNone},
			{al + "x86_64/nvidia/recommended/image_id", v1alpha5.ArchAMD64, AcceleratorNvidia},
			{al + "arm64/nvidia/recommended/image_id", v1alpha5.ArchARM64, AcceleratorNvidia},
			{al + "x86_64/neuron/recommended/image_id", v1alpha5.ArchAMD64, AcceleratorNeuron},
		}, nil
	case v1alpha1.AMIFamilyBottlerocket:
		br := "/aws/service/bottlerocket/aws-k8s-" + version
		return []ssmImage{
			{br + "/x86_64/latest/image_id", v1alpha5.ArchAMD64, AcceleratorNone},
			{br + "/arm64/latest/image_id", v1alpha5.ArchARM64, AcceleratorNone},
			{br + "-nvidia/x86_64/latest/image_id", v1alpha5.ArchAMD64, AcceleratorNvidia},
			{br + "-nvidia/arm64/latest/image_id", v1alpha5.ArchARM64, AcceleratorNvidia},
		}, nil
	case v1alpha1.AMIFamilyUbuntu:
		ub := "/aws/service/canonical/ubuntu/eks/20.04/" + version + "/stable/current/"
		return []ssmImage{
			{ub + "amd64/hvm/ebs-gp2/ami-id", v1alpha5.ArchAMD64, AcceleratorNone},
			{ub + "arm64/hvm/ebs-gp2/ami-id", v1alpha5.ArchARM64, AcceleratorNone},
		}, nil
	case v1alpha1.AMIFamilyWindows2019, v1alpha1.AMIFamilyWindows2022:
		year := strings.TrimPrefix(family, "Windows")
		return []ssmImage{
			{"/aws/service/ami-windows-latest/Windows_Server-" + year + "-English-Core-EKS_Optimized-" + version + "/image_id", v1alpha5.ArchAMD64, AcceleratorNone},
		}, nil
	case v1alpha1.AMIFamilyCustom:
		return nil, fmt.Errorf("amiFamily Custom needs an amiSelector")
	}
	return nil, fmt.Errorf("unknown amiFamily %q", family)
}

// fromSSM resolves every variant of the family. A variant AWS does not publish (a GPU image for
// a new Kubernetes version, say) is skipped; only when none resolves is it an error.
func (p *DefaultAMIProvider) fromSSM(ctx context.Context, family string) ([]AMI, error) {
	version, err := p.kubernetesVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the Kubernetes version, %w", err)
	}
	variants, err := ssmImages(family, version)
	if err != nil {
		return nil, err
	}
	var amis []AMI
	var lastErr error
	for _, v := range variants {
		id, err := p.parameter(ctx, v.path)
		if IsNotFound(err) {
			lastErr = err
			continue
		}
		if err != nil {
			return nil, err
		}
		amis = append(amis, AMI{ID: id, Architecture: v.architecture, Accelerator: v.accelerator})
	}
	if len(amis) == 0 {
		return nil, fmt.Errorf("no %s image published for Kubernetes %s, %w", family, version, lastErr)
	}
	sortAMIs(amis)
	return amis, nil
}

func (p *DefaultAMIProvider) parameter(ctx context.Context, path string) (string, error) {
	if id, ok := p.parameters.Get(path); ok {
		return id, nil
	}
	out, err := call(ctx, p.retry, func() (*ssm.GetParameterOutput, error) {
		return p.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(path)})
	})
	if err != nil {
		return "", fmt.Errorf("getting SSM parameter %s, %w", path, err)
	}
	if out.Parameter == nil || aws.ToString(out.Parameter.Value) == "" {
		return "", fmt.Errorf("getting SSM parameter %s, empty value", path)
	}
	id := aws.ToString(out.Parameter.Value)
	p.parameters.Set(path, id)
	return id, nil
}

// amiSelectorIDsKey lists image IDs in an amiSelector, as Karpenter v0.31 spelt it.
const amiSelectorIDsKey = "aws::ids"

// fromSelector resolves an amiSelector: aws::ids (v0.31's key; aws-ids, as the other selectors
// spell it, too), aws::name (wildcards allowed), aws::owners
// (self and amazon when neither owners nor IDs are given), the rest as tags. The newest image
// per architecture wins.
func (p *DefaultAMIProvider) fromSelector(ctx context.Context, selector map[string]string) ([]AMI, error) {
	key := selectorKey(selector)
	if amis, ok := p.images.Get(key); ok {
		return amis, nil
	}
	input := &ec2.DescribeImagesInput{}
	tags := map[string]string{}
	for k, v := range selector {
		switch k {
		case amiSelectorIDsKey, selectorIDsKey:
			input.Filters = append(input.Filters, ec2types.Filter{Name: aws.String("image-id"), Values: splitList(v)})
		case "aws::name":
			input.Filters = append(input.Filters, ec2types.Filter{Name: aws.String("name"), Values: splitList(v)})
		case "aws::owners":
			input.Owners = splitList(v)
		default:
			tags[k] = v
		}
	}
	input.Filters = append(input.Filters, selectorFilters(tags, "image-id")...)
	sort.Slice(input.Filters, func(i, j int) bool { return aws.ToString(input.Filters[i].Name) < aws.ToString(input.Filters[j].Name) })
	_, ids := selector[amiSelectorIDsKey]
	if _, dashed := selector[selectorIDsKey]; !ids && !dashed && len(input.Owners) == 0 {
		input.Owners = []string{"self", "amazon"}
	}
	newest := map[string]AMI{}
	pages := ec2.NewDescribeImagesPaginator(p.ec2, input)
	for pages.HasMorePages() {
		out, err := call(ctx, p.retry, func() (*ec2.DescribeImagesOutput, error) { return pages.NextPage(ctx) })
		if err != nil {
			return nil, fmt.Errorf("describing images, %w", err)
		}
		for _, img := range out.Images {
			ami, ok := amiFromImage(img)
			if !ok {
				continue
			}
			if cur, seen := newest[ami.Architecture]; !seen || ami.Created.After(cur.Created) ||
				(ami.Created.Equal(cur.Created) && ami.ID > cur.ID) {
				newest[ami.Architecture] = ami
			}
		}
	}
	if len(newest) == 0 {
		return nil, fmt.Errorf("no image matches amiSelector %v", selector)
	}
	amis := make([]AMI, 0, len(newest))
	for _, a := range newest {
		amis = append(amis, a)
	}
	sortAMIs(amis)
	p.images.Set(key, amis)
	return amis, nil
}

// amiFromImage reads an EC2 image; images of an architecture Kubernetes does not run are skipped.
func amiFromImage(img ec2types.Image) (AMI, bool) {
	var arch string
	switch img.Architecture {
	case ec2types.ArchitectureValuesX8664:
		arch = v1alpha5.ArchAMD64
	case ec2types.ArchitectureValuesArm64:
		arch = v1alpha5.ArchARM64
	default:
		return AMI{}, false
	}
	// An unparseable date sorts as oldest rather than failing the whole selector.
	created, _ := time.Parse(time.RFC3339, aws.ToString(img.CreationDate))
	return AMI{ID: aws.ToString(img.ImageId), Name: aws.ToString(img.Name), Architecture: arch, Accelerator: AnyAccelerator, Created: created}, true
}

func sortAMIs(amis []AMI) {
	sort.Slice(amis, func(i, j int) bool {
		if amis[i].Architecture != amis[j].Architecture {
			return amis[i].Architecture < amis[j].Architecture
		}
		return amis[i].Accelerator < amis[j].Accelerator
	})
}
