package awsim

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
)

// maxLaunchPerCall bounds one CreateFleet or RunInstances call, standing in for the account
// limits that bound them on AWS.
const maxLaunchPerCall = 10000

// fleetRecord remembers an instant fleet's answer for its ClientToken.
type fleetRecord struct {
	signature uint64
	response  createFleetResponse
}

// candidate is one launch-template override resolved against the world: a pool to try.
type candidate struct {
	lt       *launchTemplate
	version  string
	ov       params
	typ      *instanceType
	subnet   *subnet
	image    string
	priority float64
	maxPrice float64 // 0: none
	weight   float64
}

type xmlLTSpec struct {
	LaunchTemplateID string `xml:"launchTemplateId"`
	Version          string `xml:"version"`
}

type xmlOverrides struct {
	InstanceType     string  `xml:"instanceType,omitempty"`
	SubnetID         string  `xml:"subnetId,omitempty"`
	AvailabilityZone string  `xml:"availabilityZone,omitempty"`
	ImageID          string  `xml:"imageId,omitempty"`
	MaxPrice         string  `xml:"maxPrice,omitempty"`
	Priority         float64 `xml:"priority,omitempty"`
	WeightedCapacity float64 `xml:"weightedCapacity,omitempty"`
}

type xmlLTAndOverrides struct {
	LaunchTemplateSpecification xmlLTSpec    `xml:"launchTemplateSpecification"`
	Overrides                   xmlOverrides `xml:"overrides"`
}

type xmlFleetError struct {
	LaunchTemplateAndOverrides xmlLTAndOverrides `xml:"launchTemplateAndOverrides"`
	Lifecycle                  string            `xml:"lifecycle"`
	ErrorCode                  string            `xml:"errorCode"`
	ErrorMessage               string            `xml:"errorMessage"`
}

type xmlFleetInstance struct {
	LaunchTemplateAndOverrides xmlLTAndOverrides `xml:"launchTemplateAndOverrides"`
	Lifecycle                  string            `xml:"lifecycle"`
	InstanceIDs                []string          `xml:"instanceIds>item"`
	InstanceType               string            `xml:"instanceType"`
	SubnetID                   string            `xml:"subnetId,omitempty"`
	AvailabilityZone           string            `xml:"availabilityZone,omitempty"`
	AvailabilityZoneID         string            `xml:"availabilityZoneId,omitempty"`
}

type createFleetResponse struct {
	FleetID   string             `xml:"fleetId"`
	Errors    []xmlFleetError    `xml:"errorSet>item"`
	Instances []xmlFleetInstance `xml:"fleetInstanceSet>item"`
}

// signature fingerprints a request for idempotency: every parameter except the token itself.
func signature(p params, skip ...string) uint64 {
	keys := make([]string, 0, len(p.values))
	for k := range p.values {
		if !contains(skip, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(strings.Join(p.values[k], ",")) + "&")
	}
	return hash64(0, b.String())
}

func (w *World) createFleet(_ context.Context, p params) (any, *apiError) {
	token := p.str("ClientToken")
	sig := signature(p, "ClientToken")
	if rec, ok := w.fleetTokens[token]; ok && token != "" {
		if rec.signature != sig {
			return nil, sender(codeIdempotentParameterMismatch, "The client token you have provided is associated with a resource that is already deleted or has different parameters. Please use a different client token.")
		}
		return rec.response, nil
	}
	if t := p.str("Type"); t != "instant" {
		if t == "" || t == "maintain" || t == "request" {
			return nil, sender(codeUnsupportedOperation, "awsim supports only fleets of type instant, not %q", t)
		}
		return nil, invalidValue("Type", t)
	}
	od, spot, err := fleetTargets(p.sub("TargetCapacitySpecification"))
	if err != nil {
		return nil, err
	}
	if !p.has("LaunchTemplateConfigs") {
		return nil, missingParameter("LaunchTemplateConfigs")
	}
	fleetTags, err := p.tagSpecifications("TagSpecification", "instance", "fleet")
	if err != nil {
		return nil, err
	}
	resp := createFleetResponse{FleetID: "fleet-" + w.uuidLocked()}
	var candidates []candidate
	for _, cfg := range p.objects("LaunchTemplateConfigs") {
		cs, errs, aerr := w.resolveConfig(cfg)
		if aerr != nil {
			return nil, aerr
		}
		candidates = append(candidates, cs...)
		resp.Errors = append(resp.Errors, errs...)
	}
	reservation := w.newID("r")
	for _, target := range []struct {
		lifecycle string
		count     float64
		options   params
	}{{"on-demand", od, p.sub("OnDemandOptions")}, {"spot", spot, p.sub("SpotOptions")}} {
		if target.count <= 0 {
			continue
		}
		ordered, aerr := w.orderCandidates(candidates, target.lifecycle, target.options.str("AllocationStrategy"), target.count)
		if aerr != nil {
			return nil, aerr
		}
		diversified := target.options.str("AllocationStrategy") == "diversified"
		insts, errs := w.fill(ordered, target.lifecycle, target.count, diversified, reservation, token, fleetTags, resp.FleetID)
		resp.Instances = append(resp.Instances, insts...)
		resp.Errors = append(resp.Errors, errs...)
	}
	if token != "" {
		w.fleetTokens[token] = &fleetRecord{signature: sig, response: resp}
	}
	return resp, nil
}

