package aws

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
)

// The EventBridge detail types and sources the interruption queue carries (the rules Karpenter's
// CloudFormation template creates).
const (
	detailTypeSpotInterruption = "EC2 Spot Instance Interruption Warning"
	detailTypeRebalance        = "EC2 Instance Rebalance Recommendation"
	detailTypeStateChange      = "EC2 Instance State-change Notification"
	detailTypeHealth           = "AWS Health Event"

	sourceEC2    = "aws.ec2"
	sourceHealth = "aws.health"

	// spotInterruptionNotice is how long after its warning EC2 reclaims a spot instance.
	spotInterruptionNotice = 2 * time.Minute
)

// eventBridgeEnvelope is the event EventBridge delivers to an SQS target; Detail is decoded once
// the detail type is known.
type eventBridgeEnvelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// ec2InstanceDetail is the detail of the EC2 events: the spot warning (instance-action), the
// rebalance recommendation, and the state change (state).
type ec2InstanceDetail struct {
	InstanceID     string `json:"instance-id"`
	InstanceAction string `json:"instance-action"`
	State          string `json:"state"`
}

// healthDetail is the part of an AWS Health event's detail Kerf reads.
type healthDetail struct {
	Service           string `json:"service"`
	EventTypeCode     string `json:"eventTypeCode"`
	EventTypeCategory string `json:"eventTypeCategory"`
	StartTime         string `json:"startTime"`
	AffectedEntities  []struct {
		EntityValue string `json:"entityValue"`
	} `json:"affectedEntities"`
}

// errIgnoredEvent marks a well-formed event Kerf does not act on (another detail type, a health
// event that is not an EC2 scheduled change), as opposed to a body it cannot read.
var errIgnoredEvent = errors.New("not an interruption")

// healthTimeLayout is how AWS Health writes times ("Sat, 05 Jun 2016 15:10:09 GMT", also with a
// one-digit day: "Fri, 3 Jun 2022 05:01:10 GMT").
const healthTimeLayout = "Mon, _2 Jan 2006 15:04:05 MST"

// parseInterruptionMessage reads one queue body. A body that is not an EventBridge event, or an
// event Kerf does not act on, is Unparseable with Err saying why; the caller logs, counts and
// deletes it.
func parseInterruptionMessage(body string) cloudprovider.InterruptionMessage {
	msg, err := parseEvent(body)
	if errors.Is(err, errIgnoredEvent) {
		return cloudprovider.InterruptionMessage{Kind: cloudprovider.Ignored, Err: err}
	}
	if err != nil {
		return cloudprovider.InterruptionMessage{Kind: cloudprovider.Unparseable, Err: err}
	}
	return msg
}

func parseEvent(body string) (cloudprovider.InterruptionMessage, error) {
	var env eventBridgeEnvelope
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		return cloudprovider.InterruptionMessage{}, fmt.Errorf("decoding EventBridge event, %w", err)
	}
	if env.DetailType == "" || env.Source == "" || len(env.Detail) == 0 {
		return cloudprovider.InterruptionMessage{}, errors.New("not an EventBridge event: no detail-type, source or detail")
	}
	eventTime, err := time.Parse(time.RFC3339, env.Time)
	if err != nil {
		return cloudprovider.InterruptionMessage{}, fmt.Errorf("%s event %s, parsing time, %w", env.DetailType, env.ID, err)
	}
	eventTime = eventTime.UTC()
	switch {
	case env.Source == sourceEC2 && env.DetailType == detailTypeSpotInterruption:
		d, err := decodeEC2Detail(env)
		if err != nil {
			return cloudprovider.InterruptionMessage{}, err
		}
		return cloudprovider.InterruptionMessage{Kind: cloudprovider.SpotInterruption, InstanceIDs: []string{d.InstanceID},
			EventTime: eventTime, ActionTime: eventTime.Add(spotInterruptionNotice)}, nil
	case env.Source == sourceEC2 && env.DetailType == detailTypeRebalance:
		d, err := decodeEC2Detail(env)
		if err != nil {
			return cloudprovider.InterruptionMessage{}, err
		}
		return cloudprovider.InterruptionMessage{Kind: cloudprovider.RebalanceRecommendation, InstanceIDs: []string{d.InstanceID},
			EventTime: eventTime}, nil
	case env.Source == sourceEC2 && env.DetailType == detailTypeStateChange:
		d, err := decodeEC2Detail(env)
		if err != nil {
			return cloudprovider.InterruptionMessage{}, err
		}
		if d.State == "" {
			return cloudprovider.InterruptionMessage{}, fmt.Errorf("%s event %s has no state", env.DetailType, env.ID)
		}
		return cloudprovider.InterruptionMessage{Kind: cloudprovider.StateChange, InstanceIDs: []string{d.InstanceID},
			State: d.State, EventTime: eventTime}, nil
	case env.Source == sourceHealth && env.DetailType == detailTypeHealth:
		return parseHealthEvent(env, eventTime)
	}
	return cloudprovider.InterruptionMessage{}, fmt.Errorf("ignoring %q event from %s, %w", env.DetailType, env.Source, errIgnoredEvent)
}

