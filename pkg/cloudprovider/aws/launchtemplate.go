package aws

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
)

// TagLaunchTemplateCluster marks the launch templates Kerf made for a cluster, so they can be
// found again after a restart and deleted when unused.
const TagLaunchTemplateCluster = "karpenter.k8s.aws/cluster"

// LaunchTemplateSpec is everything a generated launch template holds. Two Machines whose specs
// are equal share one template.
type LaunchTemplateSpec struct {
	ImageID string `json:"imageID"`
	// UserData in clear text; the template stores it base64-encoded.
	UserData            string                         `json:"userData"`
	BlockDeviceMappings []*v1alpha1.BlockDeviceMapping `json:"blockDeviceMappings,omitempty"`
	// MetadataOptions; unset fields take v1alpha1.DefaultMetadataOptions.
	MetadataOptions    *v1alpha1.MetadataOptions `json:"metadataOptions,omitempty"`
	SecurityGroupIDs   []string                  `json:"securityGroupIDs"`
	InstanceProfile    string                    `json:"instanceProfile,omitempty"`
	DetailedMonitoring bool                      `json:"detailedMonitoring,omitempty"`
	// Tags go on the template and on the volumes launched from it.
	Tags map[string]string `json:"tags,omitempty"`
	// HostnameType names the instances, and so their nodes: ip-name (empty) or resource-name.
	HostnameType string `json:"hostnameType,omitempty"`
}

// LaunchTemplate names a template in EC2.
type LaunchTemplate struct {
	ID   string
	Name string
}

// LaunchTemplateProvider finds or creates the launch template for a spec.
type LaunchTemplateProvider interface {
	// Ensure returns the template for spec, creating it on first use.
	Ensure(ctx context.Context, spec LaunchTemplateSpec) (LaunchTemplate, error)
	// Evict forgets the cached template of that name, so the next Ensure looks it up in EC2
	// again (and makes it anew if it is gone).
	Evict(name string)
	// DeleteUnused deletes the cluster's templates that no launch has used for
	// LaunchTemplateUnusedAfter and returns the names of those deleted; a failed delete does
	// not stop the rest, and the error joins every failure. See launchtemplate_gc.go.
	DeleteUnused(ctx context.Context) ([]string, error)
}

// DefaultLaunchTemplateProvider keeps templates named kerf/<cluster>/<hash of the spec>, so the
// name alone finds a template again after a restart; templates are cached LaunchTemplatesTTL.
type DefaultLaunchTemplateProvider struct {
	ec2         EC2API
	clusterName string
	retry       retrier
	clock       clock.Clock
	cache       *expiringCache[LaunchTemplate]
	// mu serialises creation so concurrent launches of one spec create one template.
	mu sync.Mutex
	// useMu guards lastUsed and deleting. Garbage collection holds it to decide, never across
	// a call to EC2.
	useMu    sync.Mutex
	lastUsed map[string]time.Time
	// deleting holds the templates garbage collection is deleting, each with a channel closed
	// when the delete is over; Ensure waits on it rather than hand out a template being deleted.
	deleting map[string]chan struct{}
	// waitingForDelete, when set (by tests), hears of every Ensure that starts waiting out a delete.
	waitingForDelete func(name string)
}

var _ LaunchTemplateProvider = (*DefaultLaunchTemplateProvider)(nil)

// NewLaunchTemplateProvider returns a LaunchTemplateProvider for the cluster.
func NewLaunchTemplateProvider(ec2api EC2API, clusterName string, clk clock.Clock) *DefaultLaunchTemplateProvider {
	return &DefaultLaunchTemplateProvider{ec2: ec2api, clusterName: clusterName, retry: newRetrier(clk, 0, 0), clock: clk,
		cache: newExpiringCache[LaunchTemplate](clk, LaunchTemplatesTTL), lastUsed: map[string]time.Time{},
		deleting: map[string]chan struct{}{}}
}

// Name is the template name for spec: kerf/<cluster>/<16 hex digits of the spec's hash>.
func (p *DefaultLaunchTemplateProvider) Name(spec LaunchTemplateSpec) (string, error) {
	normal := normalizeLaunchTemplateSpec(spec)
	data, err := json.Marshal(normal)
	if err != nil {
		return "", fmt.Errorf("hashing launch template spec, %w", err)
	}
	h := fnv.New64a()
	_, _ = h.Write(data) // hash writes never fail
	return launchTemplateNamePrefix(p.clusterName) + fmt.Sprintf("%016x", h.Sum64()), nil
}

