package aws_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	kerfaws "github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/test/awsim"
)

const interruptionQueueName = "kerf-interruption"

// interruptionEnv is awsim on a fake clock with its events queue and a real SQS client.
type interruptionEnv struct {
	t     *testing.T
	ctx   context.Context
	srv   *awsim.Running
	clock *clocktesting.FakeClock
	sqs   *sqs.Client
	ec2   *ec2.Client
	url   string
}

func newInterruptionEnv(t *testing.T) *interruptionEnv {
	t.Helper()
	clk := clocktesting.NewFakeClock(launchEpoch)
	srv, err := awsim.Start("127.0.0.1:0", awsim.Options{Clock: clk, Seed: 42, ClusterName: testCluster})
	if err != nil {
		t.Fatalf("starting awsim: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cfg := srv.AWSConfig()
	e := &interruptionEnv{t: t, ctx: context.Background(), srv: srv, clock: clk, sqs: sqs.NewFromConfig(cfg), ec2: ec2.NewFromConfig(cfg)}
	out, err := e.sqs.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String(interruptionQueueName)})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	e.url = aws.ToString(out.QueueUrl)
	return e
}

// spotInstance launches a spot instance, then routes EventBridge events to the queue, so the
// queue holds only what happens to the instance afterwards.
func (e *interruptionEnv) spotInstance() string {
	e.t.Helper()
	ami, _ := e.srv.World.Parameter("/aws/service/eks/optimized-ami/1.30/amazon-linux-2/recommended/image_id")
	out, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(ami), InstanceType: ec2types.InstanceTypeM5Large,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceMarketOptions: &ec2types.InstanceMarketOptionsRequest{MarketType: ec2types.MarketTypeSpot}})
	if err != nil {
		e.t.Fatalf("RunInstances: %v", err)
	}
	e.srv.World.SetEventsQueue(interruptionQueueName)
	return aws.ToString(out.Instances[0].InstanceId)
}

// receive calls Receive, stepping the fake clock whenever something waits on it (awsim's long
// poll, the retrier's backoff), so a 20-second long poll costs no real time.
func (e *interruptionEnv) receive(q *kerfaws.InterruptionQueue) []cloudprovider.InterruptionMessage {
	e.t.Helper()
	var (
		msgs []cloudprovider.InterruptionMessage
		err  error
	)
	stepWhileWaiting(e.clock, func() { msgs, err = q.Receive(e.ctx) })
	if err != nil {
		e.t.Fatalf("Receive: %v", err)
	}
	return msgs
}

func TestInterruptionQueue_SpotInterruptionReachesReceiveAndDeleteRemovesIt(t *testing.T) {
	e := newInterruptionEnv(t)
	id := e.spotInstance()
	if err := e.srv.World.Interrupt(awsim.InterruptSpot, id); err != nil {
		t.Fatal(err)
	}
	q := kerfaws.NewInterruptionQueue(e.sqs, interruptionQueueName, e.clock)

	msgs := e.receive(q)
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1: %+v", len(msgs), msgs)
	}
	m := msgs[0]
	if m.Kind != cloudprovider.SpotInterruption || len(m.InstanceIDs) != 1 || m.InstanceIDs[0] != id || m.Err != nil {
		t.Fatalf("message %+v, want a spot interruption of %s", m, id)
	}
	if m.ID == "" || m.Handle == "" {
		t.Errorf("message without ID or receipt handle: %+v", m)
	}
	if !m.EventTime.Equal(launchEpoch) || !m.ActionTime.Equal(launchEpoch.Add(2*time.Minute)) {
		t.Errorf("event time %v, action time %v; want %v and two minutes later", m.EventTime, m.ActionTime, launchEpoch)
	}
	if err := q.Delete(e.ctx, m); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if again := e.receive(q); len(again) != 0 {
		t.Errorf("after Delete the queue still delivers %+v", again)
	}
	if n := e.srv.World.Calls("GetQueueUrl"); n != 1 {
		t.Errorf("GetQueueUrl called %d times, want once (the URL is cached)", n)
	}
}

