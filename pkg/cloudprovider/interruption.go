package cloudprovider

import (
	"context"
	"time"
)

// InterruptionKind classifies a message from the cloud about an instance going away.
type InterruptionKind string

// The kinds of interruption message.
const (
	// SpotInterruption: the spot instance will be reclaimed at ActionTime (two minutes' notice).
	SpotInterruption InterruptionKind = "spot_interrupted"
	// RebalanceRecommendation: the spot instance is at elevated risk of interruption.
	RebalanceRecommendation InterruptionKind = "rebalance_recommendation"
	// ScheduledChange: the provider will retire or maintain the instances (a health event).
	ScheduledChange InterruptionKind = "scheduled_change"
	// StateChange: the instance moved to State (stopping, stopped, shutting-down, terminated...).
	StateChange InterruptionKind = "state_change"
	// Ignored: a well-formed event Kerf does not act on (another detail type, a health event
	// that is not a scheduled change); it is counted and deleted.
	Ignored InterruptionKind = "ignored"
	// Unparseable: the body is not a message Kerf understands; it is counted and deleted.
	Unparseable InterruptionKind = "unparseable"
)

// InterruptionMessage is one message of the interruption queue, parsed.
type InterruptionMessage struct {
	// ID is the queue's message ID, for logs.
	ID string
	// Handle deletes the message (the SQS receipt handle); opaque to the caller.
	Handle string
	Kind   InterruptionKind
	// InstanceIDs are the cloud's instance IDs, the last segment of a Node's provider ID.
	InstanceIDs []string
	// State is the instance's new state, for StateChange.
	State string
	// EventTime is when the cloud emitted the event; ActionTime when the instance goes, when
	// the message says (spot: two minutes after EventTime; scheduled change: its start).
	EventTime, ActionTime time.Time
	// Err says why an Unparseable message could not be read, or why an Ignored one is ignored.
	Err error
}

// InterruptionQueue is where the cloud announces instances going away. Receive long-polls and
// returns what arrived (possibly nothing); Delete removes a message once it was acted on.
type InterruptionQueue interface {
	Receive(ctx context.Context) ([]InterruptionMessage, error)
	Delete(ctx context.Context, msg InterruptionMessage) error
}
