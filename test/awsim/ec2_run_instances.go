package awsim

import (
	"context"
	"encoding/base64"
)

// runRecord remembers a RunInstances answer for its ClientToken.
type runRecord struct {
	signature   uint64
	reservation string
	instances   []*instance
}

type runInstancesResponse struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Groups        []xmlGroup    `xml:"groupSet>item"`
	Instances     []xmlInstance `xml:"instancesSet>item"`
}

func (w *World) runInstancesResponse(reservation string, insts []*instance) runInstancesResponse {
	out := runInstancesResponse{ReservationID: reservation, OwnerID: w.opts.AccountID, Groups: []xmlGroup{}}
	for _, inst := range insts {
		out.Instances = append(out.Instances, w.xmlInstance(inst))
	}
	return out
}

func (w *World) runInstances(_ context.Context, p params) (any, *apiError) {
	token := p.str("ClientToken")
	sig := signature(p, "ClientToken")
	if rec, ok := w.runTokens[token]; ok && token != "" {
		if rec.signature != sig {
			return nil, sender(codeIdempotentParameterMismatch, "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).")
		}
		return w.runInstancesResponse(rec.reservation, rec.instances), nil
	}
	minCount, okMin, err := p.integer("MinCount")
	if err != nil {
		return nil, err
	}
	maxCount, okMax, err := p.integer("MaxCount")
	if err != nil {
		return nil, err
	}
	switch {
	case !okMin:
		return nil, missingParameter("MinCount")
	case !okMax:
		return nil, missingParameter("MaxCount")
	case minCount < 1 || maxCount < 1 || minCount > maxCount || maxCount > maxLaunchPerCall:
		return nil, sender(codeInvalidParameterValue, "Invalid value '%d' for minCount. Must be between 1 and maxCount (%d).", minCount, maxCount)
	}
	spec := launchSpec{CapacityType: "on-demand", ClientToken: token}
	lt := &launchTemplate{}
	if p.has("LaunchTemplate") {
		if lt, err = w.templateBy(p.str("LaunchTemplate.LaunchTemplateId"), p.str("LaunchTemplate.LaunchTemplateName")); err != nil {
			return nil, err
		}
		if lt.MarketType == "spot" {
			spec.CapacityType = "spot"
		}
	}
	spec.ImageID = firstNonEmpty(p.str("ImageId"), lt.ImageID)
	typeName := firstNonEmpty(p.str("InstanceType"), lt.InstanceType)
	spec.UserData = firstNonEmpty(p.str("UserData"), lt.UserData)
	if spec.InstanceProfile, err = instanceProfileName(p.sub("IamInstanceProfile")); err != nil {
		return nil, err
	}
	spec.InstanceProfile = firstNonEmpty(spec.InstanceProfile, lt.InstanceProfile)
	spec.Metadata, spec.Monitoring, spec.HostnameType = lt.Metadata, lt.Monitoring, lt.HostnameType
	if p.has("MetadataOptions") || !p.has("LaunchTemplate") {
		if spec.Metadata, err = metadataOptions(p); err != nil {
			return nil, err
		}
	}
	if p.has("Monitoring") {
		if spec.Monitoring, err = p.boolean("Monitoring.Enabled"); err != nil {
			return nil, err
		}
	}
	if err := w.checkInstanceProfile(spec.InstanceProfile); err != nil {
		return nil, err
	}
	spec.Groups = p.list("SecurityGroupId")
	if len(spec.Groups) == 0 {
		spec.Groups = lt.SecurityGroups
	}
	if mt := p.str("InstanceMarketOptions.MarketType"); mt != "" {
		if mt != "spot" && mt != "capacity-block" {
			return nil, invalidValue("MarketType", mt)
		}
		spec.CapacityType = "spot"
	}
	switch {
	case spec.ImageID == "":
		return nil, missingParameter("ImageId")
	case w.images[spec.ImageID] == nil:
		if !validID(spec.ImageID, "ami") {
			return nil, sender(codeInvalidAMIIDMalformed, "Invalid id: \"%s\" (expecting \"ami-...\")", spec.ImageID)
		}
		return nil, sender(codeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", spec.ImageID)
	case typeName == "":
		return nil, missingParameter("InstanceType")
	}
	if spec.Type = w.catalog.byName[typeName]; spec.Type == nil {
		return nil, invalidValue("InstanceType", typeName)
	}
	if spec.UserData != "" {
		if _, err := base64.StdEncoding.DecodeString(spec.UserData); err != nil {
			return nil, sender(codeInvalidParameterValue, "Invalid BASE64 encoding of user data.")
		}
	}
	for _, g := range spec.Groups {
		if w.groupByID(g) == nil {
			return nil, sender(codeInvalidGroupNotFound, "The security group '%s' does not exist", g)
		}
	}
	if spec.Subnet, err = w.runSubnet(p); err != nil {
		return nil, err
	}
	if !w.offered(spec.Type, w.zoneIndex(spec.Subnet.Zone)) {
		return nil, sender(codeUnsupported, "Your requested instance type (%s) is not supported in your requested Availability Zone (%s).", typeName, spec.Subnet.Zone)
	}
	tags, err := p.tagSpecifications("TagSpecification", "instance", "volume", "network-interface", "spot-instances-request")
	if err != nil {
		return nil, err
	}
	spec.Tags = mergeTags(lt.InstanceTags, tags)
	count := maxCount
	if left := w.capacityLeftLocked(pool{InstanceType: typeName, Zone: spec.Subnet.Zone, CapacityType: spec.CapacityType}); left >= 0 {
		if left < minCount {
			c := candidate{typ: spec.Type, subnet: spec.Subnet}
			return nil, server(codeInsufficientInstanceCapacity, "%s", iceMessage(c, "on-demand", w.Zones()))
		}
		count = min(count, left)
	}
	reservation := w.newID("r")
	var insts []*instance
	for i := 0; i < count; i++ {
		inst, err := w.launchLocked(spec, reservation)
		if err != nil {
			if len(insts) >= minCount {
				break
			}
			return nil, err
		}
		insts = append(insts, inst)
	}
	if token != "" {
		w.runTokens[token] = &runRecord{signature: sig, reservation: reservation, instances: insts}
	}
	return w.runInstancesResponse(reservation, insts), nil
}

// runSubnet picks the subnet RunInstances launches into: the one named, else the cluster
// subnet of the zone named, else the cluster subnet of the first zone.
func (w *World) runSubnet(p params) (*subnet, *apiError) {
	if id := p.str("SubnetId"); id != "" {
		if s := w.subnetByID(id); s != nil {
			return s, nil
		}
		return nil, sender(codeInvalidSubnetIDNotFound, "The subnet ID '%s' does not exist", id)
	}
	if az := p.str("Placement.AvailabilityZone"); az != "" {
		if s := w.clusterSubnet(az); s != nil {
			return s, nil
		}
		return nil, sender(codeInvalidParameterValue, "Invalid availability zone: [%s]", az)
	}
	return w.clusterSubnet(w.zones[0].Name), nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
