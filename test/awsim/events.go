package awsim

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Interruption kinds the admin API and Interrupt accept.
const (
	InterruptSpot            = "spot-interruption"
	InterruptRebalance       = "rebalance-recommendation"
	InterruptScheduledChange = "scheduled-change"
)

// healthTimeFormat is how AWS Health writes times: "Thu, 27 Aug 2026 13:19:03 GMT" (the world's
// clock reads UTC; time.RFC1123 would print "UTC").
const healthTimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// eventBridge is the envelope EventBridge delivers to an SQS target.
type eventBridge struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     any      `json:"detail"`
}

func (w *World) instanceARN(id string) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", w.opts.Region, w.opts.AccountID, id)
}

// emitLocked delivers an event to the events queue, if one is configured and exists.
func (w *World) emitLocked(detailType, source string, resources []string, detail any) {
	q, ok := w.queues[w.eventsQueue]
	if w.eventsQueue == "" || !ok {
		return
	}
	ev := eventBridge{Version: "0", ID: w.uuidLocked(), DetailType: detailType, Source: source, Account: w.opts.AccountID,
		Time: w.now().Format(time.RFC3339), Region: w.opts.Region, Resources: resources, Detail: detail}
	body, err := json.Marshal(ev)
	if err != nil {
		return
	}
	_, _ = w.sendLocked(q, string(body), 0)
}

// emitStateChangeLocked sends EC2 Instance State-change Notification for a transition.
func (w *World) emitStateChangeLocked(inst *instance) {
	w.emitLocked("EC2 Instance State-change Notification", "aws.ec2", []string{w.instanceARN(inst.ID)},
		map[string]string{"instance-id": inst.ID, "state": inst.State})
}

// Interrupt delivers an interruption of the given kind to instances. A spot interruption sends
// the two-minute warning and reclaims the instance when the notice period ends; a rebalance
// recommendation and a scheduled change only send their events.
func (w *World) Interrupt(kind string, ids ...string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advanceLocked()
	insts, aerr := w.findInstancesLocked(ids)
	if aerr != nil {
		return aerr
	}
	for _, inst := range insts {
		if inst.State != statePending && inst.State != stateRunning {
			return fmt.Errorf("instance %s is %s", inst.ID, inst.State)
		}
		if kind == InterruptSpot && inst.CapacityType != "spot" {
			return fmt.Errorf("instance %s is not a spot instance", inst.ID)
		}
	}
	for _, inst := range insts {
		if err := w.interruptLocked(kind, inst); err != nil {
			return err
		}
	}
	return nil
}

// InterruptSpotFraction interrupts a seeded random fraction (0–1) of running spot instances and
// returns their IDs.
func (w *World) InterruptSpotFraction(fraction float64) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advanceLocked()
	var spot []*instance
	for _, inst := range w.liveOrderLocked() {
		if inst.CapacityType == "spot" && (inst.State == stateRunning || inst.State == statePending) && inst.InterruptAt.IsZero() {
			spot = append(spot, inst)
		}
	}
	n := int(float64(len(spot))*fraction + 0.5)
	w.rng.Shuffle(len(spot), func(i, j int) { spot[i], spot[j] = spot[j], spot[i] })
	chosen := spot[:min(n, len(spot))]
	sort.Slice(chosen, func(i, j int) bool { return chosen[i].ID < chosen[j].ID })
	var ids []string
	for _, inst := range chosen {
		_ = w.interruptLocked(InterruptSpot, inst)
		ids = append(ids, inst.ID)
	}
	return ids
}

func (w *World) interruptLocked(kind string, inst *instance) error {
	now := w.now()
	switch kind {
	case InterruptSpot:
		if !inst.InterruptAt.IsZero() {
			return nil // one warning per instance, as EC2 sends
		}
		inst.InterruptAt = now.Add(w.spotNotice)
		// EC2 puts the zone, not the region, in this event's resource ARN.
		w.emitLocked("EC2 Spot Instance Interruption Warning", "aws.ec2",
			[]string{fmt.Sprintf("arn:aws:ec2:%s:instance/%s", inst.Zone, inst.ID)},
			map[string]string{"instance-id": inst.ID, "instance-action": "terminate"})
		w.scheduleLocked(inst.InterruptAt, func(time.Time) {
			w.terminateLocked(inst, "Server.SpotInstanceTermination", "Server.SpotInstanceTermination: Spot instance termination")
		})
	case InterruptRebalance:
		w.emitLocked("EC2 Instance Rebalance Recommendation", "aws.ec2", []string{w.instanceARN(inst.ID)},
			map[string]string{"instance-id": inst.ID})
	case InterruptScheduledChange:
		// The shape of AWS Health's EventBridge schema (its EC2 instance retirement sample): times in
		// RFC 1123 with GMT, no endTime for a change scheduled in the future, the required
		// pagination and scope fields. The entity is the bare instance ID, as older samples and
		// Karpenter expect (the current sample shows an instance ARN; Kerf's parser reads both).
		start := now.Add(14 * 24 * time.Hour)
		w.emitLocked("AWS Health Event", "aws.health", []string{inst.ID}, map[string]any{
			"eventArn":          fmt.Sprintf("arn:aws:health:%s::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_%s", w.opts.Region, inst.ID),
			"service":           "EC2",
			"eventTypeCode":     "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
			"eventTypeCategory": "scheduledChange",
			"eventScopeCode":    "ACCOUNT_SPECIFIC",
			"communicationId":   w.uuidLocked() + "-1",
			"startTime":         start.Format(healthTimeFormat),
			"lastUpdatedTime":   now.Format(healthTimeFormat),
			"statusCode":        "upcoming",
			"eventRegion":       w.opts.Region,
			"eventDescription": []map[string]string{{"language": "en_US",
				"latestDescription": "EC2 has detected degradation of the underlying hardware hosting your Amazon EC2 instance associated with this event in the " + w.opts.Region + " region. Due to this degradation your instance could already be unreachable. We will stop your instance after " + start.Format(healthTimeFormat) + "."}},
			"affectedEntities": []map[string]string{{"entityValue": inst.ID, "lastUpdatedTime": now.Format(healthTimeFormat), "status": "PENDING"}},
			"affectedAccount":  w.opts.AccountID,
			"page":             "1",
			"totalPages":       "1",
			"backupEvent":      "false",
		})
	default:
		return fmt.Errorf("unknown interruption kind %q (want %s, %s or %s)", kind, InterruptSpot, InterruptRebalance, InterruptScheduledChange)
	}
	return nil
}