func TestInterruptionQueue_ThrottledReceiveIsRetriedWithoutLosingTheMessage(t *testing.T) {
	// ThrottlingException is what awsim's throttle rate answers on JSON protocols; RequestThrottled
	// is the throttling error the SQS API reference lists.
	for _, code := range []string{"ThrottlingException", "RequestThrottled"} {
		t.Run(code, func(t *testing.T) {
			e := newInterruptionEnv(t)
			id := e.spotInstance()
			if err := e.srv.World.Interrupt(awsim.InterruptRebalance, id); err != nil {
				t.Fatal(err)
			}
			q := kerfaws.NewInterruptionQueue(e.sqs, e.url, e.clock)
			e.srv.World.SetFault("ReceiveMessage", awsim.Fault{ErrorCode: code, ErrorStatus: 400, Count: 1})

			msgs := e.receive(q)
			if len(msgs) != 1 || msgs[0].Kind != cloudprovider.RebalanceRecommendation || msgs[0].InstanceIDs[0] != id {
				t.Fatalf("received %+v, want the rebalance recommendation of %s", msgs, id)
			}
			if n := e.srv.World.Calls("ReceiveMessage"); n != 2 {
				t.Errorf("ReceiveMessage called %d times, want 2 (one throttled, one retried)", n)
			}
			if n := e.srv.World.Calls("GetQueueUrl"); n != 0 {
				t.Errorf("GetQueueUrl called %d times for a queue given by URL, want 0", n)
			}
		})
	}
}

func TestInterruptionQueue_UnparseableBodyComesBackWithItsHandleAndCanBeDeleted(t *testing.T) {
	e := newInterruptionEnv(t)
	if _, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(e.url), MessageBody: aws.String("not an event")}); err != nil {
		t.Fatal(err)
	}
	q := kerfaws.NewInterruptionQueue(e.sqs, interruptionQueueName, e.clock)
	msgs := e.receive(q)
	if len(msgs) != 1 || msgs[0].Kind != cloudprovider.Unparseable || msgs[0].Err == nil || msgs[0].Handle == "" {
		t.Fatalf("received %+v, want one unparseable message with a reason and a handle", msgs)
	}
	if err := q.Delete(e.ctx, msgs[0]); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if left := e.srv.World.QueueMessages(interruptionQueueName); len(left) != 0 {
		t.Errorf("queue still holds %v", left)
	}
}

func TestInterruptionQueue_EveryKindAwsimEmitsParses(t *testing.T) {
	e := newInterruptionEnv(t)
	id := e.spotInstance()
	for _, kind := range []string{awsim.InterruptRebalance, awsim.InterruptScheduledChange, awsim.InterruptSpot} {
		if err := e.srv.World.Interrupt(kind, id); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Step(2 * time.Minute) // the spot notice ends: shutting-down
	e.srv.World.Advance()
	q := kerfaws.NewInterruptionQueue(e.sqs, interruptionQueueName, e.clock)
	var kinds []cloudprovider.InterruptionKind
	for _, m := range e.receive(q) {
		if m.Err != nil || len(m.InstanceIDs) != 1 || m.InstanceIDs[0] != id {
			t.Errorf("message %+v, want one about %s", m, id)
		}
		if m.Kind == cloudprovider.ScheduledChange && !m.ActionTime.After(m.EventTime) {
			t.Errorf("scheduled change starts %v, not after its event %v", m.ActionTime, m.EventTime)
		}
		if m.Kind == cloudprovider.StateChange && m.State != "shutting-down" {
			t.Errorf("state change to %q, want shutting-down", m.State)
		}
		kinds = append(kinds, m.Kind)
	}
	want := []cloudprovider.InterruptionKind{cloudprovider.RebalanceRecommendation, cloudprovider.ScheduledChange,
		cloudprovider.SpotInterruption, cloudprovider.StateChange}
	if len(kinds) != len(want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Errorf("kinds %v, want %v", kinds, want)
			break
		}
	}
}

func TestInterruptionQueue_MissingQueueFailsWithATrail(t *testing.T) {
	e := newInterruptionEnv(t)
	q := kerfaws.NewInterruptionQueue(e.sqs, "no-such-queue", e.clock)
	_, err := q.Receive(e.ctx)
	if err == nil {
		t.Fatal("Receive from a missing queue succeeded")
	}
	if want := "receiving interruption messages, getting the URL of queue no-such-queue, "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
	if n := e.srv.World.Calls("GetQueueUrl"); n != 1 {
		t.Errorf("GetQueueUrl called %d times, want once (a missing queue is not retried)", n)
	}
}