// launchTemplateNamePrefix starts the name of every template Kerf makes for the cluster.
func launchTemplateNamePrefix(clusterName string) string { return "kerf/" + clusterName + "/" }

// normalizeLaunchTemplateSpec applies defaults and orders lists, so specs that launch the same
// instances hash the same.
func normalizeLaunchTemplateSpec(spec LaunchTemplateSpec) LaunchTemplateSpec {
	spec.SecurityGroupIDs = append([]string(nil), spec.SecurityGroupIDs...)
	sort.Strings(spec.SecurityGroupIDs)
	spec.MetadataOptions = withMetadataDefaults(spec.MetadataOptions)
	return spec
}

func withMetadataDefaults(o *v1alpha1.MetadataOptions) *v1alpha1.MetadataOptions {
	out := v1alpha1.DefaultMetadataOptions()
	if o == nil {
		return &out
	}
	if o.HTTPEndpoint != nil {
		out.HTTPEndpoint = o.HTTPEndpoint
	}
	if o.HTTPProtocolIPv6 != nil {
		out.HTTPProtocolIPv6 = o.HTTPProtocolIPv6
	}
	if o.HTTPPutResponseHopLimit != nil {
		out.HTTPPutResponseHopLimit = o.HTTPPutResponseHopLimit
	}
	if o.HTTPTokens != nil {
		out.HTTPTokens = o.HTTPTokens
	}
	return &out
}

// Ensure implements LaunchTemplateProvider: the cache, then EC2 by name, then a new template.
func (p *DefaultLaunchTemplateProvider) Ensure(ctx context.Context, spec LaunchTemplateSpec) (LaunchTemplate, error) {
	name, err := p.Name(spec)
	if err != nil {
		return LaunchTemplate{}, err
	}
	// Recorded before the template is looked up, so garbage collection either sees this use or
	// has already decided to delete the template; then the delete is waited out and the
	// template made again below.
	if err := p.markUsed(ctx, name); err != nil {
		return LaunchTemplate{}, err
	}
	if lt, ok := p.cache.Get(name); ok {
		return lt, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if lt, ok := p.cache.Get(name); ok {
		return lt, nil
	}
	lt, found, err := p.find(ctx, name)
	if err != nil {
		return LaunchTemplate{}, err
	}
	if !found {
		lt, err = p.create(ctx, name, normalizeLaunchTemplateSpec(spec))
		if errorCode(err) == codeLaunchTemplateNameExists {
			// Made between our look-up and create (another replica); use that one.
			lt, found, err = p.find(ctx, name)
			if err == nil && !found {
				err = fmt.Errorf("launch template %s exists but cannot be described", name)
			}
		}
		if err != nil {
			return LaunchTemplate{}, err
		}
	}
	p.cache.Set(name, lt)
	return lt, nil
}

// Evict implements LaunchTemplateProvider.
func (p *DefaultLaunchTemplateProvider) Evict(name string) { p.cache.Delete(name) }

func (p *DefaultLaunchTemplateProvider) find(ctx context.Context, name string) (LaunchTemplate, bool, error) {
	// A filter, not LaunchTemplateNames: a missing name is then an empty answer, not an error.
	out, err := call(ctx, p.retry, func() (*ec2.DescribeLaunchTemplatesOutput, error) {
		return p.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{
			Filters: []ec2types.Filter{{Name: aws.String("launch-template-name"), Values: []string{name}}}})
	})
	if err != nil {
		return LaunchTemplate{}, false, fmt.Errorf("describing launch template %s, %w", name, err)
	}
	for _, lt := range out.LaunchTemplates {
		if aws.ToString(lt.LaunchTemplateName) == name {
			return LaunchTemplate{ID: aws.ToString(lt.LaunchTemplateId), Name: name}, true, nil
		}
	}
	return LaunchTemplate{}, false, nil
}

