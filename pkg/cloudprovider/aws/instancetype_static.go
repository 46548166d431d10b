package aws

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// staticTypeFactsJSON holds per-type facts DescribeInstanceTypes does not report: the network
// bandwidth in Mbps (EC2 answers "Up to 10 Gigabit") and the branch interfaces of types that
// support pods with their own security groups. Generated with pricing_static.json; see the
// go:generate line in pricing_static.go for the source and its date.
//
//go:embed instancetype_static.json
var staticTypeFactsJSON []byte

// staticTypeFacts is one instance type's entry.
type staticTypeFacts struct {
	NetworkBandwidthMbps int64 `json:"networkBandwidthMbps,omitempty"`
	BranchInterfaces     int   `json:"branchInterfaces,omitempty"`
}

// loadStaticTypeFacts decodes the embedded table into a map the caller owns.
func loadStaticTypeFacts() (map[string]staticTypeFacts, error) {
	var t struct {
		Types map[string]staticTypeFacts `json:"types"`
	}
	if err := json.Unmarshal(staticTypeFactsJSON, &t); err != nil {
		return nil, fmt.Errorf("decoding the static instance-type facts, %w", err)
	}
	return t.Types, nil
}
