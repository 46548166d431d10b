package awsim

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Instance states with the codes EC2 reports.
const (
	statePending      = "pending"
	stateRunning      = "running"
	stateShuttingDown = "shutting-down"
	stateTerminated   = "terminated"
)

func stateCode(s string) int {
	switch s {
	case statePending:
		return 0
	case stateRunning:
		return 16
	case stateShuttingDown:
		return 32
	case stateTerminated:
		return 48
	}
	return 80
}

type instance struct {
	ID, ReservationID, ImageID, SubnetID, Zone, ZoneID string
	Type                                               *instanceType
	CapacityType                                       string // spot | on-demand
	SpotRequestID                                      string
	State                                              string
	LaunchTime                                         time.Time
	PrivateIP, PrivateDNS                              string
	Tags                                               []tag
	Groups                                             []string
	UserData                                           string
	ClientToken                                        string
	StateReason                                        [2]string // code, message
	Transition                                         string
	InterruptAt                                        time.Time // when a spot interruption will reclaim it
	InstanceProfile                                    string    // the IAM instance profile's name, "" for none
	Metadata                                           MetadataOptionsState
	Monitoring                                         bool
	VisibleAt                                          time.Time // before it, the EC2 API does not know the instance
}

// launchSpec is one instance to start, resolved from RunInstances or a fleet override.
type launchSpec struct {
	Type            *instanceType
	Subnet          *subnet
	ImageID         string
	CapacityType    string
	Tags            []tag
	Groups          []string
	UserData        string
	ClientToken     string
	InstanceProfile string
	Metadata        MetadataOptionsState
	Monitoring      bool
	HostnameType    string
}

// capacityLeftLocked is how many more instances a pool can start (-1: unlimited).
func (w *World) capacityLeftLocked(p pool) int {
	if n, ok := w.capacity[p]; ok {
		return n
	}
	return -1
}

// launchLocked starts one instance; the caller has checked capacity and offerings.
func (w *World) launchLocked(spec launchSpec, reservationID string) (*instance, *apiError) {
	if err := w.checkVCPUQuotaLocked(spec); err != nil {
		return nil, err
	}
	ip, ok := spec.Subnet.allocateIP()
	if !ok {
		return nil, server(codeInsufficientFreeAddresses, "There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.", spec.Subnet.ID)
	}
	p := pool{InstanceType: spec.Type.Name, Zone: spec.Subnet.Zone, CapacityType: spec.CapacityType}
	if n, ok := w.capacity[p]; ok {
		w.capacity[p] = n - 1
	}
	groups := spec.Groups
	if len(groups) == 0 {
		groups = []string{w.groups[len(w.groups)-1].ID} // the VPC's default group, as EC2 does
	}
	now := w.now()
	id := w.newID("i")
	host := "ip-" + strings.ReplaceAll(ip, ".", "-")
	if spec.HostnameType == hostnameResource {
		host = id
	}
	inst := &instance{ID: id, ReservationID: reservationID, ImageID: spec.ImageID, SubnetID: spec.Subnet.ID,
		Zone: spec.Subnet.Zone, ZoneID: spec.Subnet.ZoneID, Type: spec.Type, CapacityType: spec.CapacityType, State: statePending,
		LaunchTime: now, PrivateIP: ip, PrivateDNS: w.privateDNS(host), Tags: spec.Tags, Groups: groups, UserData: spec.UserData,
		ClientToken: spec.ClientToken, InstanceProfile: spec.InstanceProfile, Metadata: spec.Metadata, Monitoring: spec.Monitoring}
	if spec.CapacityType == "spot" {
		inst.SpotRequestID = w.newID("sir")[:12]
	}
	inst.VisibleAt = now
	if d := w.opts.VisibilityDelay; d > 0 {
		inst.VisibleAt = now.Add(time.Duration(w.rng.Int64N(int64(d) + 1)))
	}
	w.instances[inst.ID] = inst
	w.order = append(w.order, inst)
	w.emitStateChangeLocked(inst)
	boot := w.opts.BootDelay
	if boot <= 0 {
		w.setStateLocked(inst, stateRunning)
	} else {
		w.scheduleLocked(now.Add(boot), func(time.Time) {
			if inst.State == statePending {
				w.setStateLocked(inst, stateRunning)
			}
		})
	}
	return inst, nil
}

