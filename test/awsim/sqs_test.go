package awsim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func (e *env) queue(t *testing.T, name string) string {
	t.Helper()
	out, err := e.sqs.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	return aws.ToString(out.QueueUrl)
}

func TestSQS_SendReceiveDeleteWithVisibilityTimeout(t *testing.T) {
	e := start(t, Options{})
	q := e.queue(t, "kerf-interruptions")
	if again := e.queue(t, "kerf-interruptions"); again != q {
		t.Errorf("CreateQueue is idempotent: %s then %s", q, again)
	}
	got, err := e.sqs.GetQueueUrl(e.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("kerf-interruptions")})
	if err != nil || aws.ToString(got.QueueUrl) != q {
		t.Fatalf("GetQueueUrl: %v %s", err, aws.ToString(got.QueueUrl))
	}
	if _, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(`{"hello":"world"}`)}); err != nil {
		t.Fatal(err) // the SDK checks the body's MD5
	}
	first, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), VisibilityTimeout: 10,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"ApproximateReceiveCount"}})
	if err != nil || len(first.Messages) != 1 || first.Messages[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("first receive: %v %+v", err, first)
	}
	hidden, _ := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q)})
	if len(hidden.Messages) != 0 {
		t.Errorf("message visible again before its visibility timeout")
	}
	attrs, err := e.sqs.GetQueueAttributes(e.ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q), AttributeNames: []sqstypes.QueueAttributeName{"All"}})
	if err != nil || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "1" || !strings.HasPrefix(attrs.Attributes["QueueArn"], "arn:aws:sqs:us-east-1:") {
		t.Errorf("attributes: %v %v", err, attrs.Attributes)
	}
	e.clock.Step(10 * time.Second)
	second, _ := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q)})
	if len(second.Messages) != 1 || aws.ToString(second.Messages[0].ReceiptHandle) == aws.ToString(first.Messages[0].ReceiptHandle) {
		t.Fatalf("after the timeout the message is delivered again with a new handle: %+v", second)
	}
	if _, err := e.sqs.DeleteMessage(e.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: second.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	e.clock.Step(time.Hour)
	if empty, _ := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q)}); len(empty.Messages) != 0 {
		t.Errorf("deleted message came back")
	}
	_, err = e.sqs.DeleteMessage(e.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: aws.String("bogus")})
	if code := errorCode(t, err); code != "ReceiptHandleIsInvalid" {
		t.Errorf("bogus handle: %q", code)
	}
}

func TestSQS_UnknownQueueIsQueueDoesNotExist(t *testing.T) {
	e := start(t, Options{})
	_, err := e.sqs.GetQueueUrl(e.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("missing")})
	var qdne *sqstypes.QueueDoesNotExist
	if !asError(err, &qdne) {
		t.Errorf("want a typed QueueDoesNotExist, got %v", err)
	}
}

func TestSQS_LongPollWakesOnSendAndTimesOutOnClock(t *testing.T) {
	e := start(t, Options{})
	q := e.queue(t, "events")
	type result struct {
		n   int
		err error
	}
	poll := func() chan result {
		ch := make(chan result, 1)
		go func() {
			out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 20})
			if err != nil {
				ch <- result{err: err}
				return
			}
			ch <- result{n: len(out.Messages)}
		}()
		return ch
	}
	ch := poll()
	waitForWaiter(t, e)
	if _, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.err != nil || r.n != 1 {
		t.Fatalf("long poll woken by a send: %+v", r)
	}
	ch = poll()
	waitForWaiter(t, e)
	e.clock.Step(20 * time.Second)
	if r := <-ch; r.err != nil || r.n != 0 {
		t.Fatalf("long poll after its wait time: %+v, want an empty answer", r)
	}
}