func (p *DefaultLaunchTemplateProvider) create(ctx context.Context, name string, spec LaunchTemplateSpec) (LaunchTemplate, error) {
	tags := map[string]string{}
	for k, v := range spec.Tags {
		tags[k] = v
	}
	tags[TagLaunchTemplateCluster] = p.clusterName
	tags["kubernetes.io/cluster/"+p.clusterName] = "owned"
	md := spec.MetadataOptions
	data := &ec2types.RequestLaunchTemplateData{
		ImageId:          aws.String(spec.ImageID),
		UserData:         aws.String(base64.StdEncoding.EncodeToString([]byte(spec.UserData))),
		SecurityGroupIds: spec.SecurityGroupIDs,
		MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpEndpoint:            ec2types.LaunchTemplateInstanceMetadataEndpointState(aws.ToString(md.HTTPEndpoint)),
			HttpProtocolIpv6:        ec2types.LaunchTemplateInstanceMetadataProtocolIpv6(aws.ToString(md.HTTPProtocolIPv6)),
			HttpPutResponseHopLimit: aws.Int32(int32(aws.ToInt64(md.HTTPPutResponseHopLimit))),
			HttpTokens:              ec2types.LaunchTemplateHttpTokensState(aws.ToString(md.HTTPTokens)),
		},
		BlockDeviceMappings: blockDeviceMappings(spec.BlockDeviceMappings),
		Monitoring:          &ec2types.LaunchTemplatesMonitoringRequest{Enabled: aws.Bool(spec.DetailedMonitoring)},
		TagSpecifications: []ec2types.LaunchTemplateTagSpecificationRequest{{ResourceType: ec2types.ResourceTypeVolume, Tags: ec2Tags(tags)},
			{ResourceType: ec2types.ResourceTypeNetworkInterface, Tags: ec2Tags(tags)}},
	}
	if spec.HostnameType != "" {
		data.PrivateDnsNameOptions = &ec2types.LaunchTemplatePrivateDnsNameOptionsRequest{HostnameType: ec2types.HostnameType(spec.HostnameType)}
	}
	if spec.InstanceProfile != "" {
		data.IamInstanceProfile = &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: aws.String(spec.InstanceProfile)}
	}
	out, err := call(ctx, p.retry, func() (*ec2.CreateLaunchTemplateOutput, error) {
		return p.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
			LaunchTemplateName: aws.String(name),
			LaunchTemplateData: data,
			TagSpecifications:  []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeLaunchTemplate, Tags: ec2Tags(tags)}},
		})
	})
	if err != nil {
		return LaunchTemplate{}, fmt.Errorf("creating launch template %s, %w", name, err)
	}
	lt := LaunchTemplate{ID: aws.ToString(out.LaunchTemplate.LaunchTemplateId), Name: name}
	log.FromContext(ctx).Info("created launch template", "launchTemplate", lt.Name, "id", lt.ID, "imageID", spec.ImageID)
	return lt, nil
}

func blockDeviceMappings(in []*v1alpha1.BlockDeviceMapping) []ec2types.LaunchTemplateBlockDeviceMappingRequest {
	var out []ec2types.LaunchTemplateBlockDeviceMappingRequest
	for _, m := range in {
		if m == nil {
			continue
		}
		r := ec2types.LaunchTemplateBlockDeviceMappingRequest{DeviceName: m.DeviceName}
		if e := m.EBS; e != nil {
			ebs := &ec2types.LaunchTemplateEbsBlockDeviceRequest{DeleteOnTermination: e.DeleteOnTermination, Encrypted: e.Encrypted,
				KmsKeyId: e.KMSKeyID, SnapshotId: e.SnapshotID, VolumeType: ec2types.VolumeType(aws.ToString(e.VolumeType))}
			if e.IOPS != nil {
				ebs.Iops = aws.Int32(int32(*e.IOPS))
			}
			if e.Throughput != nil {
				ebs.Throughput = aws.Int32(int32(*e.Throughput))
			}
			if e.VolumeSize != nil {
				// EC2 takes GiB; round up so a 1.5Gi request never shrinks.
				gib := (e.VolumeSize.Value() + (1<<30 - 1)) >> 30
				ebs.VolumeSize = aws.Int32(int32(gib))
			}
			r.Ebs = ebs
		}
		out = append(out, r)
	}
	return out
}

// ec2Tags renders a map as EC2 tags sorted by key.
func ec2Tags(tags map[string]string) []ec2types.Tag {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]ec2types.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}