// Hostname types of PrivateDnsNameOptions: the private IP or the instance ID.
const (
	hostnameIP       = "ip-name"
	hostnameResource = "resource-name"
)

// privateDNS follows EC2's naming: ec2.internal in us-east-1, <region>.compute.internal elsewhere.
func (w *World) privateDNS(host string) string {
	if w.opts.Region == "us-east-1" {
		return host + ".ec2.internal"
	}
	return host + "." + w.opts.Region + ".compute.internal"
}

func (w *World) setStateLocked(inst *instance, state string) {
	inst.State = state
	w.emitStateChangeLocked(inst)
}

// terminateLocked moves an instance to shutting-down and, after EC2's shutdown time, to
// terminated, when its address returns to the subnet.
func (w *World) terminateLocked(inst *instance, reasonCode, reasonMsg string) {
	if inst.State == stateShuttingDown || inst.State == stateTerminated {
		return
	}
	inst.StateReason = [2]string{reasonCode, reasonMsg}
	inst.Transition = fmt.Sprintf("User initiated (%s)", w.now().Format("2006-01-02 15:04:05 MST"))
	w.setStateLocked(inst, stateShuttingDown)
	w.scheduleLocked(w.now().Add(shutdownDuration), func(at time.Time) {
		w.setStateLocked(inst, stateTerminated)
		if s := w.subnetByID(inst.SubnetID); s != nil {
			s.inUse--
		}
		w.scheduleLocked(at.Add(terminatedVisibility), func(time.Time) { w.forgetLocked(inst) })
	})
}

// forgetLocked drops a long-terminated instance, as DescribeInstances eventually does. The
// launch-order list is compacted in one pass once half of it is gone, so mass terminations
// stay linear.
func (w *World) forgetLocked(inst *instance) {
	delete(w.instances, inst.ID)
	if len(w.instances) > len(w.order)/2 {
		return
	}
	kept := w.order[:0]
	for _, x := range w.order {
		if w.instances[x.ID] == x {
			kept = append(kept, x)
		}
	}
	clear(w.order[len(kept):])
	w.order = kept
}

// liveOrderLocked is the launch-order list without forgotten instances.
func (w *World) liveOrderLocked() []*instance {
	if len(w.order) == len(w.instances) {
		return w.order
	}
	out := make([]*instance, 0, len(w.instances))
	for _, x := range w.order {
		if w.instances[x.ID] == x {
			out = append(out, x)
		}
	}
	return out
}

type xmlState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type xmlPlacement struct {
	AvailabilityZone   string `xml:"availabilityZone"`
	AvailabilityZoneID string `xml:"availabilityZoneId"`
	Tenancy            string `xml:"tenancy"`
}

type xmlGroup struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type xmlStateReason struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type xmlInstance struct {
	InstanceID            string          `xml:"instanceId"`
	ImageID               string          `xml:"imageId"`
	InstanceState         xmlState        `xml:"instanceState"`
	PrivateDNSName        string          `xml:"privateDnsName"`
	DNSName               string          `xml:"dnsName"`
	Reason                string          `xml:"reason"`
	AmiLaunchIndex        int             `xml:"amiLaunchIndex"`
	InstanceType          string          `xml:"instanceType"`
	LaunchTime            string          `xml:"launchTime"`
	Placement             xmlPlacement    `xml:"placement"`
	Monitoring            xmlState        `xml:"monitoring"`
	SubnetID              string          `xml:"subnetId,omitempty"`
	VpcID                 string          `xml:"vpcId,omitempty"`
	PrivateIPAddress      string          `xml:"privateIpAddress,omitempty"`
	SourceDestCheck       bool            `xml:"sourceDestCheck"`
	Groups                []xmlGroup      `xml:"groupSet>item"`
	StateReason           *xmlStateReason `xml:"stateReason,omitempty"`
	Architecture          string          `xml:"architecture"`
	RootDeviceType        string          `xml:"rootDeviceType"`
	RootDeviceName        string          `xml:"rootDeviceName"`
	InstanceLifecycle     string          `xml:"instanceLifecycle,omitempty"`
	SpotInstanceRequestID string          `xml:"spotInstanceRequestId,omitempty"`
	VirtualizationType    string          `xml:"virtualizationType"`
	ClientToken           string          `xml:"clientToken,omitempty"`
	Tags                  []xmlTag        `xml:"tagSet>item,omitempty"`
	Hypervisor            string          `xml:"hypervisor"`
	EbsOptimized          bool            `xml:"ebsOptimized"`
	EnaSupport            bool            `xml:"enaSupport"`
	PlatformDetails       string          `xml:"platformDetails"`
	UsageOperation        string          `xml:"usageOperation"`
	BootMode              string          `xml:"currentInstanceBootMode"`
}

