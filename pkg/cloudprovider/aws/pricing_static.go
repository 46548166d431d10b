package aws

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// The static tables are generated from the EC2 instance-type catalog in ../shared/aws-catalog
// (public facts published with the open-source Karpenter AWS provider, as of 21 August 2026; the
// files record the catalog's sha256), copied into the repository on 22 November 2026 so the
// product never reads ../shared at run time. `make generate` (or the line below) rebuilds them.
//
//go:generate go run ../../../hack/awstables --catalog ../../../../shared/aws-catalog/instance-types.json --as-of 2026-08-21 --out .

// staticPricesJSON is the us-east-1 Linux on-demand price of every catalog type that has one: the
// fallback when the Pricing API cannot be reached and the only source in an isolated VPC.
//
//go:embed pricing_static.json
var staticPricesJSON []byte

// staticPriceTable is the decoded form of pricing_static.json.
type staticPriceTable struct {
	AsOf               string             `json:"asOf"`
	Region             string             `json:"region"`
	OnDemandUSDPerHour map[string]float64 `json:"onDemandUSDPerHour"`
}

// loadStaticPrices decodes the embedded table. Each provider decodes its own copy, so no package
// state is shared or mutable.
func loadStaticPrices() (staticPriceTable, error) {
	var t staticPriceTable
	if err := json.Unmarshal(staticPricesJSON, &t); err != nil {
		return staticPriceTable{}, fmt.Errorf("decoding the static price table, %w", err)
	}
	return t, nil
}