func decodeEC2Detail(env eventBridgeEnvelope) (ec2InstanceDetail, error) {
	var d ec2InstanceDetail
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		return d, fmt.Errorf("%s event %s, decoding detail, %w", env.DetailType, env.ID, err)
	}
	if d.InstanceID == "" {
		return d, fmt.Errorf("%s event %s has no instance-id", env.DetailType, env.ID)
	}
	return d, nil
}

// parseHealthEvent reads a scheduled change to EC2 instances; other health events (issues,
// account notifications, other services) are ignored.
func parseHealthEvent(env eventBridgeEnvelope, eventTime time.Time) (cloudprovider.InterruptionMessage, error) {
	var d healthDetail
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		return cloudprovider.InterruptionMessage{}, fmt.Errorf("%s event %s, decoding detail, %w", env.DetailType, env.ID, err)
	}
	if d.Service != "EC2" || d.EventTypeCategory != "scheduledChange" {
		return cloudprovider.InterruptionMessage{}, fmt.Errorf("ignoring %s %s %s event %s, %w", d.Service, d.EventTypeCategory, d.EventTypeCode, env.ID, errIgnoredEvent)
	}
	var ids []string
	for _, e := range d.AffectedEntities {
		if id := instanceIDOf(e.EntityValue); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return cloudprovider.InterruptionMessage{}, fmt.Errorf("%s %s event %s names no instance", d.Service, d.EventTypeCode, env.ID)
	}
	msg := cloudprovider.InterruptionMessage{Kind: cloudprovider.ScheduledChange, InstanceIDs: ids, EventTime: eventTime}
	if d.StartTime != "" {
		start, err := parseHealthTime(d.StartTime)
		if err != nil {
			return cloudprovider.InterruptionMessage{}, fmt.Errorf("%s event %s, parsing startTime, %w", d.EventTypeCode, env.ID, err)
		}
		msg.ActionTime = start
	}
	return msg, nil
}

// parseHealthTime reads a Health time, in its documented RFC 1123 form or, leniently, RFC 3339.
func parseHealthTime(s string) (time.Time, error) {
	t, err := time.Parse(healthTimeLayout, s)
	if err != nil {
		if t3339, err3339 := time.Parse(time.RFC3339, s); err3339 == nil {
			return t3339.UTC(), nil
		}
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// instanceIDOf returns the instance ID an affected entity names: a bare ID (i-...) or an instance
// ARN (arn:aws:ec2:<region>:<account>:instance/i-...); "" for any other entity.
func instanceIDOf(entity string) string {
	if strings.HasPrefix(entity, "arn:") {
		_, after, ok := strings.Cut(entity, ":instance/")
		if !ok {
			return ""
		}
		entity = after
	}
	if !strings.HasPrefix(entity, "i-") {
		return ""
	}
	return entity
}