func (w *World) xmlInstance(inst *instance) xmlInstance {
	x := xmlInstance{InstanceID: inst.ID, ImageID: inst.ImageID, InstanceState: xmlState{Code: stateCode(inst.State), Name: inst.State},
		PrivateDNSName: inst.PrivateDNS, Reason: inst.Transition, InstanceType: inst.Type.Name, LaunchTime: isoTime(inst.LaunchTime),
		Placement:  xmlPlacement{AvailabilityZone: inst.Zone, AvailabilityZoneID: inst.ZoneID, Tenancy: "default"},
		Monitoring: xmlState{Name: "disabled"}, SubnetID: inst.SubnetID, VpcID: w.vpcID, PrivateIPAddress: inst.PrivateIP,
		SourceDestCheck: true, Architecture: inst.Type.ec2Arch(), RootDeviceType: "ebs", RootDeviceName: "/dev/xvda",
		SpotInstanceRequestID: inst.SpotRequestID, VirtualizationType: "hvm", ClientToken: inst.ClientToken, Tags: xmlTags(inst.Tags),
		Hypervisor: "xen", EbsOptimized: true, EnaSupport: true, PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances", BootMode: "uefi"}
	x.Monitoring.Code = 0
	if inst.CapacityType == "spot" {
		x.InstanceLifecycle = "spot"
	}
	if inst.StateReason[0] != "" {
		x.StateReason = &xmlStateReason{Code: inst.StateReason[0], Message: inst.StateReason[1]}
	}
	if inst.State == stateTerminated {
		// A terminated instance's network interface is gone, and with it what EC2 read from it:
		// addresses, subnet, VPC and security groups.
		x.PrivateDNSName, x.PrivateIPAddress, x.SubnetID, x.VpcID = "", "", "", ""
		return x
	}
	for _, g := range inst.Groups {
		name := g
		if sg := w.groupByID(g); sg != nil {
			name = sg.Name
		}
		x.Groups = append(x.Groups, xmlGroup{GroupID: g, GroupName: name})
	}
	return x
}

type xmlReservation struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Groups        []xmlGroup    `xml:"groupSet>item"`
	Instances     []xmlInstance `xml:"instancesSet>item"`
}

