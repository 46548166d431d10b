package aws

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// InstanceTypeProvider lists the instance types a node template can launch, with capacity,
// overhead and priced offerings, for a kubelet configuration (which changes pods and reserved
// resources).
type InstanceTypeProvider interface {
	List(ctx context.Context, nodeTemplate *v1alpha1.AWSNodeTemplate, kubelet *v1alpha5.KubeletConfiguration) ([]*scheduling.InstanceType, error)
}

// CloudProviderOptions wires a CloudProvider. The cluster fields, KubeClient, EC2, SSM,
// InstanceTypes and KubernetesVersion are required; each provider left nil gets its default
// implementation over EC2 and SSM.
type CloudProviderOptions struct {
	ClusterName     string
	ClusterEndpoint string
	// CABundle is the cluster CA, base64-encoded.
	CABundle string
	// ClusterCIDR is the service CIDR, passed to nodeadm on AL2023.
	ClusterCIDR string
	// DefaultInstanceProfile is the IAM instance profile of nodes whose AWSNodeTemplate names none.
	DefaultInstanceProfile string
	// PodNetworking must be what the InstanceTypes were built with: where it sets a node's pod
	// count apart from its ENIs, the user data tells the kubelet.
	PodNetworking PodNetworking
	// Tags go on every instance, volume, launch template and fleet; a node template's tags win.
	Tags map[string]string
	// ResourceNames names instances, and so nodes, by instance ID (EC2's resource-name hostnames)
	// rather than private IP; v0.31's aws.nodeNameConvention.
	ResourceNames bool

	// KubeClient reads AWSNodeTemplates.
	KubeClient client.Reader
	EC2        EC2API
	SSM        SSMAPI
	// InstanceTypes resolves the instance types of a node template.
	InstanceTypes InstanceTypeProvider
	// KubernetesVersion returns the cluster's minor version, e.g. "1.30", for the AMI lookup.
	KubernetesVersion func(context.Context) (string, error)
	Clock             clock.Clock

	// UnavailableOfferings, when set, hears of the pools a launch found out of capacity before it
	// succeeded in another: the same record provisioning marks when a launch fails for capacity
	// (lifecycle.UnavailableOfferingsCache), so the next Solve plans around them too.
	UnavailableOfferings UnavailableOfferingsMarker

	// ThrottleAttempts and ThrottleBackoff shape the retries of throttled launch calls (0: 5
	// attempts from 200ms).
	ThrottleAttempts int
	ThrottleBackoff  time.Duration

	Subnets         SubnetProvider
	SecurityGroups  SecurityGroupProvider
	AMIs            AMIProvider
	LaunchTemplates LaunchTemplateProvider
	Instances       InstanceProvider
}

// UnavailableOfferingsMarker records offerings that ran out of capacity or were just
// interrupted, and says which are out now; implementations are safe for concurrent use.
type UnavailableOfferingsMarker interface {
	MarkUnavailable(ctx context.Context, instanceType, zone, capacityType string)
	IsUnavailable(instanceType, zone, capacityType string) bool
}

