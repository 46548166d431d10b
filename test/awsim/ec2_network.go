package awsim

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
)

// subnet is a VPC subnet. Available addresses drop by one per live instance in it.
type subnet struct {
	ID, Zone, ZoneID, CIDR string
	Tags                   []tag
	base                   uint32 // network address
	size                   int    // usable addresses (AWS reserves five per subnet)
	nextHost               uint32
	inUse                  int
}

type securityGroup struct {
	ID, Name, Description string
	Tags                  []tag
}

// buildNetwork lays out the cluster VPC: a private subnet per zone tagged for the cluster
// (karpenter.sh/discovery, kubernetes.io/role/internal-elb), an untagged public subnet per zone,
// the cluster security group and the VPC's default group.
func (w *World) buildNetwork() {
	code := regionCode(w.opts.Region)
	azIDs := []int{1, 2, 3}
	if w.opts.Region == "us-east-1" {
		azIDs = []int{4, 6, 1} // zone names map to zone IDs per account; this is one real-looking mapping
	}
	for i, suffix := range []string{"a", "b", "c"} {
		w.zones = append(w.zones, zone{Name: w.opts.Region + suffix, ID: fmt.Sprintf("%s-az%d", code, azIDs[i])})
	}
	w.vpcID = w.newID("vpc")
	cluster := w.opts.ClusterName
	for i, z := range w.zones {
		w.subnets = append(w.subnets, w.newSubnet(z, fmt.Sprintf("10.0.%d.0/19", i*32), []tag{
			{Key: "Name", Value: fmt.Sprintf("%s-private-%s", cluster, z.Name)},
			{Key: "karpenter.sh/discovery", Value: cluster},
			{Key: "kubernetes.io/cluster/" + cluster, Value: "shared"},
			{Key: "kubernetes.io/role/internal-elb", Value: "1"},
		}))
	}
	for i, z := range w.zones {
		w.subnets = append(w.subnets, w.newSubnet(z, fmt.Sprintf("10.0.%d.0/22", 96+i*4), []tag{
			{Key: "Name", Value: fmt.Sprintf("%s-public-%s", cluster, z.Name)},
			{Key: "kubernetes.io/role/elb", Value: "1"},
		}))
	}
	w.groups = []*securityGroup{
		{ID: w.newID("sg"), Name: "eks-cluster-sg-" + cluster, Description: "EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, as well as any managed workloads.",
			Tags: []tag{
				{Key: "Name", Value: "eks-cluster-sg-" + cluster},
				{Key: "karpenter.sh/discovery", Value: cluster},
				{Key: "kubernetes.io/cluster/" + cluster, Value: "owned"},
			}},
		{ID: w.newID("sg"), Name: "default", Description: "default VPC security group"},
	}
}

func (w *World) newSubnet(z zone, cidr string, tags []tag) *subnet {
	_, ipnet, _ := net.ParseCIDR(cidr)
	ones, bits := ipnet.Mask.Size()
	return &subnet{ID: w.newID("subnet"), Zone: z.Name, ZoneID: z.ID, CIDR: cidr, Tags: tags,
		base: binary.BigEndian.Uint32(ipnet.IP.To4()), size: 1<<(bits-ones) - 5}
}

// allocateIP hands out the next private address; ok is false when the subnet is full.
func (s *subnet) allocateIP() (string, bool) {
	if s.inUse >= s.size {
		return "", false
	}
	s.inUse++
	s.nextHost++
	if int(s.nextHost) > s.size {
		s.nextHost = 1
	}
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, s.base+3+s.nextHost) // .0–.3 are reserved by AWS
	return ip.String(), true
}

func (w *World) zoneByName(name string) (zone, bool) {
	for _, z := range w.zones {
		if z.Name == name {
			return z, true
		}
	}
	return zone{}, false
}

