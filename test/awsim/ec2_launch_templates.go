package awsim

import (
	"context"
	"encoding/base64"
	"slices"
	"sort"
	"strings"
	"time"
)

// launchTemplate keeps version 1 of a template: awsim does not model template versions beyond
// the first, which is all CreateLaunchTemplate makes.
type launchTemplate struct {
	ID, Name       string
	Created        time.Time
	Tags           []tag // on the template itself
	ImageID        string
	InstanceType   string
	UserData       string // base64, as sent
	SecurityGroups []string
	InstanceTags   []tag // applied to instances launched from it
	MarketType     string
	BlockDevices   []BlockDeviceMappingState
	// InstanceProfile is the IAM instance profile's name, from its name or its ARN.
	InstanceProfile string
	Metadata        MetadataOptionsState
	Monitoring      bool
	// HostnameType is PrivateDnsNameOptions.HostnameType: ip-name ("") or resource-name.
	HostnameType string
}

// MetadataOptionsState is how an instance's metadata service answers, as EC2 records it; a
// template that sets none gets EC2's defaults (IMDSv1 allowed, one hop).
type MetadataOptionsState struct {
	HTTPTokens   string `json:"httpTokens"`
	HopLimit     int    `json:"httpPutResponseHopLimit"`
	HTTPEndpoint string `json:"httpEndpoint"`
	HTTPIPv6     string `json:"httpProtocolIpv6"`
}

// metadataOptions reads LaunchTemplateData.MetadataOptions, refusing the values EC2 refuses.
func metadataOptions(data params) (MetadataOptionsState, *apiError) {
	md := data.sub("MetadataOptions")
	out := MetadataOptionsState{HTTPTokens: "optional", HopLimit: 1, HTTPEndpoint: "enabled", HTTPIPv6: "disabled"}
	for _, f := range []struct {
		key     string
		into    *string
		allowed []string
	}{{"HttpTokens", &out.HTTPTokens, []string{"optional", "required"}}, {"HttpEndpoint", &out.HTTPEndpoint, []string{"enabled", "disabled"}},
		{"HttpProtocolIpv6", &out.HTTPIPv6, []string{"enabled", "disabled"}}} {
		if v := md.str(f.key); v != "" {
			if !slices.Contains(f.allowed, v) {
				return out, invalidValue(md.key(f.key), v)
			}
			*f.into = v
		}
	}
	hops, ok, err := md.integer("HttpPutResponseHopLimit")
	if err != nil {
		return out, err
	}
	if ok {
		if hops < 1 || hops > 64 {
			return out, invalidValue(md.key("HttpPutResponseHopLimit"), md.str("HttpPutResponseHopLimit"))
		}
		out.HopLimit = hops
	}
	return out, nil
}

// BlockDeviceMappingState is one block device mapping of a launch template, as tests see it.
type BlockDeviceMappingState struct {
	DeviceName string `json:"deviceName"`
	// VolumeSize in GiB, 0 when the mapping leaves it to the snapshot.
	VolumeSize          int    `json:"volumeSize,omitempty"`
	VolumeType          string `json:"volumeType,omitempty"`
	IOPS                int    `json:"iops,omitempty"`
	Throughput          int    `json:"throughput,omitempty"`
	Encrypted           bool   `json:"encrypted,omitempty"`
	DeleteOnTermination bool   `json:"deleteOnTermination,omitempty"`
	KMSKeyID            string `json:"kmsKeyId,omitempty"`
	SnapshotID          string `json:"snapshotId,omitempty"`
}

// LaunchTemplateState is a launch template as tests see it.
type LaunchTemplateState struct {
	Name    string `json:"name"`
	ImageID string `json:"imageId,omitempty"`
	// UserData is base64, as it was sent to EC2.
	UserData            string                    `json:"userData,omitempty"`
	SecurityGroups      []string                  `json:"securityGroups,omitempty"`
	BlockDeviceMappings []BlockDeviceMappingState `json:"blockDeviceMappings,omitempty"`
	InstanceProfile     string                    `json:"instanceProfile,omitempty"`
	MetadataOptions     MetadataOptionsState      `json:"metadataOptions"`
	Monitoring          bool                      `json:"monitoring"`
}

