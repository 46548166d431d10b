package aws

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
)

func TestParseInterruptionMessage_AWSSamples(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		file       string
		kind       cloudprovider.InterruptionKind
		ids        []string
		state      string
		eventTime  time.Time
		actionTime time.Time
		errHas     string
	}{
		{file: "spot_interruption.json", kind: cloudprovider.SpotInterruption, ids: []string{"i-1234567890abcdef0"},
			eventTime: at("2019-11-05T11:03:11Z"), actionTime: at("2019-11-05T11:05:11Z")},
		{file: "rebalance_recommendation.json", kind: cloudprovider.RebalanceRecommendation, ids: []string{"i-1234567890abcdef0"},
			eventTime: at("2019-11-05T11:03:11Z")},
		{file: "state_change_pending.json", kind: cloudprovider.StateChange, ids: []string{"i-1234567890abcdef0"}, state: "pending",
			eventTime: at("2021-11-11T21:29:54Z")},
		{file: "health_instance_retirement.json", kind: cloudprovider.ScheduledChange, ids: []string{"i-1234567890abcdef0"},
			eventTime: at("2026-01-27T01:43:21Z"), actionTime: at("2026-08-27T13:19:03Z")},
		{file: "health_scheduled_change_two_instances.json", kind: cloudprovider.ScheduledChange, ids: []string{"i-1234567890abcdef0", "i-abcd1111"},
			eventTime: at("2026-01-27T01:43:21Z"), actionTime: at("2026-08-27T13:19:03Z")},
		{file: "health_scheduled_change_legacy.json", kind: cloudprovider.ScheduledChange, ids: []string{"i-12345678"},
			eventTime: at("2016-06-05T06:27:57Z"), actionTime: at("2016-06-05T15:10:09Z")},
		{file: "health_issue_instance_store.json", kind: cloudprovider.Ignored, errHas: "ignoring EC2 issue AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED"},
		{file: "autoscaling_launch_lifecycle.json", kind: cloudprovider.Ignored, errHas: `ignoring "EC2 Instance-launch Lifecycle Action" event from aws.autoscaling`},
	} {
		t.Run(strings.TrimSuffix(tc.file, ".json"), func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "interruption", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got := parseInterruptionMessage(string(body))
			if got.Kind != tc.kind {
				t.Fatalf("kind %q (err %v), want %q", got.Kind, got.Err, tc.kind)
			}
			if tc.errHas != "" {
				if got.Err == nil || !strings.Contains(got.Err.Error(), tc.errHas) || !errors.Is(got.Err, errIgnoredEvent) {
					t.Errorf("err %v, want it to say %q and be errIgnoredEvent", got.Err, tc.errHas)
				}
				return
			}
			if got.Err != nil {
				t.Errorf("err %v", got.Err)
			}
			if !slices.Equal(got.InstanceIDs, tc.ids) {
				t.Errorf("instance IDs %v, want %v", got.InstanceIDs, tc.ids)
			}
			if got.State != tc.state {
				t.Errorf("state %q, want %q", got.State, tc.state)
			}
			if !got.EventTime.Equal(tc.eventTime) || !got.ActionTime.Equal(tc.actionTime) {
				t.Errorf("event time %v, action time %v; want %v, %v", got.EventTime, got.ActionTime, tc.eventTime, tc.actionTime)
			}
			if got.EventTime.Location() != time.UTC || (!got.ActionTime.IsZero() && got.ActionTime.Location() != time.UTC) {
				t.Errorf("times not in UTC: %v, %v", got.EventTime, got.ActionTime)
			}
		})
	}
}

// An event from another source with a known detail type is someone else's: ignored, not acted on.
func TestParseInterruptionMessage_AnotherSourceIsIgnored(t *testing.T) {
	got := parseInterruptionMessage(`{"detail-type":"EC2 Spot Instance Interruption Warning","source":"my.app","time":"2019-11-05T11:03:11Z","detail":{"instance-id":"i-1"}}`)
	if got.Kind != cloudprovider.Ignored || len(got.InstanceIDs) != 0 {
		t.Errorf("kind %q instances %v, want ignored and naming none", got.Kind, got.InstanceIDs)
	}
}

func TestParseInterruptionMessage_GarbageIsUnparseableWithAReason(t *testing.T) {
	for name, tc := range map[string]struct{ body, errHas string }{
		"empty":            {"", "decoding EventBridge event"},
		"not JSON":         {"hello", "decoding EventBridge event"},
		"JSON array":       {`[1,2]`, "decoding EventBridge event"},
		"not an event":     {`{"hello":"world"}`, "not an EventBridge event"},
		"no detail":        {`{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","time":"2019-11-05T11:03:11Z"}`, "not an EventBridge event"},
		"bad time":         {`{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","time":"yyyy-mm-ddThh:mm:ssZ","detail":{"instance-id":"i-1"}}`, "parsing time"},
		"no instance":      {`{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","time":"2019-11-05T11:03:11Z","detail":{}}`, "no instance-id"},
		"detail wrong":     {`{"detail-type":"EC2 Instance Rebalance Recommendation","source":"aws.ec2","time":"2019-11-05T11:03:11Z","detail":"x"}`, "decoding detail"},
		"no state":         {`{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","time":"2021-11-11T21:29:54Z","detail":{"instance-id":"i-1"}}`, "no state"},
		"health no entity": {`{"detail-type":"AWS Health Event","source":"aws.health","time":"2016-06-05T06:27:57Z","detail":{"service":"EC2","eventTypeCategory":"scheduledChange","affectedEntities":[{"entityValue":"vol-1"}]}}`, "names no instance"},
		"health bad start": {`{"detail-type":"AWS Health Event","source":"aws.health","time":"2016-06-05T06:27:57Z","detail":{"service":"EC2","eventTypeCategory":"scheduledChange","startTime":"soon","affectedEntities":[{"entityValue":"i-1"}]}}`, "parsing startTime"},
	} {
		t.Run(name, func(t *testing.T) {
			got := parseInterruptionMessage(tc.body)
			if got.Kind != cloudprovider.Unparseable || got.Err == nil || !strings.Contains(got.Err.Error(), tc.errHas) || errors.Is(got.Err, errIgnoredEvent) {
				t.Errorf("got kind %q err %v, want unparseable saying %q", got.Kind, got.Err, tc.errHas)
			}
			if len(got.InstanceIDs) != 0 {
				t.Errorf("unparseable message names instances %v", got.InstanceIDs)
			}
		})
	}
}

func TestInstanceIDOf_BareIDsAndInstanceARNs(t *testing.T) {
	for in, want := range map[string]string{
		"i-0123456789abcdef0": "i-0123456789abcdef0",
		"arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0": "i-0123456789abcdef0",
		"arn:aws:ec2:us-east-2a:instance/i-0123456789abcdef0":             "i-0123456789abcdef0",
		"arn:aws:ec2:us-east-1:123456789012:volume/vol-1":                 "",
		"vol-1": "",
		"":      "",
	} {
		if got := instanceIDOf(in); got != want {
			t.Errorf("instanceIDOf(%q) = %q, want %q", in, got, want)
		}
	}
}
