package awsim

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

type xmlInstanceTypeInfo struct {
	InstanceType                  string             `xml:"instanceType"`
	CurrentGeneration             bool               `xml:"currentGeneration"`
	FreeTierEligible              bool               `xml:"freeTierEligible"`
	SupportedUsageClasses         []string           `xml:"supportedUsageClasses>item"`
	SupportedRootDeviceTypes      []string           `xml:"supportedRootDeviceTypes>item"`
	SupportedVirtualizationTypes  []string           `xml:"supportedVirtualizationTypes>item"`
	BareMetal                     bool               `xml:"bareMetal"`
	Hypervisor                    string             `xml:"hypervisor,omitempty"`
	ProcessorInfo                 xmlProcessorInfo   `xml:"processorInfo"`
	VCPUInfo                      xmlVCPUInfo        `xml:"vCpuInfo"`
	MemoryInfo                    xmlSize            `xml:"memoryInfo"`
	InstanceStorageSupported      bool               `xml:"instanceStorageSupported"`
	InstanceStorageInfo           *xmlStorageInfo    `xml:"instanceStorageInfo,omitempty"`
	EbsInfo                       xmlEbsInfo         `xml:"ebsInfo"`
	NetworkInfo                   xmlNetworkInfo     `xml:"networkInfo"`
	GpuInfo                       *xmlGpuInfo        `xml:"gpuInfo,omitempty"`
	InferenceAcceleratorInfo      *xmlInferenceInfo  `xml:"inferenceAcceleratorInfo,omitempty"`
	NeuronInfo                    *xmlNeuronInfo     `xml:"neuronInfo,omitempty"`
	BurstablePerformanceSupported bool               `xml:"burstablePerformanceSupported"`
	HibernationSupported          bool               `xml:"hibernationSupported"`
	DedicatedHostsSupported       bool               `xml:"dedicatedHostsSupported"`
	AutoRecoverySupported         bool               `xml:"autoRecoverySupported"`
	SupportedBootModes            []string           `xml:"supportedBootModes>item"`
	NitroEnclavesSupport          string             `xml:"nitroEnclavesSupport"`
	PlacementGroupInfo            xmlPlacementGroups `xml:"placementGroupInfo"`
}

type xmlProcessorInfo struct {
	SupportedArchitectures   []string `xml:"supportedArchitectures>item"`
	SustainedClockSpeedInGhz float64  `xml:"sustainedClockSpeedInGhz,omitempty"`
	Manufacturer             string   `xml:"manufacturer,omitempty"`
}

type xmlVCPUInfo struct {
	DefaultVCpus          int `xml:"defaultVCpus"`
	DefaultCores          int `xml:"defaultCores"`
	DefaultThreadsPerCore int `xml:"defaultThreadsPerCore"`
}

type xmlSize struct {
	SizeInMiB int64 `xml:"sizeInMiB"`
}

type xmlDisk struct {
	SizeInGB int64  `xml:"sizeInGB"`
	Count    int    `xml:"count"`
	Type     string `xml:"type"`
}

type xmlStorageInfo struct {
	TotalSizeInGB     int64     `xml:"totalSizeInGB"`
	Disks             []xmlDisk `xml:"disks>item"`
	NvmeSupport       string    `xml:"nvmeSupport"`
	EncryptionSupport string    `xml:"encryptionSupport"`
}

type xmlEbsOptimizedInfo struct {
	BaselineBandwidthInMbps int64 `xml:"baselineBandwidthInMbps"`
	MaximumBandwidthInMbps  int64 `xml:"maximumBandwidthInMbps"`
}

type xmlEbsInfo struct {
	EbsOptimizedSupport string               `xml:"ebsOptimizedSupport"`
	EncryptionSupport   string               `xml:"encryptionSupport"`
	EbsOptimizedInfo    *xmlEbsOptimizedInfo `xml:"ebsOptimizedInfo,omitempty"`
	NvmeSupport         string               `xml:"nvmeSupport"`
}

type xmlNetworkCard struct {
	NetworkCardIndex         int    `xml:"networkCardIndex"`
	NetworkPerformance       string `xml:"networkPerformance"`
	MaximumNetworkInterfaces int    `xml:"maximumNetworkInterfaces"`
}

