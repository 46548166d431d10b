package awsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	pricingtypes "github.com/aws/aws-sdk-go-v2/service/pricing/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

func TestFaults_ThrottlingPerActionAndCount(t *testing.T) {
	e := start(t, Options{})
	e.srv.World.SetFault("DescribeInstances", Fault{ThrottleRate: 1, Count: 2})
	for i := 0; i < 2; i++ {
		_, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{})
		if code := errorCode(t, err); code != "RequestLimitExceeded" {
			t.Fatalf("call %d: %q, want RequestLimitExceeded", i, code)
		}
	}
	if _, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{}); err != nil {
		t.Errorf("after Count calls the fault is spent: %v", err)
	}
	if _, err := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{}); err != nil {
		t.Errorf("other actions are unaffected: %v", err)
	}
	e.srv.World.SetFault("*", Fault{ThrottleRate: 1})
	_, err := e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/x")})
	if code := errorCode(t, err); code != "ThrottlingException" {
		t.Errorf("JSON services throttle with ThrottlingException, got %q", code)
	}
	e.srv.World.SetFault("*", Fault{})
	e.srv.World.SetFault("CreateFleet", Fault{ErrorCode: "UnauthorizedOperation", ErrorStatus: 403})
	_, err = e.ec2.CreateFleet(e.ctx, e.fleetInput(t, e.launchTemplate(t, "kerf-default"), ec2types.DefaultTargetCapacityTypeSpot, 1, "m5.large"))
	if code := errorCode(t, err); code != "UnauthorizedOperation" {
		t.Errorf("injected error: %q", code)
	}
}

func TestFaults_ThrottleRateIsSeededFraction(t *testing.T) {
	count := func() int {
		e := start(t, Options{Seed: 7})
		e.srv.World.SetFault("DescribeAvailabilityZones", Fault{ThrottleRate: 0.3})
		n := 0
		for i := 0; i < 200; i++ {
			if _, err := e.ec2.DescribeAvailabilityZones(e.ctx, &ec2.DescribeAvailabilityZonesInput{}); err != nil {
				n++
			}
		}
		return n
	}
	a, b := count(), count()
	if a != b || a < 30 || a > 90 {
		t.Errorf("throttled %d then %d of 200 at rate 0.3 with one seed; want equal and near 60", a, b)
	}
}

