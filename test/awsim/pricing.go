package awsim

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Pricing reference values: the term and rate codes AWS uses for on-demand hourly prices.
const (
	pricingOnDemandTerm = "JRTCKXETXF"
	pricingRateCode     = "6YS6EN2CT7"
	pricingPublished    = "2026-08-21T00:00:00Z"
	pricingMaxResults   = 100
)

// regionLocation is the Pricing API's "location" attribute for a region.
func regionLocation(region string) string {
	switch region {
	case "us-east-1":
		return "US East (N. Virginia)"
	case "us-east-2":
		return "US East (Ohio)"
	case "us-west-1":
		return "US West (N. California)"
	case "us-west-2":
		return "US West (Oregon)"
	case "eu-west-1":
		return "EU (Ireland)"
	case "eu-central-1":
		return "EU (Frankfurt)"
	}
	return region
}

type pricingFilter struct {
	Type  string
	Field string
	Value string
}

// priceProduct is one Linux on-demand product with its attributes (for filtering).
type priceProduct struct {
	sku      string
	family   string
	attrs    map[string]string
	price    float64
	typeName string
}

func (w *World) priceProductsLocked() []priceProduct {
	out := make([]priceProduct, 0, len(w.catalog.types))
	for _, t := range w.catalog.types {
		sku := strings.ToUpper(fmt.Sprintf("%016x", hash64(w.opts.Seed, "sku", t.Name, w.opts.Region)))[:16]
		memGiB := float64(t.MemoryMiB) / 1024
		out = append(out, priceProduct{sku: sku, family: "Compute Instance", price: w.onDemandPriceLocked(t), typeName: t.Name, attrs: map[string]string{
			"servicecode":       "AmazonEC2",
			"instanceType":      t.Name,
			"instanceFamily":    "General purpose",
			"location":          regionLocation(w.opts.Region),
			"locationType":      "AWS Region",
			"regionCode":        w.opts.Region,
			"operatingSystem":   "Linux",
			"preInstalledSw":    "NA",
			"tenancy":           "Shared",
			"capacitystatus":    "Used",
			"licenseModel":      "No License required",
			"marketoption":      "OnDemand",
			"operation":         "RunInstances",
			"usagetype":         "BoxUsage:" + t.Name,
			"vcpu":              fmt.Sprint(t.VCPU),
			"memory":            strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", memGiB), "0"), ".") + " GiB",
			"physicalProcessor": map[string]string{"intel": "Intel Xeon", "amd": "AMD EPYC", "aws": "AWS Graviton"}[t.label("cpu-manufacturer")],
			"currentGeneration": map[bool]string{true: "Yes", false: "No"}[!previousGeneration(t.label("family"))],
		}})
	}
	return out
}

// match applies one GetProducts filter. Field names compare case-insensitively, as the API does.
func (pp priceProduct) match(f pricingFilter) bool {
	var have string
	found := false
	if strings.EqualFold(f.Field, "productFamily") {
		have, found = pp.family, true
	} else if strings.EqualFold(f.Field, "sku") {
		have, found = pp.sku, true
	} else {
		for k, v := range pp.attrs {
			if strings.EqualFold(k, f.Field) {
				have, found = v, true
			}
		}
	}
	switch f.Type {
	case "TERM_MATCH", "EQUALS":
		return found && have == f.Value
	case "CONTAINS":
		return found && strings.Contains(have, f.Value)
	case "ANY_OF":
		return found && contains(strings.Split(f.Value, ","), have)
	case "NONE_OF":
		return !found || !contains(strings.Split(f.Value, ","), have)
	}
	return false
}

// priceListJSON renders a product the way the Pricing API does: a JSON document in a string.
func (pp priceProduct) priceListJSON() string {
	dim := pp.sku + "." + pricingOnDemandTerm + "." + pricingRateCode
	doc := map[string]any{
		"product":     map[string]any{"productFamily": pp.family, "attributes": pp.attrs, "sku": pp.sku},
		"serviceCode": "AmazonEC2",
		"terms": map[string]any{"OnDemand": map[string]any{pp.sku + "." + pricingOnDemandTerm: map[string]any{
			"priceDimensions": map[string]any{dim: map[string]any{
				"unit": "Hrs", "endRange": "Inf", "beginRange": "0", "appliesTo": []string{}, "rateCode": dim,
				"description":  fmt.Sprintf("$%.4f per On Demand Linux %s Instance Hour", pp.price, pp.typeName),
				"pricePerUnit": map[string]string{"USD": fmt.Sprintf("%.10f", pp.price)},
			}},
			"sku": pp.sku, "effectiveDate": pricingPublished, "offerTermCode": pricingOnDemandTerm, "termAttributes": map[string]string{},
		}}},
		"version":         "20260821000000",
		"publicationDate": pricingPublished,
	}
	data, _ := json.Marshal(doc)
	return string(data)
}

func (w *World) pricing(op string, body []byte) (any, *apiError) {
	if op != "GetProducts" {
		return nil, unknownOperation(op)
	}
	var in struct {
		ServiceCode   string
		Filters       []pricingFilter
		FormatVersion string
		NextToken     string
		MaxResults    *int
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if in.ServiceCode == "" {
		return nil, sender(codePricingInvalidParameter, "Input validation failed: ServiceCode is required")
	}
	if in.ServiceCode != "AmazonEC2" {
		return nil, sender(codePricingNotFound, "Service %s is not supported by awsim", in.ServiceCode)
	}
	if in.FormatVersion != "" && in.FormatVersion != "aws_v1" {
		return nil, sender(codePricingInvalidParameter, "Input validation failed: FormatVersion %s is not supported", in.FormatVersion)
	}
	for _, f := range in.Filters {
		if f.Field == "" || !contains([]string{"TERM_MATCH", "EQUALS", "CONTAINS", "ANY_OF", "NONE_OF"}, f.Type) {
			return nil, sender(codePricingInvalidParameter, "Input validation failed: invalid filter %+v", f)
		}
	}
	size := pricingMaxResults
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > pricingMaxResults {
			return nil, sender(codePricingInvalidParameter, "Input validation failed: MaxResults must be between 1 and 100")
		}
		size = *in.MaxResults
	}
	w.mu.Lock()
	products := w.priceProductsLocked()
	w.mu.Unlock()
	var hits []priceProduct
	for _, pp := range products {
		ok := true
		for _, f := range in.Filters {
			ok = ok && pp.match(f)
		}
		if ok {
			hits = append(hits, pp)
		}
	}
	start := 0
	if in.NextToken != "" {
		s, ok := decodeToken("GetProducts", in.NextToken)
		if !ok || s > len(hits) {
			return nil, sender(codePricingInvalidNextToken, "The next token is invalid")
		}
		start = s
	}
	end := min(len(hits), start+size)
	out := map[string]any{"FormatVersion": "aws_v1", "PriceList": []string{}}
	list := make([]string, 0, end-start)
	for _, pp := range hits[start:end] {
		list = append(list, pp.priceListJSON())
	}
	out["PriceList"] = list
	if end < len(hits) {
		out["NextToken"] = encodeToken("GetProducts", end)
	}
	return out, nil
}