// blockDeviceMappings reads LaunchTemplateData.BlockDeviceMapping.N, refusing what EC2 refuses:
// a mapping without a device, a size that is not a whole number of GiB from 1 to 16384.
func blockDeviceMappings(data params) ([]BlockDeviceMappingState, *apiError) {
	var out []BlockDeviceMappingState
	for _, m := range data.objects("BlockDeviceMapping") {
		if m.str("DeviceName") == "" {
			return nil, missingParameter(m.key("DeviceName"))
		}
		b := BlockDeviceMappingState{DeviceName: m.str("DeviceName"), VolumeType: m.str("Ebs.VolumeType"),
			KMSKeyID: m.str("Ebs.KmsKeyId"), SnapshotID: m.str("Ebs.SnapshotId")}
		size, ok, err := m.integer("Ebs.VolumeSize")
		if err != nil {
			return nil, err
		}
		if ok && (size < 1 || size > 16384) {
			return nil, invalidValue(m.key("Ebs.VolumeSize"), m.str("Ebs.VolumeSize"))
		}
		b.VolumeSize = size
		if b.IOPS, _, err = m.integer("Ebs.Iops"); err != nil {
			return nil, err
		}
		if b.Throughput, _, err = m.integer("Ebs.Throughput"); err != nil {
			return nil, err
		}
		if b.Encrypted, err = m.boolean("Ebs.Encrypted"); err != nil {
			return nil, err
		}
		if b.DeleteOnTermination, err = m.boolean("Ebs.DeleteOnTermination"); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

type xmlLaunchTemplate struct {
	LaunchTemplateID     string   `xml:"launchTemplateId"`
	LaunchTemplateName   string   `xml:"launchTemplateName"`
	CreateTime           string   `xml:"createTime"`
	CreatedBy            string   `xml:"createdBy"`
	DefaultVersionNumber int      `xml:"defaultVersionNumber"`
	LatestVersionNumber  int      `xml:"latestVersionNumber"`
	Tags                 []xmlTag `xml:"tagSet>item,omitempty"`
}

type launchTemplateResponse struct {
	LaunchTemplate xmlLaunchTemplate `xml:"launchTemplate"`
}

type describeLaunchTemplatesResponse struct {
	LaunchTemplates []xmlLaunchTemplate `xml:"launchTemplates>item"`
	NextToken       string              `xml:"nextToken,omitempty"`
}

func (w *World) xmlLaunchTemplate(lt *launchTemplate) xmlLaunchTemplate {
	return xmlLaunchTemplate{LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, CreateTime: isoTime(lt.Created),
		CreatedBy: "arn:aws:iam::" + w.opts.AccountID + ":root", DefaultVersionNumber: 1, LatestVersionNumber: 1, Tags: xmlTags(lt.Tags)}
}

// validTemplateName follows EC2's rule: 3–128 of letters, digits and ( ) . - / _.
func validTemplateName(n string) bool {
	if len(n) < 3 || len(n) > 128 {
		return false
	}
	for _, c := range n {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '(' || c == ')' || c == '.' || c == '-' || c == '/' || c == '_') {
			return false
		}
	}
	return true
}

func (w *World) createLaunchTemplate(_ context.Context, p params) (any, *apiError) {
	name := p.str("LaunchTemplateName")
	if name == "" {
		return nil, missingParameter("LaunchTemplateName")
	}
	if !validTemplateName(name) {
		return nil, sender(codeInvalidLaunchTemplateNameMalf, "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.'")
	}
	if !p.has("LaunchTemplateData") {
		return nil, missingParameter("LaunchTemplateData")
	}
	for _, lt := range w.templates {
		if lt.Name == name {
			return nil, sender(codeInvalidLaunchTemplateNameDup, "Launch template name already in use.")
		}
	}
	data := p.sub("LaunchTemplateData")
	if id := data.str("ImageId"); id != "" && w.images[id] == nil {
		return nil, sender(codeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", id)
	}
	if t := data.str("InstanceType"); t != "" && w.catalog.byName[t] == nil {
		return nil, invalidValue("InstanceType", t)
	}
	if ud := data.str("UserData"); ud != "" {
		if _, err := base64.StdEncoding.DecodeString(ud); err != nil {
			return nil, sender(codeInvalidParameterValue, "Invalid BASE64 encoding of user data.")
		}
	}
	groups := data.list("SecurityGroupId")
	for _, g := range groups {
		if w.groupByID(g) == nil {
			return nil, sender(codeInvalidGroupNotFound, "The security group '%s' does not exist", g)
		}
	}
	ltTags, err := p.tagSpecifications("TagSpecification", "launch-template")
	if err != nil {
		return nil, err
	}
	instTags, err := data.tagSpecifications("TagSpecification", "instance", "volume", "network-interface", "spot-instances-request")
	if err != nil {
		return nil, err
	}
	devices, err := blockDeviceMappings(data)
	if err != nil {
		return nil, err
	}
	profile, err := instanceProfileName(data.sub("IamInstanceProfile"))
	if err != nil {
		return nil, err
	}
	metadata, err := metadataOptions(data)
	if err != nil {
		return nil, err
	}
	monitoring, err := data.boolean("Monitoring.Enabled")
	if err != nil {
		return nil, err
	}
	hostnameType := data.str("PrivateDnsNameOptions.HostnameType")
	if hostnameType != "" && hostnameType != hostnameIP && hostnameType != hostnameResource {
		return nil, invalidValue("LaunchTemplateData.PrivateDnsNameOptions.HostnameType", hostnameType)
	}
	lt := &launchTemplate{ID: w.newID("lt"), Name: name, Created: w.now(), Tags: ltTags, ImageID: data.str("ImageId"),
		InstanceType: data.str("InstanceType"), UserData: data.str("UserData"), SecurityGroups: groups, InstanceTags: instTags,
		MarketType: data.str("InstanceMarketOptions.MarketType"), BlockDevices: devices, InstanceProfile: profile,
		Metadata: metadata, Monitoring: monitoring, HostnameType: hostnameType}
	w.templates[lt.ID] = lt
	return launchTemplateResponse{LaunchTemplate: w.xmlLaunchTemplate(lt)}, nil
}

// instanceProfileName reads an IamInstanceProfile specification (Name or Arn). EC2 checks that
// the profile exists only when an instance launches, as awsim does (World.checkInstanceProfile).
func instanceProfileName(spec params) (string, *apiError) {
	name, arn := spec.str("Name"), spec.str("Arn")
	if arn == "" {
		return name, nil
	}
	_, fromARN, ok := strings.Cut(arn, ":instance-profile/")
	if !ok || !strings.HasPrefix(arn, "arn:aws:iam::") {
		return "", invalidValue("IamInstanceProfile.Arn", arn)
	}
	if i := strings.LastIndex(fromARN, "/"); i >= 0 {
		fromARN = fromARN[i+1:] // a path
	}
	return fromARN, nil
}

// NodeInstanceProfile is the instance profile the world holds for the cluster's nodes.
func (w *World) NodeInstanceProfile() string { return NodeInstanceProfileFor(w.opts.ClusterName) }

// NodeInstanceProfileFor is the only instance profile a world for cluster has: the one its
// nodes get (named as the getting-started guide names it).
func NodeInstanceProfileFor(cluster string) string { return "KerfNodeInstanceProfile-" + cluster }

// checkInstanceProfile answers as EC2 does when an instance would launch with a profile IAM does
// not have.
func (w *World) checkInstanceProfile(name string) *apiError {
	if name == "" || name == w.NodeInstanceProfile() {
		return nil
	}
	return sender(codeInvalidParameterValue, "Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", name)
}

// templateBy finds a template by ID or name, with the error EC2 gives for each.
func (w *World) templateBy(id, name string) (*launchTemplate, *apiError) {
	switch {
	case id != "":
		if !validID(id, "lt") {
			return nil, sender(codeInvalidLaunchTemplateIDMalf, "The specified launch template ID is invalid: %s", id)
		}
		if lt := w.templates[id]; lt != nil {
			return lt, nil
		}
		return nil, sender(codeInvalidLaunchTemplateIDNF, "The specified launch template, with template ID %s, does not exist.", id)
	case name != "":
		for _, lt := range w.templates {
			if lt.Name == name {
				return lt, nil
			}
		}
		return nil, sender(codeInvalidLaunchTemplateNameNF, "The specified launch template, with template name %s, does not exist.", name)
	}
	return nil, missingParameter("LaunchTemplateId or LaunchTemplateName")
}

func (w *World) describeLaunchTemplates(_ context.Context, p params) (any, *apiError) {
	known := fields[*launchTemplate]{
		"launch-template-name": func(lt *launchTemplate) []string { return one(lt.Name) },
		"launch-template-id":   func(lt *launchTemplate) []string { return one(lt.ID) },
		"create-time":          func(lt *launchTemplate) []string { return one(isoTime(lt.Created)) },
	}
	filters, err := parseFilters(p, known, true)
	if err != nil {
		return nil, err
	}
	ids, names := p.list("LaunchTemplateId"), p.list("LaunchTemplateName")
	for _, id := range ids {
		if _, err := w.templateBy(id, ""); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		if _, err := w.templateBy("", n); err != nil {
			return nil, sender(codeInvalidLaunchTemplateNameNF, "At least one of the launch templates specified in the request does not exist.")
		}
	}
	var hits []*launchTemplate
	for _, lt := range w.templates {
		if (len(ids) == 0 || contains(ids, lt.ID)) && (len(names) == 0 || contains(names, lt.Name)) &&
			matches(lt, filters, known, func(lt *launchTemplate) []tag { return lt.Tags }) {
			hits = append(hits, lt)
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].Name < hits[j].Name })
	pg, err := paginate(p, "DescribeLaunchTemplates", len(hits), 1, 200, 0)
	if err != nil {
		return nil, err
	}
	out := describeLaunchTemplatesResponse{LaunchTemplates: []xmlLaunchTemplate{}, NextToken: pg.Next}
	for _, lt := range hits[pg.Start:pg.End] {
		out.LaunchTemplates = append(out.LaunchTemplates, w.xmlLaunchTemplate(lt))
	}
	return out, nil
}

func (w *World) deleteLaunchTemplate(_ context.Context, p params) (any, *apiError) {
	lt, err := w.templateBy(p.str("LaunchTemplateId"), p.str("LaunchTemplateName"))
	if err != nil {
		return nil, err
	}
	delete(w.templates, lt.ID)
	return launchTemplateResponse{LaunchTemplate: w.xmlLaunchTemplate(lt)}, nil
}