// waitForWaiter blocks until a goroutine waits on the fake clock (a long poll), without sleeping
// on time the test depends on.
func waitForWaiter(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !e.clock.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("no long poll started waiting")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSQS_QueryProtocol(t *testing.T) {
	e := start(t, Options{})
	post := func(form url.Values) (int, string) {
		t.Helper()
		form.Set("Version", "2012-11-05")
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260901/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := post(url.Values{"Action": {"CreateQueue"}, "QueueName": {"legacy"}})
	if status != 200 || !strings.Contains(body, "<CreateQueueResult><QueueUrl>"+e.srv.URL+"/123456789012/legacy</QueueUrl>") {
		t.Fatalf("CreateQueue: %d %s", status, body)
	}
	qurl := e.srv.URL + "/123456789012/legacy"
	status, body = post(url.Values{"Action": {"SendMessage"}, "QueueUrl": {qurl}, "MessageBody": {"hello"}})
	if status != 200 || !strings.Contains(body, "<MD5OfMessageBody>5d41402abc4b2a76b9719d911017c592</MD5OfMessageBody>") {
		t.Fatalf("SendMessage: %d %s", status, body)
	}
	status, body = post(url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {qurl}})
	if status != 200 || !strings.Contains(body, "<Body>hello</Body>") {
		t.Fatalf("ReceiveMessage: %d %s", status, body)
	}
	status, body = post(url.Values{"Action": {"GetQueueUrl"}, "QueueName": {"nope"}})
	if status != 400 || !strings.Contains(body, "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>") {
		t.Errorf("unknown queue: %d %s", status, body)
	}
}

func TestInterruption_SpotWarningThenReclaimAfterNotice(t *testing.T) {
	e := start(t, Options{})
	q := e.queue(t, "kerf")
	e.srv.World.SetEventsQueue("kerf")
	lt := e.launchTemplate(t, "kerf-default")
	out, err := e.ec2.CreateFleet(e.ctx, e.fleetInput(t, lt, "spot", 1, "m5.large"))
	if err != nil {
		t.Fatal(err)
	}
	id := fleetInstanceIDs(out)[0]
	drain(t, e, q) // launch state changes
	if err := e.srv.World.Interrupt(InterruptSpot, id); err != nil {
		t.Fatal(err)
	}
	events := drain(t, e, q)
	if len(events) != 1 || events[0]["detail-type"] != "EC2 Spot Instance Interruption Warning" || events[0]["source"] != "aws.ec2" {
		t.Fatalf("want one interruption warning, got %v", events)
	}
	if d := events[0]["detail"].(map[string]any); d["instance-id"] != id || d["instance-action"] != "terminate" {
		t.Errorf("warning detail %v", d)
	}
	e.clock.Step(defaultSpotNotice - time.Second)
	if st := e.srv.World.Instances()[0].State; st != stateRunning {
		t.Fatalf("before the notice ends: %s, want running", st)
	}
	e.clock.Step(time.Second)
	events = drain(t, e, q)
	if len(events) != 1 || events[0]["detail-type"] != "EC2 Instance State-change Notification" ||
		events[0]["detail"].(map[string]any)["state"] != "shutting-down" {
		t.Fatalf("at the end of the notice: %v, want a shutting-down state change", events)
	}
	if err := e.srv.World.Interrupt(InterruptRebalance, "i-0123456789abcdef0"); err == nil {
		t.Errorf("interrupting an unknown instance succeeded")
	}
}

func TestInterruption_RebalanceAndScheduledChangeEvents(t *testing.T) {
	e := start(t, Options{})
	q := e.queue(t, "kerf")
	ids := e.run(t, "m5.large", 1)
	e.srv.World.SetEventsQueue("kerf")
	for _, kind := range []string{InterruptRebalance, InterruptScheduledChange} {
		if err := e.srv.World.Interrupt(kind, ids...); err != nil {
			t.Fatal(err)
		}
	}
	events := drain(t, e, q)
	if len(events) != 2 || events[0]["detail-type"] != "EC2 Instance Rebalance Recommendation" || events[1]["detail-type"] != "AWS Health Event" {
		t.Fatalf("events %v", events)
	}
	health := events[1]["detail"].(map[string]any)
	if health["eventTypeCategory"] != "scheduledChange" || health["service"] != "EC2" ||
		health["affectedEntities"].([]any)[0].(map[string]any)["entityValue"] != ids[0] {
		t.Errorf("health detail %v", health)
	}
	if err := e.srv.World.Interrupt(InterruptSpot, ids...); err == nil {
		t.Errorf("spot interruption of an on-demand instance succeeded")
	}
}

// drain receives and deletes everything in a queue, decoding each body as an EventBridge event.
func drain(t *testing.T, e *env, q string) []map[string]any {
	t.Helper()
	var events []map[string]any
	for {
		out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return events
		}
		for _, m := range out.Messages {
			var ev map[string]any
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
				t.Fatalf("event body is not JSON: %v", err)
			}
			events = append(events, ev)
			if _, err := e.sqs.DeleteMessage(e.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestSQS_CloseEndsWaitingLongPolls(t *testing.T) {
	e := start(t, Options{})
	q := e.queue(t, "events")
	done := make(chan error, 1)
	go func() {
		out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 20})
		if err == nil && len(out.Messages) != 0 {
			err = errors.New("messages from an empty queue")
		}
		done <- err
	}()
	waitForWaiter(t, e)
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("long poll at shutdown: %v, want an empty answer", err)
	}
}

func TestSQS_ChangeVisibilityPurgeListDelete(t *testing.T) {
	e := start(t, Options{})
	q := e.queue(t, "work")
	e.queue(t, "other")
	if _, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("a")}); err != nil {
		t.Fatal(err)
	}
	got, _ := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), VisibilityTimeout: 600})
	if _, err := e.sqs.ChangeMessageVisibility(e.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(q),
		ReceiptHandle: got.Messages[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	if again, _ := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q)}); len(again.Messages) != 1 {
		t.Errorf("visibility 0 makes the message receivable at once")
	}
	if _, err := e.sqs.PurgeQueue(e.ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(q)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Step(time.Hour)
	if after, _ := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q)}); len(after.Messages) != 0 {
		t.Errorf("purged queue still delivers")
	}
	list, err := e.sqs.ListQueues(e.ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("wo")})
	if err != nil || len(list.QueueUrls) != 1 || list.QueueUrls[0] != q {
		t.Errorf("ListQueues: %v %v", err, list)
	}
	if _, err := e.sqs.DeleteQueue(e.ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(q)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("a")})
	if code := errorCode(t, err); code != "AWS.SimpleQueueService.NonExistentQueue" && code != "QueueDoesNotExist" {
		t.Errorf("send to a deleted queue: %q", code)
	}
}