type xmlNetworkInfo struct {
	NetworkPerformance           string           `xml:"networkPerformance"`
	MaximumNetworkInterfaces     int              `xml:"maximumNetworkInterfaces,omitempty"`
	MaximumNetworkCards          int              `xml:"maximumNetworkCards,omitempty"`
	DefaultNetworkCardIndex      int              `xml:"defaultNetworkCardIndex"`
	NetworkCards                 []xmlNetworkCard `xml:"networkCards>item,omitempty"`
	Ipv4AddressesPerInterface    int              `xml:"ipv4AddressesPerInterface,omitempty"`
	Ipv6AddressesPerInterface    int              `xml:"ipv6AddressesPerInterface,omitempty"`
	Ipv6Supported                bool             `xml:"ipv6Supported"`
	EnaSupport                   string           `xml:"enaSupport"`
	EfaSupported                 bool             `xml:"efaSupported"`
	EncryptionInTransitSupported bool             `xml:"encryptionInTransitSupported"`
}

type xmlGpuDevice struct {
	Name         string  `xml:"name"`
	Manufacturer string  `xml:"manufacturer"`
	Count        int64   `xml:"count"`
	MemoryInfo   xmlSize `xml:"memoryInfo"`
}

type xmlGpuInfo struct {
	Gpus                []xmlGpuDevice `xml:"gpus>item"`
	TotalGpuMemoryInMiB int64          `xml:"totalGpuMemoryInMiB"`
}

type xmlInferenceInfo struct {
	// EC2 names these list members "member", unlike every other list in its API.
	Accelerators []xmlGpuDevice `xml:"accelerators>member"`
}

type xmlNeuronDevice struct {
	Name  string `xml:"name"`
	Count int64  `xml:"count"`
}

type xmlNeuronInfo struct {
	NeuronDevices []xmlNeuronDevice `xml:"neuronDevices>item"`
}

type xmlPlacementGroups struct {
	SupportedStrategies []string `xml:"supportedStrategies>item"`
}

type describeInstanceTypesResponse struct {
	InstanceTypes rawXML `xml:"instanceTypeSet"`
	NextToken     string `xml:"nextToken,omitempty"`
}

// rawXML is pre-encoded element content, written verbatim.
type rawXML struct {
	Inner []byte `xml:",innerxml"`
}

// typeXMLLocked returns a type's <item> element, encoded once per world: the catalog never
// changes, and encoding it on every page would dominate DescribeInstanceTypes.
func (w *World) typeXMLLocked(t *instanceType) ([]byte, error) {
	if b, ok := w.typeXML[t.Name]; ok {
		return b, nil
	}
	var buf bytes.Buffer
	if err := xml.NewEncoder(&buf).EncodeElement(t.info(), xml.StartElement{Name: xml.Name{Local: "item"}}); err != nil {
		return nil, err
	}
	w.typeXML[t.Name] = buf.Bytes()
	return buf.Bytes(), nil
}

// previousGeneration lists families EC2 reports with currentGeneration=false.
func previousGeneration(family string) bool {
	switch family {
	case "t1", "m1", "m2", "m3", "c1", "c3", "cc2", "cr1", "g2", "hs1", "i2", "r3", "d2", "m4", "c4", "r4", "x1", "x1e", "p2", "g3", "g3s", "t2", "i3", "f1":
		return true
	}
	return false
}

// manufacturerName turns a lower-case label value back into the name EC2 reports.
func manufacturerName(s string) string {
	switch s {
	case "intel":
		return "Intel"
	case "amd":
		return "AMD"
	case "aws":
		return "AWS"
	case "nvidia":
		return "NVIDIA"
	case "habana":
		return "Habana"
	case "xilinx":
		return "Xilinx"
	case "qualcomm":
		return "Qualcomm"
	case "apple":
		return "Apple"
	}
	return s
}

