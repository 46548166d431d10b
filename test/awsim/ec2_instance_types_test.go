package awsim

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestDescribeInstanceTypes_PaginatesWholeCatalog(t *testing.T) {
	e := start(t, Options{})
	var names []string
	pager := ec2.NewDescribeInstanceTypesPaginator(e.ec2, &ec2.DescribeInstanceTypesInput{})
	pages := 0
	for pager.HasMorePages() {
		out, err := pager.NextPage(e.ctx)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		for _, it := range out.InstanceTypes {
			names = append(names, string(it.InstanceType))
		}
	}
	if len(names) != len(e.srv.World.catalog.types) || len(names) < 1300 {
		t.Fatalf("got %d types, want the %d priced catalog types", len(names), len(e.srv.World.catalog.types))
	}
	if pages != (len(names)+99)/100 {
		t.Errorf("got %d pages, want pages of 100", pages)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Fatalf("type %s listed twice across pages", n)
		}
		seen[n] = true
	}
}

func TestDescribeInstanceTypes_ReportsCatalogFacts(t *testing.T) {
	e := start(t, Options{})
	out, err := e.ec2.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{
		InstanceTypes: []ec2types.InstanceType{"m5.large", "g4dn.xlarge", "m6g.large", "inf1.xlarge"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ec2types.InstanceTypeInfo{}
	for _, it := range out.InstanceTypes {
		got[string(it.InstanceType)] = it
	}
	m5 := got["m5.large"]
	if aws.ToInt32(m5.VCpuInfo.DefaultVCpus) != 2 || aws.ToInt64(m5.MemoryInfo.SizeInMiB) != 8192 {
		t.Errorf("m5.large: vcpu %d mem %d, want 2 and 8192", aws.ToInt32(m5.VCpuInfo.DefaultVCpus), aws.ToInt64(m5.MemoryInfo.SizeInMiB))
	}
	if m5.ProcessorInfo.SupportedArchitectures[0] != ec2types.ArchitectureTypeX8664 || m5.Hypervisor != ec2types.InstanceTypeHypervisorNitro {
		t.Errorf("m5.large: arch %v hypervisor %v", m5.ProcessorInfo.SupportedArchitectures, m5.Hypervisor)
	}
	if aws.ToInt32(m5.NetworkInfo.MaximumNetworkInterfaces) != 3 || aws.ToInt32(m5.NetworkInfo.Ipv4AddressesPerInterface) != 10 {
		t.Errorf("m5.large ENIs: %d x %d, want 3 x 10", aws.ToInt32(m5.NetworkInfo.MaximumNetworkInterfaces), aws.ToInt32(m5.NetworkInfo.Ipv4AddressesPerInterface))
	}
	if len(m5.SupportedUsageClasses) != 2 {
		t.Errorf("m5.large usage classes %v, want on-demand and spot", m5.SupportedUsageClasses)
	}
	g := got["g4dn.xlarge"]
	if g.GpuInfo == nil || len(g.GpuInfo.Gpus) != 1 || aws.ToInt32(g.GpuInfo.Gpus[0].Count) != 1 || aws.ToString(g.GpuInfo.Gpus[0].Manufacturer) != "NVIDIA" {
		t.Errorf("g4dn.xlarge GPU info %+v", g.GpuInfo)
	}
	if g.InstanceStorageInfo == nil || aws.ToInt64(g.InstanceStorageInfo.TotalSizeInGB) == 0 {
		t.Errorf("g4dn.xlarge has local NVMe, got %+v", g.InstanceStorageInfo)
	}
	if got["m6g.large"].ProcessorInfo.SupportedArchitectures[0] != ec2types.ArchitectureTypeArm64 {
		t.Errorf("m6g.large arch %v, want arm64", got["m6g.large"].ProcessorInfo.SupportedArchitectures)
	}
	inf := got["inf1.xlarge"]
	if inf.InferenceAcceleratorInfo == nil || len(inf.InferenceAcceleratorInfo.Accelerators) != 1 || inf.NeuronInfo == nil {
		t.Errorf("inf1.xlarge accelerators %+v neuron %+v", inf.InferenceAcceleratorInfo, inf.NeuronInfo)
	}
}

func TestDescribeInstanceTypes_FiltersByArchitectureAndWildcard(t *testing.T) {
	e := start(t, Options{})
	out, err := e.ec2.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{Filters: []ec2types.Filter{
		{Name: aws.String("processor-info.supported-architecture"), Values: []string{"arm64"}},
		{Name: aws.String("instance-type"), Values: []string{"m6g.*"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.InstanceTypes) < 5 {
		t.Fatalf("got %d m6g types", len(out.InstanceTypes))
	}
	for _, it := range out.InstanceTypes {
		if it.ProcessorInfo.SupportedArchitectures[0] != ec2types.ArchitectureTypeArm64 || string(it.InstanceType)[:4] != "m6g." {
			t.Errorf("filter let through %s", it.InstanceType)
		}
	}
}

func TestDescribeInstanceTypeOfferings_ZonesDifferAndRegionHasAll(t *testing.T) {
	e := start(t, Options{})
	count := func(lt ec2types.LocationType, filters ...ec2types.Filter) map[string]int {
		perLoc := map[string]int{}
		pager := ec2.NewDescribeInstanceTypeOfferingsPaginator(e.ec2, &ec2.DescribeInstanceTypeOfferingsInput{LocationType: lt, Filters: filters})
		for pager.HasMorePages() {
			out, err := pager.NextPage(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.InstanceTypeOfferings {
				if o.LocationType != lt {
					t.Fatalf("offering location type %s, want %s", o.LocationType, lt)
				}
				perLoc[aws.ToString(o.Location)]++
			}
		}
		return perLoc
	}
	region := count(ec2types.LocationTypeRegion)
	if region["us-east-1"] != len(e.srv.World.catalog.types) {
		t.Errorf("region offers %d types, want %d", region["us-east-1"], len(e.srv.World.catalog.types))
	}
	zones := count(ec2types.LocationTypeAvailabilityZone)
	if zones["us-east-1a"] != region["us-east-1"] || zones["us-east-1c"] >= zones["us-east-1a"] || zones["us-east-1c"] == 0 {
		t.Errorf("zone offerings %v: want a and b complete, c missing some types", zones)
	}
	one := count(ec2types.LocationTypeAvailabilityZoneId, ec2types.Filter{Name: aws.String("instance-type"), Values: []string{"m5.large"}})
	if len(one) != 3 {
		t.Errorf("m5.large by zone ID: %v", one)
	}
}

func TestDescribeSpotPriceHistory_StableFractionOfOnDemand(t *testing.T) {
	e := start(t, Options{})
	in := &ec2.DescribeSpotPriceHistoryInput{InstanceTypes: []ec2types.InstanceType{"m5.large"}, ProductDescriptions: []string{"Linux/UNIX"}}
	a, err := e.ec2.DescribeSpotPriceHistory(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.ec2.DescribeSpotPriceHistory(e.ctx, in)
	if len(a.SpotPriceHistory) != 3 {
		t.Fatalf("want one price per zone, got %d", len(a.SpotPriceHistory))
	}
	for i, p := range a.SpotPriceHistory {
		if aws.ToString(p.SpotPrice) != aws.ToString(b.SpotPriceHistory[i].SpotPrice) {
			t.Errorf("price moved between calls: %s then %s", aws.ToString(p.SpotPrice), aws.ToString(b.SpotPriceHistory[i].SpotPrice))
		}
		var f float64
		if _, err := fmtSscan(aws.ToString(p.SpotPrice), &f); err != nil || f < 0.096*0.25 || f > 0.096*0.7 {
			t.Errorf("%s spot price %s not within 25%%-70%% of 0.096", aws.ToString(p.AvailabilityZone), aws.ToString(p.SpotPrice))
		}
	}
	e.srv.World.SetSpotPrice("m5.large", "us-east-1a", 0.5)
	c, _ := e.ec2.DescribeSpotPriceHistory(e.ctx, &ec2.DescribeSpotPriceHistoryInput{InstanceTypes: []ec2types.InstanceType{"m5.large"}, AvailabilityZone: aws.String("us-east-1a")})
	if len(c.SpotPriceHistory) != 1 || aws.ToString(c.SpotPriceHistory[0].SpotPrice) != "0.500000" {
		t.Errorf("override not served: %+v", c.SpotPriceHistory)
	}
}