func (o CloudProviderOptions) validate() error {
	var errs []error
	for name, missing := range map[string]bool{
		"ClusterName": o.ClusterName == "", "ClusterEndpoint": o.ClusterEndpoint == "", "KubeClient": o.KubeClient == nil,
		"EC2": o.EC2 == nil, "InstanceTypes": o.InstanceTypes == nil,
		"SSM or AMIs": o.SSM == nil && o.AMIs == nil, "KubernetesVersion or AMIs": o.KubernetesVersion == nil && o.AMIs == nil,
	} {
		if missing {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// The provider reads each Provisioner's AWSNodeTemplate through the manager's cache.
//
// +kubebuilder:rbac:groups=karpenter.k8s.aws,resources=awsnodetemplates,verbs=get;list;watch

// CloudProvider launches and removes EC2 instances for Machines.
type CloudProvider struct {
	opts            CloudProviderOptions
	kube            client.Reader
	instanceTypes   InstanceTypeProvider
	subnets         SubnetProvider
	securityGroups  SecurityGroupProvider
	amis            AMIProvider
	launchTemplates LaunchTemplateProvider
	instances       InstanceProvider
}

var _ cloudprovider.CloudProvider = (*CloudProvider)(nil)

// NewCloudProvider checks opts and fills in the default providers.
func NewCloudProvider(opts CloudProviderOptions) (*CloudProvider, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("building the AWS cloud provider, %w", err)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	c := &CloudProvider{opts: opts, kube: opts.KubeClient, instanceTypes: opts.InstanceTypes, subnets: opts.Subnets,
		securityGroups: opts.SecurityGroups, amis: opts.AMIs, launchTemplates: opts.LaunchTemplates, instances: opts.Instances}
	if c.subnets == nil {
		c.subnets = NewSubnetProvider(opts.EC2, opts.Clock)
	}
	if c.securityGroups == nil {
		c.securityGroups = NewSecurityGroupProvider(opts.EC2, opts.Clock)
	}
	if c.amis == nil {
		c.amis = NewAMIProvider(opts.EC2, opts.SSM, opts.KubernetesVersion, opts.Clock)
	}
	if c.launchTemplates == nil {
		c.launchTemplates = NewLaunchTemplateProvider(opts.EC2, opts.ClusterName, opts.Clock)
	}
	if c.instances == nil {
		c.instances = NewInstanceProvider(opts.EC2, opts.ClusterName, opts.Clock, opts.ThrottleAttempts, opts.ThrottleBackoff)
	}
	return c, nil
}

// Name implements cloudprovider.CloudProvider.
func (c *CloudProvider) Name() string { return "aws" }

// GetInstanceTypes implements cloudprovider.CloudProvider.
func (c *CloudProvider) GetInstanceTypes(ctx context.Context, provisioner *v1alpha5.Provisioner) ([]*scheduling.InstanceType, error) {
	nodeTemplate, err := c.nodeTemplate(ctx, provisioner.Spec.ProviderRef)
	if err != nil {
		return nil, fmt.Errorf("listing instance types of provisioner %s, %w", provisioner.Name, err)
	}
	if nodeTemplate, err = c.withSubnets(ctx, nodeTemplate); err != nil {
		return nil, fmt.Errorf("listing instance types of provisioner %s, %w", provisioner.Name, err)
	}
	its, err := c.instanceTypes.List(ctx, nodeTemplate, provisioner.Spec.KubeletConfiguration)
	if err != nil {
		return nil, fmt.Errorf("listing instance types of provisioner %s, %w", provisioner.Name, err)
	}
	return its, nil
}

// withSubnets returns a copy of nodeTemplate whose status lists the subnets its subnetSelector
// selects now, so its instance types are offered only in zones with a subnet to launch into: a
// plan into any other zone could never launch. (Karpenter v0.31 read the same from the status
// its AWSNodeTemplate controller wrote.) The subnets are cached; a selector matching none is an
// error naming it.
func (c *CloudProvider) withSubnets(ctx context.Context, nodeTemplate *v1alpha1.AWSNodeTemplate) (*v1alpha1.AWSNodeTemplate, error) {
	subnets, err := c.subnets.List(ctx, nodeTemplate)
	if err != nil {
		return nil, err
	}
	out := nodeTemplate.DeepCopy()
	out.Status.Subnets = make([]v1alpha1.Subnet, 0, len(subnets))
	for _, s := range subnets {
		out.Status.Subnets = append(out.Status.Subnets, v1alpha1.Subnet{ID: s.ID, Zone: s.Zone})
	}
	return out, nil
}

func (c *CloudProvider) nodeTemplate(ctx context.Context, ref *v1alpha5.MachineTemplateRef) (*v1alpha1.AWSNodeTemplate, error) {
	if ref == nil || ref.Name == "" {
		return nil, fmt.Errorf("no providerRef names an AWSNodeTemplate")
	}
	nodeTemplate := &v1alpha1.AWSNodeTemplate{}
	if err := c.kube.Get(ctx, types.NamespacedName{Name: ref.Name}, nodeTemplate); err != nil {
		return nil, fmt.Errorf("getting AWSNodeTemplate %s, %w", ref.Name, err)
	}
	return nodeTemplate, nil
}

// Create implements cloudprovider.CloudProvider. The caller wraps errors with the Machine's name.
func (c *CloudProvider) Create(ctx context.Context, machine *v1alpha5.Machine) (*v1alpha5.Machine, error) {
	nodeTemplate, err := c.nodeTemplate(ctx, machine.Spec.MachineTemplateRef)
	if err != nil {
		return nil, err
	}
	if nodeTemplate, err = c.withSubnets(ctx, nodeTemplate); err != nil {
		return nil, err
	}
	its, err := c.instanceTypes.List(ctx, nodeTemplate, machine.Spec.Kubelet)
	if err != nil {
		return nil, fmt.Errorf("listing instance types, %w", err)
	}
	reqs, err := scheduling.RequirementsFromNodeSelector(machine.Spec.Requirements)
	if err != nil {
		return nil, fmt.Errorf("reading machine requirements, %w", err)
	}
	if c.opts.UnavailableOfferings != nil {
		// A launch avoids the pools the Snapshot already planned around: out of capacity, or
		// just interrupted. The Machine's candidate types may still have such a pool.
		its = scheduling.WithoutOfferings(its, c.opts.UnavailableOfferings.IsUnavailable)
	}
	candidates, capacityType := launchCandidates(its, reqs, machine.Spec.Resources.Requests)
	if len(candidates) == 0 {
		return nil, cloudprovider.NewInsufficientCapacityError(fmt.Errorf("no available offering of %d instance types satisfies the machine's requirements and requests", len(its)))
	}
	req, err := c.launchRequest(ctx, machine, nodeTemplate, candidates, reqs, capacityType)
	if err != nil {
		return nil, err
	}
	inst, err := c.instances.Launch(ctx, req)
	if isLaunchTemplateNotFound(err) && c.evictTemplates(ctx, machine, req) {
		// A template of Kerf's was deleted behind the cache (by hand, or by another replica's
		// garbage collection); once more with templates looked up or made afresh. The failed
		// request launched nothing; if EC2 recorded it under the token, Launch derives a new one.
		if req, err = c.launchRequest(ctx, machine, nodeTemplate, candidates, reqs, capacityType); err != nil {
			return nil, err
		}
		inst, err = c.instances.Launch(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	c.subnets.MarkLaunched(inst.SubnetID)
	c.markUnavailable(ctx, machine, inst)
	var it *scheduling.InstanceType
	for _, cand := range candidates {
		if cand.Name == inst.Type {
			it = cand
		}
	}
	if it == nil {
		return nil, fmt.Errorf("EC2 launched %s (%s), which was not requested", inst.ID, inst.Type)
	}
	return launchedMachine(machine, nodeTemplate, inst, it), nil
}

// evictTemplates forgets the cached templates Kerf made for req and reports whether there were
// any. A template the node template names is the user's: Kerf cannot make it again.
func (c *CloudProvider) evictTemplates(ctx context.Context, machine *v1alpha5.Machine, req LaunchRequest) bool {
	evicted := map[string]bool{}
	for _, o := range req.Overrides {
		if o.LaunchTemplate.ID != "" && !evicted[o.LaunchTemplate.Name] {
			c.launchTemplates.Evict(o.LaunchTemplate.Name)
			evicted[o.LaunchTemplate.Name] = true
		}
	}
	if len(evicted) > 0 {
		log.FromContext(ctx).Info("launch template not found, launching again with fresh templates", "Machine", klog.KObj(machine),
			"launchTemplates", len(evicted))
	}
	return len(evicted) > 0
}

// markUnavailable passes on the pools EC2 found empty before it launched inst. The launch itself
// succeeded, so this is not an error; without a marker the pools are only logged.
func (c *CloudProvider) markUnavailable(ctx context.Context, machine *v1alpha5.Machine, inst *Instance) {
	if len(inst.UnavailableOfferings) == 0 {
		return
	}
	log.FromContext(ctx).Info("launched after some offerings ran out of capacity", "Machine", klog.KObj(machine),
		"instanceType", inst.Type, "zone", inst.Zone, "unavailableOfferings", len(inst.UnavailableOfferings))
	if c.opts.UnavailableOfferings == nil {
		return
	}
	for _, o := range inst.UnavailableOfferings {
		c.opts.UnavailableOfferings.MarkUnavailable(ctx, o.InstanceType, o.Zone, o.CapacityType)
	}
}

// launchCandidates keeps the instance types that satisfy reqs, fit requests and have an
// available offering reqs allow, picks the capacity type (spot when the Machine allows it and
// some candidate offers it) and returns the MaxInstanceTypes cheapest in that capacity type.
func launchCandidates(its []*scheduling.InstanceType, reqs scheduling.Requirements, requests corev1.ResourceList) ([]*scheduling.InstanceType, string) {
	var fit []*scheduling.InstanceType
	for _, it := range its {
		if reqs.Intersects(it.Requirements) != nil {
			continue
		}
		if _, ok := scheduling.Fits(requests, it.Allocatable()); !ok {
			continue
		}
		if len(it.Offerings.Available().Compatible(reqs)) > 0 {
			fit = append(fit, it)
		}
	}
	capacityType := v1alpha5.CapacityTypeOnDemand
	if r, ok := reqs.Get(v1alpha5.CapacityTypeLabelKey); ok && r.Has(v1alpha5.CapacityTypeSpot) {
		for _, it := range fit {
			if !math.IsInf(cheapestPrice(it, reqs, v1alpha5.CapacityTypeSpot), 1) {
				capacityType = v1alpha5.CapacityTypeSpot
				break
			}
		}
	}
	var out []*scheduling.InstanceType
	for _, it := range fit {
		if !math.IsInf(cheapestPrice(it, reqs, capacityType), 1) {
			out = append(out, it)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		pi, pj := cheapestPrice(out[i], reqs, capacityType), cheapestPrice(out[j], reqs, capacityType)
		return pi < pj || (pi == pj && out[i].Name < out[j].Name)
	})
	if len(out) > MaxInstanceTypes {
		out = out[:MaxInstanceTypes]
	}
	return out, capacityType
}

// cheapestPrice is the lowest price of the type's available offerings of capacityType that reqs
// allow, +Inf when there is none.
func cheapestPrice(it *scheduling.InstanceType, reqs scheduling.Requirements, capacityType string) float64 {
	price := math.Inf(1)
	for _, o := range it.Offerings.Available().Compatible(reqs) {
		if o.CapacityType == capacityType && o.Price < price {
			price = o.Price
		}
	}
	return price
}

// launchRequest resolves the network, images and launch templates of a launch.
func (c *CloudProvider) launchRequest(ctx context.Context, machine *v1alpha5.Machine, nodeTemplate *v1alpha1.AWSNodeTemplate,
	candidates []*scheduling.InstanceType, reqs scheduling.Requirements, capacityType string) (LaunchRequest, error) {
	subnets, err := c.subnets.ZonalSubnets(ctx, nodeTemplate)
	if err != nil {
		return LaunchRequest{}, err
	}
	templates, err := c.templatesByType(ctx, machine, nodeTemplate, candidates, reqs)
	if err != nil {
		return LaunchRequest{}, err
	}
	req := LaunchRequest{MachineName: machine.Name, ClientToken: string(machine.UID), CapacityType: capacityType,
		Tags: c.instanceTags(machine, nodeTemplate), Context: ptr.Deref(nodeTemplate.Spec.Context, "")}
	if req.ClientToken == "" {
		req.ClientToken = machine.Name
	}
	for _, it := range candidates {
		lt, ok := templates[it.Name]
		if !ok {
			continue
		}
		for _, o := range it.Offerings.Available().Compatible(reqs) {
			subnet, ok := subnets[o.Zone]
			if o.CapacityType != capacityType || !ok {
				continue
			}
			req.Overrides = append(req.Overrides, FleetOverride{LaunchTemplate: lt.LaunchTemplate, ImageID: lt.imageID,
				InstanceType: it.Name, SubnetID: subnet.ID, Zone: o.Zone})
		}
	}
	if len(req.Overrides) == 0 {
		return LaunchRequest{}, cloudprovider.NewInsufficientCapacityError(fmt.Errorf(
			"no %s offering of %d instance types is in a zone with a selected subnet and has a suitable image", capacityType, len(candidates)))
	}
	return req, nil
}

type resolvedTemplate struct {
	LaunchTemplate
	imageID string
}

// templatesByType returns the launch template of every candidate an image suits: one per image,
// since the user data, disks and groups are the same for the whole Machine.
func (c *CloudProvider) templatesByType(ctx context.Context, machine *v1alpha5.Machine, nodeTemplate *v1alpha1.AWSNodeTemplate,
	candidates []*scheduling.InstanceType, reqs scheduling.Requirements) (map[string]resolvedTemplate, error) {
	out := map[string]resolvedTemplate{}
	if name := nodeTemplate.Spec.LaunchTemplate; name != nil {
		for _, it := range candidates {
			out[it.Name] = resolvedTemplate{LaunchTemplate: LaunchTemplate{Name: *name}}
		}
		return out, nil
	}
	amis, err := c.amis.List(ctx, nodeTemplate)
	if err != nil {
		return nil, err
	}
	groups, err := c.securityGroups.List(ctx, nodeTemplate)
	if err != nil {
		return nil, err
	}
	labels := nodeLabelsOf(machine, reqs)
	// One template per image, and per pod count where the user data must state it.
	type key struct {
		imageID string
		maxPods int64
	}
	templates := map[key]resolvedTemplate{}
	// The user data depends on the pod count only: rendered once per count, not per image.
	specs := map[int64]LaunchTemplateSpec{}
	for _, it := range candidates {
		maxPods := c.maxPodsToSet(machine, nodeTemplate, it)
		for _, ami := range amis {
			if !ami.Suits(it) {
				continue
			}
			k := key{imageID: ami.ID, maxPods: maxPods}
			lt, ok := templates[k]
			if !ok {
				spec, rendered := specs[maxPods]
				if !rendered {
					var err error
					if spec, err = c.templateSpec(machine, nodeTemplate, groups, labels, maxPods); err != nil {
						return nil, err
					}
					specs[maxPods] = spec
				}
				spec.ImageID = ami.ID
				ensured, err := c.launchTemplates.Ensure(ctx, spec)
				if err != nil {
					return nil, err
				}
				lt = resolvedTemplate{LaunchTemplate: ensured, imageID: ami.ID}
				templates[k] = lt
			}
			out[it.Name] = lt
			break
		}
	}
	return out, nil
}

// maxPodsToSet is the pod count the user data must give the kubelet for nodes of type it: its
// pod capacity where the cluster's pod networking sets it apart from the ENI-derived count the
// node's bootstrap would compute by itself, or where Bottlerocket, which has no pods-per-core
// setting, must be told the count podsPerCore caps; 0 where the bootstrap gets it right on its
// own (or the Provisioner's kubelet maxPods already says it, or Windows, whose default Kerf models).
func (c *CloudProvider) maxPodsToSet(machine *v1alpha5.Machine, nodeTemplate *v1alpha1.AWSNodeTemplate, it *scheduling.InstanceType) int64 {
	family, kubelet := amiFamily(nodeTemplate), machine.Spec.Kubelet
	podsPerCoreOnBottlerocket := family == v1alpha1.AMIFamilyBottlerocket && kubelet != nil && kubelet.PodsPerCore != nil && *kubelet.PodsPerCore > 0
	if (!c.opts.PodNetworking.podsOverridden() && !podsPerCoreOnBottlerocket) || (kubelet != nil && kubelet.MaxPods != nil) ||
		family == v1alpha1.AMIFamilyCustom || nodeFamilyModelFor(family).fixedDefaultPods > 0 {
		return 0
	}
	return it.Capacity.Pods().Value()
}

// templateSpec is the launch template of the Machine, without its image; maxPods > 0 tells the
// kubelet that many pods.
func (c *CloudProvider) templateSpec(machine *v1alpha5.Machine, nodeTemplate *v1alpha1.AWSNodeTemplate, groups []SecurityGroup,
	labels map[string]string, maxPods int64) (LaunchTemplateSpec, error) {
	family := amiFamily(nodeTemplate)
	kubelet := machine.Spec.Kubelet
	if maxPods > 0 {
		kubelet = kubelet.DeepCopy()
		if kubelet == nil {
			kubelet = &v1alpha5.KubeletConfiguration{}
		}
		kubelet.MaxPods = ptr.To(int32(maxPods))
	}
	bootstrapper, err := NewBootstrapper(family, BootstrapOptions{ClusterName: c.opts.ClusterName, ClusterEndpoint: c.opts.ClusterEndpoint,
		CABundle: c.opts.CABundle, ClusterCIDR: c.opts.ClusterCIDR, Labels: labels,
		Taints:  append(append([]corev1.Taint(nil), machine.Spec.Taints...), machine.Spec.StartupTaints...),
		Kubelet: kubelet, CustomUserData: nodeTemplate.Spec.UserData})
	if err != nil {
		return LaunchTemplateSpec{}, err
	}
	userData, err := bootstrapper.UserData()
	if err != nil {
		return LaunchTemplateSpec{}, fmt.Errorf("rendering %s user data, %w", family, err)
	}
	spec := LaunchTemplateSpec{UserData: userData, BlockDeviceMappings: nodeTemplate.Spec.BlockDeviceMappings,
		MetadataOptions: nodeTemplate.Spec.MetadataOptions, Tags: c.templateTags(machine, nodeTemplate),
		DetailedMonitoring: nodeTemplate.Spec.DetailedMonitoring != nil && *nodeTemplate.Spec.DetailedMonitoring}
	if len(spec.BlockDeviceMappings) == 0 {
		spec.BlockDeviceMappings = DefaultBlockDeviceMappings(family)
	}
	spec.InstanceProfile = c.opts.DefaultInstanceProfile
	if nodeTemplate.Spec.InstanceProfile != nil && *nodeTemplate.Spec.InstanceProfile != "" {
		spec.InstanceProfile = *nodeTemplate.Spec.InstanceProfile
	}
	if spec.InstanceProfile == "" {
		// The kubelet authenticates to the cluster with the instance's role: a node launched
		// without one never joins, and is paid for until its registration TTL.
		return LaunchTemplateSpec{}, fmt.Errorf("AWSNodeTemplate %s names no spec.instanceProfile and no default is set "+
			"(--default-instance-profile, chart settings.aws.defaultInstanceProfile): a node without one cannot join the cluster", nodeTemplate.Name)
	}
	for _, g := range groups {
		spec.SecurityGroupIDs = append(spec.SecurityGroupIDs, g.ID)
	}
	if c.opts.ResourceNames {
		spec.HostnameType = string(ec2types.HostnameTypeResourceName)
	}
	return spec, nil
}

// nodeLabelsOf are the labels the node registers with: the Machine's, and every requirement on a
// key of the user's own that allows exactly one value (a Provisioner requirement team In [ml]
// means the node is labelled team=ml, so pods selecting it land there). Well-known keys are left
// to the kubelet and the instance, which decide them per instance.
func nodeLabelsOf(machine *v1alpha5.Machine, reqs scheduling.Requirements) map[string]string {
	labels := map[string]string{}
	wellKnown := map[string]bool{}
	for _, k := range v1alpha5.WellKnownLabels() {
		wellKnown[k] = true
	}
	for k, v := range reqs.Labels() {
		if !wellKnown[k] {
			labels[k] = v
		}
	}
	for k, v := range machine.Labels {
		// The labels a launch writes onto the Machine (instance type, zone, capacity type, the
		// type's own) are not part of the request: registration copies them onto the Node, and
		// leaving them out keeps a repeated launch on the same template and the same token.
		if !wellKnown[k] {
			labels[k] = v
		}
	}
	return labels
}

// instanceTags are the node template's tags and Kerf's own, which win — except Name, which the
// template may set (as in v0.31) and is the Machine's name otherwise.
func (c *CloudProvider) instanceTags(machine *v1alpha5.Machine, nodeTemplate *v1alpha1.AWSNodeTemplate) map[string]string {
	tags := c.templateTags(machine, nodeTemplate)
	if _, named := tags[TagName]; !named {
		tags[TagName] = machine.Name
	}
	tags[TagManagedBy] = c.opts.ClusterName
	tags[TagMachineName] = machine.Name
	return tags
}

// templateTags go on the launch template, its volumes and network interfaces, and the fleet: the
// global tags, the node template's over them, then the two that Karpenter v0.31's IAM policy
// requires on every resource a launch creates (cluster ownership and the Provisioner's name).
func (c *CloudProvider) templateTags(machine *v1alpha5.Machine, nodeTemplate *v1alpha1.AWSNodeTemplate) map[string]string {
	tags := map[string]string{}
	for k, v := range c.opts.Tags {
		tags[k] = v
	}
	for k, v := range nodeTemplate.Spec.Tags {
		tags[k] = v
	}
	tags[ClusterTagKey(c.opts.ClusterName)] = "owned"
	if p := machine.Labels[v1alpha5.ProvisionerNameLabelKey]; p != "" {
		tags[v1alpha5.ProvisionerNameLabelKey] = p
	}
	return tags
}

// launchedMachine is the Machine with what the launch decided: the instance's labels, provider
// ID, capacity and allocatable, and the hash of the node template's static fields, which drift
// compares with the template's later.
func launchedMachine(machine *v1alpha5.Machine, nodeTemplate *v1alpha1.AWSNodeTemplate, inst *Instance, it *scheduling.InstanceType) *v1alpha5.Machine {
	launched := machine.DeepCopy()
	if launched.Annotations == nil {
		launched.Annotations = map[string]string{}
	}
	for k, v := range nodeTemplate.HashAnnotations() {
		launched.Annotations[k] = v
	}
	if launched.Labels == nil {
		launched.Labels = map[string]string{}
	}
	for k, v := range it.Requirements.Labels() {
		launched.Labels[k] = v
	}
	launched.Labels[v1alpha5.LabelInstanceType] = inst.Type
	launched.Labels[v1alpha5.LabelTopologyZone] = inst.Zone
	launched.Labels[v1alpha5.CapacityTypeLabelKey] = inst.CapacityType
	launched.Status.ProviderID = inst.ProviderID()
	launched.Status.Capacity = it.Capacity.DeepCopy()
	launched.Status.Allocatable = it.Allocatable()
	return launched
}

// machineFromInstance is the Machine view of an instance found in EC2: enough to match it to a
// Machine or Node (name, labels, provider ID, launch time). It has no capacity or allocatable:
// Get and List serve garbage collection, which matches instances to Machines and never reads
// them, and sizing an instance means modelling its Provisioner's instance types (Create's
// answer, kept on the Machine, already holds them).
func machineFromInstance(inst *Instance) *v1alpha5.Machine {
	m := &v1alpha5.Machine{ObjectMeta: metav1.ObjectMeta{Name: inst.Tags[TagMachineName],
		CreationTimestamp: metav1.NewTime(inst.LaunchTime), Labels: map[string]string{
			v1alpha5.LabelInstanceType:    inst.Type,
			v1alpha5.LabelTopologyZone:    inst.Zone,
			v1alpha5.CapacityTypeLabelKey: inst.CapacityType,
		}}}
	if p := inst.Tags[v1alpha5.ProvisionerNameLabelKey]; p != "" {
		m.Labels[v1alpha5.ProvisionerNameLabelKey] = p
	}
	m.Status.ProviderID = inst.ProviderID()
	return m
}

// Delete implements cloudprovider.CloudProvider. A Machine without a provider ID may still have
// an instance (the launch succeeded, the status write did not), so it is looked up by tag.
func (c *CloudProvider) Delete(ctx context.Context, machine *v1alpha5.Machine) error {
	id, err := c.instanceID(ctx, machine)
	if err != nil {
		return fmt.Errorf("deleting machine %s, %w", machine.Name, err)
	}
	if err := c.instances.Terminate(ctx, id); err != nil {
		return fmt.Errorf("deleting machine %s, %w", machine.Name, err)
	}
	return nil
}

func (c *CloudProvider) instanceID(ctx context.Context, machine *v1alpha5.Machine) (string, error) {
	if machine.Status.ProviderID != "" {
		return ParseProviderID(machine.Status.ProviderID)
	}
	inst, err := c.instances.GetByMachine(ctx, machine.Name)
	if err != nil {
		return "", err
	}
	return inst.ID, nil
}

// Get implements cloudprovider.CloudProvider.
func (c *CloudProvider) Get(ctx context.Context, providerID string) (*v1alpha5.Machine, error) {
	id, err := ParseProviderID(providerID)
	if err != nil {
		return nil, err
	}
	inst, err := c.instances.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return machineFromInstance(inst), nil
}

// List implements cloudprovider.CloudProvider, sorted by provider ID.
func (c *CloudProvider) List(ctx context.Context) ([]*v1alpha5.Machine, error) {
	insts, err := c.instances.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*v1alpha5.Machine, 0, len(insts))
	for _, inst := range insts {
		out = append(out, machineFromInstance(inst))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Status.ProviderID < out[j].Status.ProviderID })
	return out, nil
}