func TestFaults_LatencyWaitsOnTheWorldClock(t *testing.T) {
	e := start(t, Options{})
	e.srv.World.SetFault("DescribeInstances", Fault{Latency: 3 * time.Second})
	done := make(chan error, 1)
	go func() {
		_, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{})
		done <- err
	}()
	waitForWaiter(t, e)
	select {
	case <-done:
		t.Fatal("answered before the clock moved")
	default:
	}
	e.clock.Step(3 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPricing_GetProductsLinuxOnDemandPriceList(t *testing.T) {
	e := start(t, Options{})
	filters := []pricingtypes.Filter{
		{Type: pricingtypes.FilterTypeTermMatch, Field: aws.String("regionCode"), Value: aws.String("us-east-1")},
		{Type: pricingtypes.FilterTypeTermMatch, Field: aws.String("operatingSystem"), Value: aws.String("Linux")},
		{Type: pricingtypes.FilterTypeTermMatch, Field: aws.String("tenancy"), Value: aws.String("Shared")},
		{Type: pricingtypes.FilterTypeTermMatch, Field: aws.String("preInstalledSw"), Value: aws.String("NA")},
		{Type: pricingtypes.FilterTypeTermMatch, Field: aws.String("capacitystatus"), Value: aws.String("Used")},
		{Type: pricingtypes.FilterTypeTermMatch, Field: aws.String("productFamily"), Value: aws.String("Compute Instance")},
	}
	prices := map[string]float64{}
	pager := pricing.NewGetProductsPaginator(e.pricing, &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"), Filters: filters, FormatVersion: aws.String("aws_v1")})
	for pager.HasMorePages() {
		out, err := pager.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range out.PriceList {
			var p struct {
				Product struct {
					Attributes map[string]string
				}
				Terms struct {
					OnDemand map[string]struct {
						PriceDimensions map[string]struct {
							PricePerUnit map[string]string
						}
					}
				}
			}
			if err := json.Unmarshal([]byte(doc), &p); err != nil {
				t.Fatalf("price list entry is not JSON: %v", err)
			}
			for _, term := range p.Terms.OnDemand {
				for _, dim := range term.PriceDimensions {
					var f float64
					_, _ = fmtSscan(dim.PricePerUnit["USD"], &f)
					prices[p.Product.Attributes["instanceType"]] = f
				}
			}
		}
	}
	if len(prices) != len(e.srv.World.catalog.types) || prices["m5.large"] != 0.096 {
		t.Errorf("got %d prices, m5.large %v; want %d and 0.096", len(prices), prices["m5.large"], len(e.srv.World.catalog.types))
	}
	none, err := e.pricing.GetProducts(e.ctx, &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"),
		Filters: []pricingtypes.Filter{{Type: pricingtypes.FilterTypeTermMatch, Field: aws.String("operatingSystem"), Value: aws.String("Windows")}}})
	if err != nil || len(none.PriceList) != 0 {
		t.Errorf("Windows: %v, %d products; awsim prices Linux only", err, len(none.PriceList))
	}
}

func TestAdminAPI_DrivesTheWorld(t *testing.T) {
	e := start(t, Options{})
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+"/_awsim/"+path, bytes.NewReader([]byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, _ := call("PUT", "capacity", `{"instanceType":"m5.large","zone":"us-east-1a","capacityType":"on-demand","count":0}`); code != 200 {
		t.Fatalf("capacity: %d", code)
	}
	ami, _ := e.srv.World.Parameter("/aws/service/eks/optimized-ami/1.30/amazon-linux-2/recommended/image_id")
	_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(ami), InstanceType: "m5.large", MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if code := errorCode(t, err); code != "InsufficientInstanceCapacity" {
		t.Errorf("after capacity 0: %q", code)
	}
	call("PUT", "capacity", `{"instanceType":"m5.large","zone":"us-east-1a","capacityType":"on-demand","count":-1}`)
	if code, _ := call("PUT", "settings", `{"bootDelay":"1m","eventsQueue":"events"}`); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	ids := e.run(t, "m5.large", 1)
	if code, _ := call("PUT", "faults", `{"action":"DescribeInstances","errorCode":"InternalError","errorStatus":500,"count":1}`); code != 200 {
		t.Fatalf("faults: %d", code)
	}
	_, err = e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{})
	if code := errorCode(t, err); code != "InternalError" {
		t.Errorf("injected fault: %q", code)
	}
	code, state := call("GET", "state", "")
	insts := state["instances"].([]any)
	if code != 200 || len(insts) != 1 || insts[0].(map[string]any)["state"] != "pending" {
		t.Errorf("state with a 1m boot delay: %d %v", code, state["instances"])
	}
	if code, out := call("POST", "amis/roll", ""); code != 200 || out["release"] != float64(2) {
		t.Errorf("roll: %d %v", code, out)
	}
	spot, err := e.ec2.CreateFleet(e.ctx, e.fleetInput(t, e.launchTemplate(t, "lt-a"), ec2types.DefaultTargetCapacityTypeSpot, 4, "m5.large"))
	if err != nil || len(fleetInstanceIDs(spot)) != 4 {
		t.Fatalf("spot fleet: %v", err)
	}
	code, out := call("POST", "interrupt", `{"kind":"spot-interruption","fraction":0.5}`)
	if code != 200 || len(out["instanceIds"].([]any)) != 2 {
		t.Errorf("interrupt half of 4 spot instances: %d %v", code, out)
	}
	if code, _ := call("POST", "interrupt", `{"kind":"spot-interruption","instanceIds":["`+ids[0]+`"]}`); code != 400 {
		t.Errorf("spot-interrupting an on-demand instance: %d, want 400", code)
	}
	for _, bad := range []struct{ method, path, body string }{
		{"PUT", "capacity", `{"instanceType":"m5.large"}`},
		{"PUT", "capacity", `{"instanceType":"m5.large","zone":"us-east-1a","capacityType":"reserved","count":1}`},
		{"PUT", "settings", `{"bootDelay":"soon"}`},
		{"PUT", "faults", `{"action":"X","throttleRate":2}`},
		{"PUT", "faults", `not json`},
		{"PUT", "prices", `{"instanceType":"m5.large","spotPrice":0.1}`},
	} {
		if code, _ := call(bad.method, bad.path, bad.body); code != 400 {
			t.Errorf("%s %s %s: %d, want 400", bad.method, bad.path, bad.body, code)
		}
	}
	if code, _ := call("GET", "nothing", ""); code != 404 {
		t.Errorf("unknown endpoint: %d", code)
	}
	if !strings.HasPrefix(e.srv.URL, "http://127.0.0.1:") {
		t.Errorf("URL %s", e.srv.URL)
	}
}
