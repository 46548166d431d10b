package awsim

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"sort"
	"strconv"
)

//go:embed catalog/instance-types.json.gz
var catalogGz []byte // read-only embedded data; see catalog/README.md for provenance

// instanceType is one catalog record (catalog/README.md describes the fields).
type instanceType struct {
	Name      string            `json:"name"`
	VCPU      int               `json:"vcpu"`
	MemoryMiB int64             `json:"memoryMiB"`
	Arch      string            `json:"arch"`
	OS        string            `json:"os"`
	Labels    map[string]string `json:"labels"`
	VPC       *vpcLimits        `json:"vpc"`
	Price     *float64          `json:"onDemandUSDPerHour_us_east_1"`
}

type vpcLimits struct {
	Interfaces              int    `json:"interfaces"`
	NetworkCards            []int  `json:"networkCards"`
	DefaultNetworkCardIndex int    `json:"defaultNetworkCardIndex"`
	IPv4PerInterface        int    `json:"ipv4PerInterface"`
	Trunking                bool   `json:"trunking"`
	BranchInterfaces        int    `json:"branchInterfaces"`
	Hypervisor              string `json:"hypervisor"`
	BareMetal               bool   `json:"bareMetal"`
}

func (t *instanceType) label(suffix string) string {
	return t.Labels["karpenter.k8s.aws/instance-"+suffix]
}

func (t *instanceType) labelInt(suffix string) int64 {
	n, _ := strconv.ParseInt(t.label(suffix), 10, 64)
	return n
}

// ec2Arch is the architecture name EC2 uses (x86_64, arm64) for the Kubernetes one.
func (t *instanceType) ec2Arch() string {
	if t.Arch == "amd64" {
		return "x86_64"
	}
	return t.Arch
}

// catalog holds the instance types offered in the simulated region, sorted by name.
type catalog struct {
	types  []*instanceType
	byName map[string]*instanceType
}

// loadCatalog decodes the embedded catalog. Types without a us-east-1 price are left out of the
// region, as EC2 leaves out types a region does not sell.
func loadCatalog() (*catalog, error) {
	zr, err := gzip.NewReader(bytes.NewReader(catalogGz))
	if err != nil {
		return nil, fmt.Errorf("opening catalog, %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("reading catalog, %w", err)
	}
	var all []*instanceType
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, fmt.Errorf("decoding catalog, %w", err)
	}
	c := &catalog{byName: map[string]*instanceType{}}
	for _, t := range all {
		if t.Price == nil || *t.Price <= 0 {
			continue
		}
		c.types = append(c.types, t)
		c.byName[t.Name] = t
	}
	sort.Slice(c.types, func(i, j int) bool { return c.types[i].Name < c.types[j].Name })
	return c, nil
}

// hash64 mixes the seed with the given strings into a well-spread 64-bit value (splitmix64
// finaliser over FNV-1a), the root of every deterministic choice in the world.
func hash64(seed int64, parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	z := h.Sum64() ^ uint64(seed)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / float64(1<<53) }

// modelSpotPrice is a stable fraction (25%–70%) of the on-demand price per type and zone,
// rounded to EC2's four decimals of a dollar.
func modelSpotPrice(seed int64, onDemand float64, typ, zone string) float64 {
	f := 0.25 + 0.45*unit(hash64(seed, "spot", typ, zone))
	return math.Max(0.0001, math.Round(onDemand*f*10000)/10000)
}

// offeredIn reports whether a type is sold in a zone. Every type is sold in the first two zones;
// about one in twelve is missing from the others, as real zones differ.
func offeredIn(seed int64, typ string, zoneIndex int) bool {
	if zoneIndex < 2 {
		return true
	}
	return hash64(seed, "offering", typ, strconv.Itoa(zoneIndex))%12 != 0
}
