package awsim

import (
	"strings"
	"testing"
	"time"
)

func TestInterruption_ScheduledChangeHasTheHealthSchemaShape(t *testing.T) {
	e := start(t, Options{})
	q := e.queue(t, "kerf")
	ids := e.run(t, "m5.large", 1)
	e.srv.World.SetEventsQueue("kerf")
	if err := e.srv.World.Interrupt(InterruptScheduledChange, ids...); err != nil {
		t.Fatal(err)
	}
	events := drain(t, e, q)
	if len(events) != 1 {
		t.Fatalf("events %v, want one health event", events)
	}
	ev := events[0]
	if ev["version"] != "0" || ev["source"] != "aws.health" || ev["detail-type"] != "AWS Health Event" || ev["time"] != epoch.Format(time.RFC3339) {
		t.Errorf("envelope %v", ev)
	}
	d := ev["detail"].(map[string]any)
	// The fields AWS Health's EventBridge schema marks required.
	for _, k := range []string{"eventArn", "service", "eventTypeCode", "eventTypeCategory", "eventScopeCode", "communicationId",
		"startTime", "lastUpdatedTime", "statusCode", "eventRegion", "eventDescription", "page", "totalPages", "backupEvent", "affectedAccount"} {
		if _, ok := d[k]; !ok {
			t.Errorf("detail lacks %s: %v", k, d)
		}
	}
	if _, ok := d["endTime"]; ok {
		t.Errorf("a change scheduled in the future has an endTime: %v", d["endTime"])
	}
	start, _ := d["startTime"].(string)
	if !strings.HasSuffix(start, " GMT") {
		t.Errorf("startTime %q, want RFC 1123 in GMT as AWS Health writes it", start)
	}
	if got, err := time.Parse(time.RFC1123, start); err != nil || !got.Equal(epoch.Add(14*24*time.Hour)) {
		t.Errorf("startTime %q (%v), want two weeks after %v", start, err, epoch)
	}
	entity := d["affectedEntities"].([]any)[0].(map[string]any)
	if entity["entityValue"] != ids[0] || entity["status"] != "PENDING" {
		t.Errorf("affected entity %v", entity)
	}
}
