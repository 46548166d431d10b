// Command awstables writes the static AWS tables the product embeds, from the EC2 instance-type
// catalog (../shared/aws-catalog/instance-types.json): the on-demand price table the pricing
// provider falls back to, and the per-type facts DescribeInstanceTypes does not report (network
// bandwidth in Mbps, branch interfaces for pods with their own security groups).
//
// It runs from `go generate ./pkg/cloudprovider/aws/`; its output is deterministic (no dates taken
// from the clock, sorted keys) so regenerating an unchanged catalog changes nothing.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// catalogRecord is the part of a catalog record the tables need.
type catalogRecord struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	VPC    *struct {
		Trunking         bool `json:"trunking"`
		BranchInterfaces int  `json:"branchInterfaces"`
	} `json:"vpc"`
	Price *float64 `json:"onDemandUSDPerHour_us_east_1"`
}

// provenance heads each generated file: JSON has no comments, so it is data.
type provenance struct {
	Source       string `json:"source"`
	SourceSHA256 string `json:"sourceSHA256"`
	AsOf         string `json:"asOf"`
	Generator    string `json:"generator"`
}

type priceTable struct {
	provenance
	Region             string             `json:"region"`
	OnDemandUSDPerHour map[string]float64 `json:"onDemandUSDPerHour"`
}

type typeFacts struct {
	NetworkBandwidthMbps int64 `json:"networkBandwidthMbps,omitempty"`
	BranchInterfaces     int   `json:"branchInterfaces,omitempty"`
}

type factsTable struct {
	provenance
	Types map[string]typeFacts `json:"types"`
}

func main() {
	catalog := flag.String("catalog", "", "path of the instance-type catalog JSON")
	asOf := flag.String("as-of", "", "date the catalog describes, as its README states (YYYY-MM-DD)")
	out := flag.String("out", ".", "directory to write pricing_static.json and instancetype_static.json into")
	flag.Parse()
	if err := run(*catalog, *asOf, *out); err != nil {
		fmt.Fprintln(os.Stderr, "awstables:", err)
		os.Exit(1)
	}
}

func run(catalogPath, asOf, out string) error {
	if catalogPath == "" || asOf == "" {
		return fmt.Errorf("--catalog and --as-of are required")
	}
	raw, err := os.ReadFile(catalogPath)
	if err != nil {
		return fmt.Errorf("reading catalog, %w", err)
	}
	var records []catalogRecord
	if err := json.Unmarshal(raw, &records); err != nil {
		return fmt.Errorf("decoding catalog, %w", err)
	}
	sum := sha256.Sum256(raw)
	prov := provenance{
		Source:       "../shared/aws-catalog/instance-types.json: public facts published with the open-source Karpenter AWS provider",
		SourceSHA256: hex.EncodeToString(sum[:]),
		AsOf:         asOf,
		Generator:    "hack/awstables (go generate ./pkg/cloudprovider/aws/)",
	}
	prices := priceTable{provenance: prov, Region: "us-east-1", OnDemandUSDPerHour: map[string]float64{}}
	facts := factsTable{provenance: prov, Types: map[string]typeFacts{}}
	for _, r := range records {
		if r.Price != nil && *r.Price > 0 {
			prices.OnDemandUSDPerHour[r.Name] = *r.Price
		}
		var f typeFacts
		if bw, ok := r.Labels["karpenter.k8s.aws/instance-network-bandwidth"]; ok {
			if _, err := fmt.Sscan(bw, &f.NetworkBandwidthMbps); err != nil {
				return fmt.Errorf("network bandwidth of %s, %w", r.Name, err)
			}
		}
		if r.VPC != nil && r.VPC.Trunking {
			f.BranchInterfaces = r.VPC.BranchInterfaces
		}
		if f != (typeFacts{}) {
			facts.Types[r.Name] = f
		}
	}
	if err := writeJSON(filepath.Join(out, "pricing_static.json"), prices); err != nil {
		return err
	}
	return writeJSON(filepath.Join(out, "instancetype_static.json"), facts)
}

// writeJSON writes one entry per line so a refresh shows as a readable diff.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("encoding %s, %w", path, err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s, %w", path, err)
	}
	return nil
}