func (w *World) subnetByID(id string) *subnet {
	for _, s := range w.subnets {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// clusterSubnet is the cluster's subnet in a zone, used when a launch names a zone only.
func (w *World) clusterSubnet(zoneName string) *subnet {
	for _, s := range w.subnets {
		if s.Zone == zoneName {
			if _, ok := tagValue(s.Tags, "karpenter.sh/discovery"); ok {
				return s
			}
		}
	}
	return nil
}

type xmlZone struct {
	ZoneName           string `xml:"zoneName"`
	ZoneState          string `xml:"zoneState"`
	RegionName         string `xml:"regionName"`
	ZoneID             string `xml:"zoneId"`
	ZoneType           string `xml:"zoneType"`
	OptInStatus        string `xml:"optInStatus"`
	GroupName          string `xml:"groupName"`
	NetworkBorderGroup string `xml:"networkBorderGroup"`
}

type describeZonesResponse struct {
	Zones []xmlZone `xml:"availabilityZoneInfo>item"`
}

func (w *World) describeAvailabilityZones(_ context.Context, p params) (any, *apiError) {
	known := fields[zone]{
		"zone-name":   func(z zone) []string { return one(z.Name) },
		"zone-id":     func(z zone) []string { return one(z.ID) },
		"region-name": func(zone) []string { return one(w.opts.Region) },
		"state":       func(zone) []string { return one("available") },
		"zone-type":   func(zone) []string { return one("availability-zone") },
		"group-name":  func(zone) []string { return one(w.opts.Region) },
	}
	filters, err := parseFilters(p, known, false)
	if err != nil {
		return nil, err
	}
	names, ids := p.list("ZoneName"), p.list("ZoneId")
	for _, n := range names {
		if _, ok := w.zoneByName(n); !ok {
			return nil, sender(codeInvalidParameterValue, "The zone '%s' does not exist.", n)
		}
	}
	out := describeZonesResponse{Zones: []xmlZone{}}
	for _, z := range w.zones {
		if (len(names) > 0 && !contains(names, z.Name)) || (len(ids) > 0 && !contains(ids, z.ID)) || !matches(z, filters, known, nil) {
			continue
		}
		out.Zones = append(out.Zones, xmlZone{ZoneName: z.Name, ZoneState: "available", RegionName: w.opts.Region, ZoneID: z.ID,
			ZoneType: "availability-zone", OptInStatus: "opt-in-not-required", GroupName: w.opts.Region, NetworkBorderGroup: w.opts.Region})
	}
	return out, nil
}

type xmlSubnet struct {
	SubnetID                string   `xml:"subnetId"`
	SubnetArn               string   `xml:"subnetArn"`
	State                   string   `xml:"state"`
	VpcID                   string   `xml:"vpcId"`
	OwnerID                 string   `xml:"ownerId"`
	CidrBlock               string   `xml:"cidrBlock"`
	AvailableIPAddressCount int      `xml:"availableIpAddressCount"`
	AvailabilityZone        string   `xml:"availabilityZone"`
	AvailabilityZoneID      string   `xml:"availabilityZoneId"`
	DefaultForAz            bool     `xml:"defaultForAz"`
	MapPublicIPOnLaunch     bool     `xml:"mapPublicIpOnLaunch"`
	Tags                    []xmlTag `xml:"tagSet>item"`
}

type describeSubnetsResponse struct {
	Subnets   []xmlSubnet `xml:"subnetSet>item"`
	NextToken string      `xml:"nextToken,omitempty"`
}

func (w *World) describeSubnets(_ context.Context, p params) (any, *apiError) {
	known := fields[*subnet]{
		"subnet-id":                  func(s *subnet) []string { return one(s.ID) },
		"availability-zone":          func(s *subnet) []string { return one(s.Zone) },
		"availability-zone-id":       func(s *subnet) []string { return one(s.ZoneID) },
		"cidr-block":                 func(s *subnet) []string { return one(s.CIDR) },
		"vpc-id":                     func(s *subnet) []string { return one(w.vpcID) },
		"state":                      func(*subnet) []string { return one("available") },
		"default-for-az":             func(*subnet) []string { return one("false") },
		"owner-id":                   func(*subnet) []string { return one(w.opts.AccountID) },
		"available-ip-address-count": func(s *subnet) []string { return one(fmt.Sprint(s.size - s.inUse)) },
	}
	filters, err := parseFilters(p, known, true)
	if err != nil {
		return nil, err
	}
	ids := p.list("SubnetId")
	for _, id := range ids {
		if w.subnetByID(id) == nil {
			return nil, sender(codeInvalidSubnetIDNotFound, "The subnet ID '%s' does not exist", id)
		}
	}
	var hits []*subnet
	for _, s := range w.subnets {
		if (len(ids) == 0 || contains(ids, s.ID)) && matches(s, filters, known, func(s *subnet) []tag { return s.Tags }) {
			hits = append(hits, s)
		}
	}
	pg, err := paginate(p, "DescribeSubnets", len(hits), 5, 1000, 0)
	if err != nil {
		return nil, err
	}
	out := describeSubnetsResponse{Subnets: []xmlSubnet{}, NextToken: pg.Next}
	for _, s := range hits[pg.Start:pg.End] {
		out.Subnets = append(out.Subnets, xmlSubnet{SubnetID: s.ID, State: "available", VpcID: w.vpcID, OwnerID: w.opts.AccountID,
			SubnetArn: fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", w.opts.Region, w.opts.AccountID, s.ID),
			CidrBlock: s.CIDR, AvailableIPAddressCount: s.size - s.inUse, AvailabilityZone: s.Zone, AvailabilityZoneID: s.ZoneID,
			MapPublicIPOnLaunch: strings.Contains(s.CIDR, "/22"), Tags: xmlTags(s.Tags)})
	}
	return out, nil
}

type xmlSecurityGroup struct {
	OwnerID          string   `xml:"ownerId"`
	GroupID          string   `xml:"groupId"`
	GroupName        string   `xml:"groupName"`
	GroupDescription string   `xml:"groupDescription"`
	VpcID            string   `xml:"vpcId"`
	SecurityGroupArn string   `xml:"securityGroupArn"`
	Tags             []xmlTag `xml:"tagSet>item"`
}

type describeSecurityGroupsResponse struct {
	Groups    []xmlSecurityGroup `xml:"securityGroupInfo>item"`
	NextToken string             `xml:"nextToken,omitempty"`
}

func (w *World) describeSecurityGroups(_ context.Context, p params) (any, *apiError) {
	known := fields[*securityGroup]{
		"group-id":    func(g *securityGroup) []string { return one(g.ID) },
		"group-name":  func(g *securityGroup) []string { return one(g.Name) },
		"description": func(g *securityGroup) []string { return one(g.Description) },
		"vpc-id":      func(*securityGroup) []string { return one(w.vpcID) },
		"owner-id":    func(*securityGroup) []string { return one(w.opts.AccountID) },
	}
	filters, err := parseFilters(p, known, true)
	if err != nil {
		return nil, err
	}
	ids, names := p.list("GroupId"), p.list("GroupName")
	for _, id := range ids {
		if w.groupByID(id) == nil {
			return nil, sender(codeInvalidGroupNotFound, "The security group '%s' does not exist", id)
		}
	}
	for _, n := range names {
		found := false
		for _, g := range w.groups {
			found = found || g.Name == n
		}
		if !found {
			return nil, sender(codeInvalidGroupNotFound, "The security group '%s' does not exist in default VPC '%s'", n, w.vpcID)
		}
	}
	var hits []*securityGroup
	for _, g := range w.groups {
		if (len(ids) == 0 || contains(ids, g.ID)) && (len(names) == 0 || contains(names, g.Name)) &&
			matches(g, filters, known, func(g *securityGroup) []tag { return g.Tags }) {
			hits = append(hits, g)
		}
	}
	pg, err := paginate(p, "DescribeSecurityGroups", len(hits), 5, 1000, 0)
	if err != nil {
		return nil, err
	}
	out := describeSecurityGroupsResponse{Groups: []xmlSecurityGroup{}, NextToken: pg.Next}
	for _, g := range hits[pg.Start:pg.End] {
		out.Groups = append(out.Groups, xmlSecurityGroup{OwnerID: w.opts.AccountID, GroupID: g.ID, GroupName: g.Name,
			GroupDescription: g.Description, VpcID: w.vpcID, Tags: xmlTags(g.Tags),
			SecurityGroupArn: fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", w.opts.Region, w.opts.AccountID, g.ID)})
	}
	return out, nil
}

func (w *World) groupByID(id string) *securityGroup {
	for _, g := range w.groups {
		if g.ID == id {
			return g
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