// fleetTargets splits TargetCapacitySpecification into on-demand and spot units.
func fleetTargets(tcs params) (od, spot float64, err *apiError) {
	total, ok, err := tcs.integer("TotalTargetCapacity")
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		return 0, 0, missingParameter("TargetCapacitySpecification.TotalTargetCapacity")
	}
	if total < 1 || total > maxLaunchPerCall {
		return 0, 0, invalidValue("TotalTargetCapacity", fmt.Sprint(total))
	}
	def := tcs.str("DefaultTargetCapacityType")
	switch def {
	case "":
		def = "on-demand"
	case "on-demand", "spot":
	default:
		return 0, 0, invalidValue("DefaultTargetCapacityType", def)
	}
	odN, _, err := tcs.integer("OnDemandTargetCapacity")
	if err != nil {
		return 0, 0, err
	}
	spotN, _, err := tcs.integer("SpotTargetCapacity")
	if err != nil {
		return 0, 0, err
	}
	if odN+spotN > total || odN < 0 || spotN < 0 {
		return 0, 0, sender(codeInvalidParameterValue, "The sum of OnDemandTargetCapacity and SpotTargetCapacity must not exceed TotalTargetCapacity.")
	}
	// Capacity not claimed by either explicit target goes to the default capacity type.
	rest := total - odN - spotN
	if def == "spot" {
		return float64(odN), float64(spotN + rest), nil
	}
	return float64(odN + rest), float64(spotN), nil
}