func (t *instanceType) info() xmlInstanceTypeInfo {
	family := t.label("family")
	threads := 2
	if t.Arch == "arm64" || t.VCPU == 1 {
		threads = 1
	}
	it := xmlInstanceTypeInfo{
		InstanceType:                  t.Name,
		CurrentGeneration:             !previousGeneration(family),
		FreeTierEligible:              t.Name == "t2.micro" || t.Name == "t3.micro",
		SupportedUsageClasses:         []string{"on-demand", "spot"},
		SupportedRootDeviceTypes:      []string{"ebs"},
		SupportedVirtualizationTypes:  []string{"hvm"},
		ProcessorInfo:                 xmlProcessorInfo{SupportedArchitectures: []string{t.ec2Arch()}, Manufacturer: manufacturerName(t.label("cpu-manufacturer"))},
		VCPUInfo:                      xmlVCPUInfo{DefaultVCpus: t.VCPU, DefaultCores: max(1, t.VCPU/threads), DefaultThreadsPerCore: threads},
		MemoryInfo:                    xmlSize{SizeInMiB: t.MemoryMiB},
		EbsInfo:                       xmlEbsInfo{EbsOptimizedSupport: "default", EncryptionSupport: "supported", NvmeSupport: "required"},
		NetworkInfo:                   xmlNetworkInfo{Ipv6Supported: true, EnaSupport: "required", EncryptionInTransitSupported: t.label("encryption-in-transit-supported") == "true"},
		BurstablePerformanceSupported: strings.HasPrefix(family, "t"),
		HibernationSupported:          true,
		DedicatedHostsSupported:       true,
		AutoRecoverySupported:         true,
		SupportedBootModes:            []string{"legacy-bios", "uefi"},
		NitroEnclavesSupport:          "unsupported",
		PlacementGroupInfo:            xmlPlacementGroups{SupportedStrategies: []string{"cluster", "partition", "spread"}},
	}
	if mhz := t.labelInt("cpu-sustained-clock-speed-mhz"); mhz > 0 {
		it.ProcessorInfo.SustainedClockSpeedInGhz = float64(mhz) / 1000
	}
	if t.Arch == "arm64" {
		it.SupportedBootModes = []string{"uefi"}
	}
	if bw := t.labelInt("ebs-bandwidth"); bw > 0 {
		it.EbsInfo.EbsOptimizedInfo = &xmlEbsOptimizedInfo{BaselineBandwidthInMbps: bw, MaximumBandwidthInMbps: bw}
	}
	if t.VPC != nil {
		it.BareMetal = t.VPC.BareMetal
		if !t.VPC.BareMetal && t.VPC.Hypervisor != "" {
			it.Hypervisor = t.VPC.Hypervisor
		}
		it.NetworkInfo.MaximumNetworkInterfaces = t.VPC.Interfaces
		it.NetworkInfo.MaximumNetworkCards = len(t.VPC.NetworkCards)
		it.NetworkInfo.DefaultNetworkCardIndex = t.VPC.DefaultNetworkCardIndex
		it.NetworkInfo.Ipv4AddressesPerInterface = t.VPC.IPv4PerInterface
		it.NetworkInfo.Ipv6AddressesPerInterface = t.VPC.IPv4PerInterface
		for i, n := range t.VPC.NetworkCards {
			it.NetworkInfo.NetworkCards = append(it.NetworkInfo.NetworkCards, xmlNetworkCard{NetworkCardIndex: i, MaximumNetworkInterfaces: n})
		}
	} else if h := t.label("hypervisor"); h != "" {
		it.Hypervisor = h
	}
	perf := "Up to 5 Gigabit"
	if bw := t.labelInt("network-bandwidth"); bw > 0 {
		perf = strconv.FormatFloat(float64(bw)/1000, 'f', -1, 64) + " Gigabit"
	}
	it.NetworkInfo.NetworkPerformance = perf
	for i := range it.NetworkInfo.NetworkCards {
		it.NetworkInfo.NetworkCards[i].NetworkPerformance = perf
	}
	if gb := t.labelInt("local-nvme"); gb > 0 {
		it.InstanceStorageSupported = true
		it.InstanceStorageInfo = &xmlStorageInfo{TotalSizeInGB: gb, Disks: []xmlDisk{{SizeInGB: gb, Count: 1, Type: "ssd"}},
			NvmeSupport: "required", EncryptionSupport: "required"}
	}
	if n := t.labelInt("gpu-count"); n > 0 {
		mem := t.labelInt("gpu-memory")
		it.GpuInfo = &xmlGpuInfo{TotalGpuMemoryInMiB: n * mem, Gpus: []xmlGpuDevice{{Name: t.label("gpu-name"), Count: n,
			Manufacturer: manufacturerName(t.label("gpu-manufacturer")), MemoryInfo: xmlSize{SizeInMiB: mem}}}}
	}
	if n := t.labelInt("accelerator-count"); n > 0 {
		name := t.label("accelerator-name")
		display := strings.ToUpper(name[:1]) + name[1:]
		it.InferenceAcceleratorInfo = &xmlInferenceInfo{Accelerators: []xmlGpuDevice{{Name: display, Count: n,
			Manufacturer: manufacturerName(t.label("accelerator-manufacturer"))}}}
		if strings.HasPrefix(name, "inferentia") || strings.HasPrefix(name, "trainium") {
			it.NeuronInfo = &xmlNeuronInfo{NeuronDevices: []xmlNeuronDevice{{Name: display, Count: n}}}
		}
	}
	return it
}