type describeInstancesResponse struct {
	Reservations []xmlReservation `xml:"reservationSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

// SetVCPULimits changes the account's vCPU quotas (Options.OnDemandVCPULimit, SpotVCPULimit).
func (w *World) SetVCPULimits(onDemand, spot int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opts.OnDemandVCPULimit, w.opts.SpotVCPULimit = onDemand, spot
}

// checkVCPUQuotaLocked refuses a launch that would take the account's pending and running
// instances of its capacity type past their vCPU quota, with EC2's error.
func (w *World) checkVCPUQuotaLocked(spec launchSpec) *apiError {
	limit := w.opts.OnDemandVCPULimit
	if spec.CapacityType == "spot" {
		limit = w.opts.SpotVCPULimit
	}
	if limit <= 0 {
		return nil
	}
	used := spec.Type.VCPU
	for _, inst := range w.instances {
		if inst.CapacityType == spec.CapacityType && (inst.State == statePending || inst.State == stateRunning) {
			used += inst.Type.VCPU
		}
	}
	if used <= limit {
		return nil
	}
	if spec.CapacityType == "spot" {
		return sender(codeMaxSpotInstanceCountExceeded, "Max spot instance count exceeded")
	}
	return sender(codeVcpuLimitExceeded, "You have requested more vCPU capacity than your current vCPU limit of %d allows for the instance bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.", limit)
}

// visibleInstancesLocked resolves IDs as the EC2 API does: an instance launched too recently to be
// visible (Options.VisibilityDelay) is as unknown as one that never existed.
func (w *World) visibleInstancesLocked(ids []string) ([]*instance, *apiError) {
	insts, err := w.findInstancesLocked(ids)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, inst := range insts {
		if !w.visibleLocked(inst) {
			missing = append(missing, inst.ID)
		}
	}
	if len(missing) > 0 {
		return nil, instancesNotFound(missing)
	}
	return insts, nil
}

// visibleLocked reports whether the EC2 API knows the instance yet.
func (w *World) visibleLocked(inst *instance) bool { return !w.now().Before(inst.VisibleAt) }

// findInstancesLocked resolves IDs with the errors EC2 gives for malformed and unknown ones.
func (w *World) findInstancesLocked(ids []string) ([]*instance, *apiError) {
	var out []*instance
	var missing []string
	for _, id := range ids {
		if !validID(id, "i") {
			return nil, sender(codeInvalidInstanceIDMalformed, "Invalid id: \"%s\"", id)
		}
		if inst := w.instances[id]; inst != nil {
			out = append(out, inst)
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, instancesNotFound(missing)
	}
	return out, nil
}

// instancesNotFound is EC2's answer naming the instance IDs it does not know.
func instancesNotFound(missing []string) *apiError {
	if len(missing) == 1 {
		return sender(codeInvalidInstanceIDNotFound, "The instance ID '%s' does not exist", missing[0])
	}
	return sender(codeInvalidInstanceIDNotFound, "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
}

func instanceFields(w *World) fields[*instance] {
	return fields[*instance]{
		"instance-id":         func(i *instance) []string { return one(i.ID) },
		"instance-state-name": func(i *instance) []string { return one(i.State) },
		"instance-state-code": func(i *instance) []string { return one(fmt.Sprint(stateCode(i.State))) },
		"instance-type":       func(i *instance) []string { return one(i.Type.Name) },
		"availability-zone":   func(i *instance) []string { return one(i.Zone) },
		"subnet-id":           func(i *instance) []string { return network(i, one(i.SubnetID)) },
		"vpc-id":              func(i *instance) []string { return network(i, one(w.vpcID)) },
		"image-id":            func(i *instance) []string { return one(i.ImageID) },
		"private-dns-name":    func(i *instance) []string { return one(i.PrivateDNS) },
		"private-ip-address":  func(i *instance) []string { return one(i.PrivateIP) },
		"client-token":        func(i *instance) []string { return one(i.ClientToken) },
		"reservation-id":      func(i *instance) []string { return one(i.ReservationID) },
		"architecture":        func(i *instance) []string { return one(i.Type.ec2Arch()) },
		"instance-lifecycle": func(i *instance) []string {
			if i.CapacityType == "spot" {
				return one("spot")
			}
			return nil
		},
		"instance.group-id": func(i *instance) []string { return network(i, i.Groups) },
	}
}

// network is values unless the instance is terminated: a terminated instance no longer has the
// network interface its subnet, VPC and groups came from, so filters on them miss it.
func network(i *instance, values []string) []string {
	if i.State == stateTerminated {
		return nil
	}
	return values
}

func (w *World) describeInstances(_ context.Context, p params) (any, *apiError) {
	known := instanceFields(w)
	filters, err := parseFilters(p, known, true)
	if err != nil {
		return nil, err
	}
	ids := p.list("InstanceId")
	if len(ids) > 0 && p.has("MaxResults") {
		return nil, sender(codeInvalidParameterCombo, "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	candidates := w.liveOrderLocked()
	if len(ids) > 0 {
		if candidates, err = w.visibleInstancesLocked(ids); err != nil {
			return nil, err
		}
	}
	var hits []*instance
	for _, inst := range candidates {
		if w.visibleLocked(inst) && matches(inst, filters, known, func(i *instance) []tag { return i.Tags }) {
			hits = append(hits, inst)
		}
	}
	pg, err := paginate(p, "DescribeInstances", len(hits), 5, 1000, 0)
	if err != nil {
		return nil, err
	}
	return describeInstancesResponse{Reservations: w.reservations(hits[pg.Start:pg.End]), NextToken: pg.Next}, nil
}

// reservations groups instances into their reservations, keeping order.
func (w *World) reservations(insts []*instance) []xmlReservation {
	out := []xmlReservation{}
	for _, inst := range insts {
		if n := len(out); n == 0 || out[n-1].ReservationID != inst.ReservationID {
			out = append(out, xmlReservation{ReservationID: inst.ReservationID, OwnerID: w.opts.AccountID, Groups: []xmlGroup{}})
		}
		r := &out[len(out)-1]
		r.Instances = append(r.Instances, w.xmlInstance(inst))
	}
	return out
}

type xmlStateChange struct {
	InstanceID    string   `xml:"instanceId"`
	CurrentState  xmlState `xml:"currentState"`
	PreviousState xmlState `xml:"previousState"`
}

type terminateInstancesResponse struct {
	Instances []xmlStateChange `xml:"instancesSet>item"`
}

func (w *World) terminateInstances(_ context.Context, p params) (any, *apiError) {
	ids := p.list("InstanceId")
	if len(ids) == 0 {
		return nil, missingParameter("InstanceId")
	}
	insts, err := w.visibleInstancesLocked(ids)
	if err != nil {
		return nil, err
	}
	out := terminateInstancesResponse{}
	for _, inst := range insts {
		prev := inst.State
		w.terminateLocked(inst, "Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown")
		out.Instances = append(out.Instances, xmlStateChange{InstanceID: inst.ID,
			CurrentState: xmlState{Code: stateCode(inst.State), Name: inst.State}, PreviousState: xmlState{Code: stateCode(prev), Name: prev}})
	}
	return out, nil
}

type createTagsResponse struct {
	Return bool `xml:"return"`
}

func (w *World) createTags(_ context.Context, p params) (any, *apiError) {
	ids := p.list("ResourceId")
	if len(ids) == 0 {
		return nil, missingParameter("ResourceId")
	}
	tags, err := p.tags("Tag")
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, missingParameter("Tag")
	}
	for _, t := range tags {
		if strings.HasPrefix(t.Key, "aws:") {
			return nil, sender(codeInvalidParameterValue, "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	// Resolve every resource before changing any, so a bad ID changes nothing.
	var targets []*[]tag
	for _, id := range ids {
		prefix, _, _ := strings.Cut(id, "-")
		switch prefix {
		case "i":
			insts, err := w.visibleInstancesLocked([]string{id})
			if err != nil {
				return nil, err
			}
			targets = append(targets, &insts[0].Tags)
		case "lt":
			lt, err := w.templateBy(id, "")
			if err != nil {
				return nil, err
			}
			targets = append(targets, &lt.Tags)
		case "subnet":
			s := w.subnetByID(id)
			if s == nil {
				return nil, sender(codeInvalidSubnetIDNotFound, "The subnet ID '%s' does not exist", id)
			}
			targets = append(targets, &s.Tags)
		case "sg":
			g := w.groupByID(id)
			if g == nil {
				return nil, sender(codeInvalidGroupNotFound, "The security group '%s' does not exist", id)
			}
			targets = append(targets, &g.Tags)
		case "ami":
			img := w.images[id]
			if img == nil {
				return nil, sender(codeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", id)
			}
			targets = append(targets, &img.Tags)
		default:
			return nil, sender(codeInvalidID, "The ID '%s' is not valid", id)
		}
	}
	for _, t := range targets {
		*t = mergeTags(*t, tags)
	}
	return createTagsResponse{Return: true}, nil
}