// resolveConfig turns one LaunchTemplateConfigs entry into candidates. A missing template fails
// the request; an override that cannot launch becomes an entry in the fleet's Errors.
func (w *World) resolveConfig(cfg params) ([]candidate, []xmlFleetError, *apiError) {
	spec := cfg.sub("LaunchTemplateSpecification")
	lt, err := w.templateBy(spec.str("LaunchTemplateId"), spec.str("LaunchTemplateName"))
	if err != nil {
		return nil, nil, err
	}
	version := spec.str("Version")
	switch version {
	case "", "$Latest", "$Default", "1":
	default:
		return nil, nil, sender(codeInvalidLaunchTemplateVersion, "The specified launch template, with template ID %s, does not exist or has no version %s.", lt.ID, version)
	}
	if version == "" {
		version = "$Default"
	}
	overrides := cfg.objects("Overrides")
	if len(overrides) == 0 {
		overrides = []params{cfg.sub("Overrides.0")} // the template alone
	}
	var out []candidate
	var errs []xmlFleetError
	for _, ov := range overrides {
		c := candidate{lt: lt, version: version, ov: ov, image: lt.ImageID, weight: 1, priority: math.Inf(1)}
		if img := ov.str("ImageId"); img != "" {
			c.image = img
		}
		fail := func(code, format string, args ...any) {
			for _, lc := range []string{"on-demand", "spot"} {
				errs = append(errs, xmlFleetError{LaunchTemplateAndOverrides: c.xml(), Lifecycle: lc, ErrorCode: code, ErrorMessage: fmt.Sprintf(format, args...)})
			}
		}
		if err := w.checkInstanceProfile(lt.InstanceProfile); err != nil {
			fail(err.Code, "%s", err.Message)
			continue
		}
		typeName := ov.str("InstanceType")
		if typeName == "" {
			typeName = lt.InstanceType
		}
		if f, ok, _ := ov.float("WeightedCapacity"); ok && f > 0 {
			c.weight = f
		}
		if f, ok, _ := ov.float("Priority"); ok {
			c.priority = f
		}
		if f, ok, _ := ov.float("MaxPrice"); ok {
			c.maxPrice = f
		}
		c.typ = w.catalog.byName[typeName]
		switch sid, az := ov.str("SubnetId"), ov.str("AvailabilityZone"); {
		case sid != "":
			c.subnet = w.subnetByID(sid)
			if c.subnet == nil {
				fail(codeInvalidSubnetIDNotFound, "The subnet ID '%s' does not exist", sid)
				continue
			}
		case az != "":
			if c.subnet = w.clusterSubnet(az); c.subnet == nil {
				fail(codeInvalidParameterValue, "Invalid availability zone: [%s]", az)
				continue
			}
		default:
			c.subnet = w.clusterSubnet(w.zones[0].Name)
		}
		switch {
		case typeName == "":
			fail(codeMissingParameter, "The request must contain the parameter InstanceType")
		case c.typ == nil:
			fail(codeInvalidParameterValue, "The instance type '%s' does not exist", typeName)
		case c.image == "" || w.images[c.image] == nil:
			fail(codeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", c.image)
		case w.images[c.image].Arch != c.typ.ec2Arch():
			fail(codeInvalidParameterValue, "The architecture '%s' of the specified instance type does not match the architecture '%s' of the specified AMI.", c.typ.ec2Arch(), w.images[c.image].Arch)
		case !w.offered(c.typ, w.zoneIndex(c.subnet.Zone)):
			fail(codeUnsupported, "Your requested instance type (%s) is not supported in your requested Availability Zone (%s).", c.typ.Name, c.subnet.Zone)
		default:
			out = append(out, c)
		}
	}
	return out, errs, nil
}

func (w *World) zoneIndex(name string) int {
	for i, z := range w.zones {
		if z.Name == name {
			return i
		}
	}
	return -1
}

func (c candidate) xml() xmlLTAndOverrides {
	x := xmlLTAndOverrides{LaunchTemplateSpecification: xmlLTSpec{LaunchTemplateID: c.lt.ID, Version: c.version},
		Overrides: xmlOverrides{InstanceType: c.ov.str("InstanceType"), SubnetID: c.ov.str("SubnetId"), AvailabilityZone: c.ov.str("AvailabilityZone"),
			ImageID: c.ov.str("ImageId"), MaxPrice: c.ov.str("MaxPrice")}}
	if !math.IsInf(c.priority, 1) {
		x.Overrides.Priority = c.priority
	}
	if c.ov.str("WeightedCapacity") != "" {
		x.Overrides.WeightedCapacity = c.weight
	}
	if x.Overrides.SubnetID != "" && x.Overrides.AvailabilityZone == "" && c.subnet != nil {
		x.Overrides.AvailabilityZone = c.subnet.Zone
	}
	return x
}

func (c candidate) pool(lifecycle string) pool {
	return pool{InstanceType: c.typ.Name, Zone: c.subnet.Zone, CapacityType: lifecycle}
}

// unitPriceLocked is a candidate's price per unit of weighted capacity.
func (w *World) unitPriceLocked(c candidate, lifecycle string) float64 {
	if lifecycle == "spot" {
		return w.spotPriceLocked(c.typ, c.subnet.Zone) / c.weight
	}
	return w.onDemandPriceLocked(c.typ) / c.weight
}

// orderCandidates sorts pools in the order the allocation strategy tries them.
func (w *World) orderCandidates(cs []candidate, lifecycle, strategy string, need float64) ([]candidate, *apiError) {
	if strategy == "" {
		strategy = "lowest-price"
	}
	valid := []string{"lowest-price", "prioritized"}
	if lifecycle == "spot" {
		valid = []string{"lowest-price", "diversified", "capacity-optimized", "capacity-optimized-prioritized", "price-capacity-optimized"}
	}
	if !contains(valid, strategy) {
		return nil, invalidValue("AllocationStrategy", strategy)
	}
	out := append([]candidate(nil), cs...)
	price := func(c candidate) float64 { return w.unitPriceLocked(c, lifecycle) }
	room := func(c candidate) float64 {
		if left := w.capacityLeftLocked(c.pool(lifecycle)); left >= 0 {
			return float64(left)
		}
		return math.Inf(1)
	}
	tie := func(a, b candidate) bool {
		if a.typ.Name != b.typ.Name {
			return a.typ.Name < b.typ.Name
		}
		return a.subnet.Zone < b.subnet.Zone
	}
	var less func(a, b candidate) bool
	switch strategy {
	case "prioritized", "capacity-optimized-prioritized":
		less = func(a, b candidate) bool {
			if a.priority != b.priority {
				return a.priority < b.priority
			}
			return price(a) < price(b) || (price(a) == price(b) && tie(a, b))
		}
	case "capacity-optimized":
		less = func(a, b candidate) bool {
			if room(a) != room(b) {
				return room(a) > room(b)
			}
			return price(a) < price(b) || (price(a) == price(b) && tie(a, b))
		}
	case "price-capacity-optimized":
		// Pools deep enough for the whole request first, cheapest among them.
		less = func(a, b candidate) bool {
			da, db := room(a) >= need/a.weight, room(b) >= need/b.weight
			if da != db {
				return da
			}
			return price(a) < price(b) || (price(a) == price(b) && tie(a, b))
		}
	default: // lowest-price, diversified
		less = func(a, b candidate) bool { return price(a) < price(b) || (price(a) == price(b) && tie(a, b)) }
	}
	sort.SliceStable(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out, nil
}

// fill launches instances pool by pool until the target is met, recording a capacity error for
// every pool that was tried and could not give what was asked, as EC2 does.
func (w *World) fill(ordered []candidate, lifecycle string, target float64, diversified bool, reservation, token string, fleetTags []tag, fleetID string) ([]xmlFleetInstance, []xmlFleetError) {
	var insts []xmlFleetInstance
	var errs []xmlFleetError
	got := map[int]int{} // candidate index -> index in insts
	remaining := target
	for round := 0; remaining > 0; round++ {
		progress := false
		for i, c := range ordered {
			if remaining <= 0 {
				break
			}
			if lifecycle == "spot" && c.maxPrice > 0 && w.spotPriceLocked(c.typ, c.subnet.Zone) > c.maxPrice {
				if round == 0 {
					errs = append(errs, xmlFleetError{LaunchTemplateAndOverrides: c.xml(), Lifecycle: lifecycle, ErrorCode: codeSpotMaxPriceTooLow,
						ErrorMessage: fmt.Sprintf("Your Spot request price of %g is lower than the minimum required Spot request fulfillment price of %.4f.", c.maxPrice, w.spotPriceLocked(c.typ, c.subnet.Zone))})
				}
				continue
			}
			want := int(math.Ceil(remaining / c.weight))
			if diversified {
				want = 1
			}
			if left := w.capacityLeftLocked(c.pool(lifecycle)); left >= 0 && left < want {
				if round == 0 {
					errs = append(errs, xmlFleetError{LaunchTemplateAndOverrides: c.xml(), Lifecycle: lifecycle,
						ErrorCode: codeInsufficientInstanceCapacity, ErrorMessage: iceMessage(c, lifecycle, w.Zones())})
				}
				want = left
			}
			for n := 0; n < want; n++ {
				tags := mergeTags(c.lt.InstanceTags, fleetTags, []tag{{Key: "aws:ec2:fleet-id", Value: fleetID}})
				inst, err := w.launchLocked(launchSpec{Type: c.typ, Subnet: c.subnet, ImageID: c.image, CapacityType: lifecycle,
					Tags: tags, Groups: c.lt.SecurityGroups, UserData: c.lt.UserData, ClientToken: token, InstanceProfile: c.lt.InstanceProfile,
					Metadata: c.lt.Metadata, Monitoring: c.lt.Monitoring, HostnameType: c.lt.HostnameType}, reservation)
				if err != nil {
					errs = append(errs, xmlFleetError{LaunchTemplateAndOverrides: c.xml(), Lifecycle: lifecycle, ErrorCode: err.Code, ErrorMessage: err.Message})
					break
				}
				k, ok := got[i]
				if !ok {
					insts = append(insts, xmlFleetInstance{LaunchTemplateAndOverrides: c.xml(), Lifecycle: lifecycle, InstanceType: c.typ.Name})
					k = len(insts) - 1
					got[i] = k
				}
				insts[k].InstanceIDs = append(insts[k].InstanceIDs, inst.ID)
				remaining -= c.weight
				progress = true
			}
		}
		if !progress || !diversified {
			break
		}
	}
	return insts, errs
}

func iceMessage(c candidate, lifecycle string, zones []string) string {
	if lifecycle == "spot" {
		return "There is no Spot capacity available that matches your request."
	}
	var others []string
	for _, z := range zones {
		if z != c.subnet.Zone {
			others = append(others, z)
		}
	}
	return fmt.Sprintf("We currently do not have sufficient %s capacity in the Availability Zone you requested (%s). Our system will be working on provisioning additional capacity. You can currently get %s capacity by not specifying an Availability Zone in your request or choosing %s.",
		c.typ.Name, c.subnet.Zone, c.typ.Name, strings.Join(others, ", "))
}