func instanceTypeFields() fields[*instanceType] {
	b := func(f func(*instanceType) bool) func(*instanceType) []string {
		return func(t *instanceType) []string { return one(boolString(f(t))) }
	}
	return fields[*instanceType]{
		"instance-type":                                func(t *instanceType) []string { return one(t.Name) },
		"current-generation":                           b(func(t *instanceType) bool { return !previousGeneration(t.label("family")) }),
		"supported-usage-class":                        func(*instanceType) []string { return []string{"on-demand", "spot"} },
		"supported-root-device-type":                   func(*instanceType) []string { return one("ebs") },
		"supported-virtualization-type":                func(*instanceType) []string { return one("hvm") },
		"processor-info.supported-architecture":        func(t *instanceType) []string { return one(t.ec2Arch()) },
		"bare-metal":                                   b(func(t *instanceType) bool { return t.VPC != nil && t.VPC.BareMetal }),
		"hypervisor":                                   func(t *instanceType) []string { return one(t.label("hypervisor")) },
		"vcpu-info.default-vcpus":                      func(t *instanceType) []string { return one(strconv.Itoa(t.VCPU)) },
		"memory-info.size-in-mib":                      func(t *instanceType) []string { return one(strconv.FormatInt(t.MemoryMiB, 10)) },
		"burstable-performance-supported":              b(func(t *instanceType) bool { return strings.HasPrefix(t.label("family"), "t") }),
		"instance-storage-supported":                   b(func(t *instanceType) bool { return t.labelInt("local-nvme") > 0 }),
		"free-tier-eligible":                           b(func(t *instanceType) bool { return t.Name == "t2.micro" || t.Name == "t3.micro" }),
		"network-info.encryption-in-transit-supported": b(func(t *instanceType) bool { return t.label("encryption-in-transit-supported") == "true" }),
	}
}

func (w *World) describeInstanceTypes(_ context.Context, p params) (any, *apiError) {
	known := instanceTypeFields()
	filters, err := parseFilters(p, known, false)
	if err != nil {
		return nil, err
	}
	names := p.list("InstanceType")
	var missing []string
	for _, n := range names {
		if w.catalog.byName[n] == nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, sender(codeInvalidInstanceType, "The following supplied instance types do not exist: [%s]", strings.Join(missing, ", "))
	}
	var hits []*instanceType
	for _, t := range w.catalog.types {
		if (len(names) == 0 || contains(names, t.Name)) && matches(t, filters, known, nil) {
			hits = append(hits, t)
		}
	}
	if len(names) > 0 && p.has("MaxResults") {
		return nil, sender(codeInvalidParameterCombo, "The parameter instanceTypes cannot be used with the parameter maxResults")
	}
	pg, err := paginate(p, "DescribeInstanceTypes", len(hits), 5, 100, 100)
	if err != nil {
		return nil, err
	}
	out := describeInstanceTypesResponse{NextToken: pg.Next}
	for _, t := range hits[pg.Start:pg.End] {
		item, err := w.typeXMLLocked(t)
		if err != nil {
			return nil, server(codeInternalError, "encoding %s: %v", t.Name, err)
		}
		out.InstanceTypes.Inner = append(out.InstanceTypes.Inner, item...)
	}
	return out, nil
}

type xmlOffering struct {
	InstanceType string `xml:"instanceType"`
	LocationType string `xml:"locationType"`
	Location     string `xml:"location"`
}

type describeOfferingsResponse struct {
	Offerings []xmlOffering `xml:"instanceTypeOfferingSet>item"`
	NextToken string        `xml:"nextToken,omitempty"`
}

// offered reports whether the type is sold in the zone (always true for a type the region has
// when zoneIndex < 0, meaning the region itself).
func (w *World) offered(t *instanceType, zoneIndex int) bool {
	return zoneIndex < 0 || offeredIn(w.opts.Seed, t.Name, zoneIndex)
}

func (w *World) describeInstanceTypeOfferings(_ context.Context, p params) (any, *apiError) {
	locType := p.str("LocationType")
	if locType == "" {
		locType = "region"
	}
	var locations []struct {
		name  string
		index int
	}
	switch locType {
	case "region":
		locations = append(locations, struct {
			name  string
			index int
		}{w.opts.Region, -1})
	case "availability-zone":
		for i, z := range w.zones {
			locations = append(locations, struct {
				name  string
				index int
			}{z.Name, i})
		}
	case "availability-zone-id":
		for i, z := range w.zones {
			locations = append(locations, struct {
				name  string
				index int
			}{z.ID, i})
		}
	default:
		return nil, invalidValue("LocationType", locType)
	}
	type offering struct {
		t   *instanceType
		loc string
	}
	known := fields[offering]{
		"instance-type": func(o offering) []string { return one(o.t.Name) },
		"location":      func(o offering) []string { return one(o.loc) },
	}
	filters, err := parseFilters(p, known, false)
	if err != nil {
		return nil, err
	}
	var hits []offering
	for _, loc := range locations {
		for _, t := range w.catalog.types {
			o := offering{t: t, loc: loc.name}
			if w.offered(t, loc.index) && matches(o, filters, known, nil) {
				hits = append(hits, o)
			}
		}
	}
	pg, err := paginate(p, "DescribeInstanceTypeOfferings", len(hits), 5, 1000, 1000)
	if err != nil {
		return nil, err
	}
	out := describeOfferingsResponse{Offerings: make([]xmlOffering, 0, pg.End-pg.Start), NextToken: pg.Next}
	for _, o := range hits[pg.Start:pg.End] {
		out.Offerings = append(out.Offerings, xmlOffering{InstanceType: o.t.Name, LocationType: locType, Location: o.loc})
	}
	return out, nil
}

// spotPriceLocked is the current spot price of a type in a zone (an admin override, else the
// model).
func (w *World) spotPriceLocked(t *instanceType, zoneName string) float64 {
	if p, ok := w.spotPrices[pool{InstanceType: t.Name, Zone: zoneName, CapacityType: "spot"}]; ok {
		return p
	}
	return modelSpotPrice(w.opts.Seed, w.onDemandPriceLocked(t), t.Name, zoneName)
}

func (w *World) onDemandPriceLocked(t *instanceType) float64 {
	if p, ok := w.odPrices[t.Name]; ok {
		return p
	}
	return *t.Price
}

type xmlSpotPrice struct {
	InstanceType       string `xml:"instanceType"`
	ProductDescription string `xml:"productDescription"`
	SpotPrice          string `xml:"spotPrice"`
	Timestamp          string `xml:"timestamp"`
	AvailabilityZone   string `xml:"availabilityZone"`
	AvailabilityZoneID string `xml:"availabilityZoneId"`
}

type describeSpotPriceHistoryResponse struct {
	Prices    []xmlSpotPrice `xml:"spotPriceHistorySet>item"`
	NextToken string         `xml:"nextToken,omitempty"`
}

// describeSpotPriceHistory reports the current price of each pool (awsim keeps no history: the
// price in force is the one record, stamped when it took effect).
func (w *World) describeSpotPriceHistory(_ context.Context, p params) (any, *apiError) {
	type record struct {
		t *instanceType
		z zone
	}
	known := fields[record]{
		"instance-type":       func(r record) []string { return one(r.t.Name) },
		"availability-zone":   func(r record) []string { return one(r.z.Name) },
		"product-description": func(record) []string { return []string{"Linux/UNIX", "Linux/UNIX (Amazon VPC)"} },
	}
	filters, err := parseFilters(p, known, false)
	if err != nil {
		return nil, err
	}
	types, products := p.list("InstanceType"), p.list("ProductDescription")
	linux := len(products) == 0
	for _, pd := range products {
		linux = linux || pd == "Linux/UNIX" || pd == "Linux/UNIX (Amazon VPC)"
	}
	if !linux {
		// Only Linux is simulated; other platforms have no prices, an empty answer.
		return describeSpotPriceHistoryResponse{Prices: []xmlSpotPrice{}}, nil
	}
	az := p.str("AvailabilityZone")
	var hits []record
	for _, t := range w.catalog.types {
		if len(types) > 0 && !contains(types, t.Name) {
			continue
		}
		for i, z := range w.zones {
			r := record{t: t, z: z}
			if (az == "" || az == z.Name) && w.offered(t, i) && matches(r, filters, known, nil) {
				hits = append(hits, r)
			}
		}
	}
	pg, err := paginate(p, "DescribeSpotPriceHistory", len(hits), 1, 1000, 1000)
	if err != nil {
		return nil, err
	}
	out := describeSpotPriceHistoryResponse{Prices: make([]xmlSpotPrice, 0, pg.End-pg.Start), NextToken: pg.Next}
	for _, r := range hits[pg.Start:pg.End] {
		out.Prices = append(out.Prices, xmlSpotPrice{InstanceType: r.t.Name, ProductDescription: "Linux/UNIX",
			SpotPrice: fmt.Sprintf("%.6f", w.spotPriceLocked(r.t, r.z.Name)), Timestamp: isoTime(w.priceAt),
			AvailabilityZone: r.z.Name, AvailabilityZoneID: r.z.ID})
	}
	return out, nil
}
