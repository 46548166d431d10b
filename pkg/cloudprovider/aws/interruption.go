package aws

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"k8s.io/utils/clock"

	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
)

// SQSAPI lists the SQS calls Kerf makes: reading and deleting interruption messages.
type SQSAPI interface {
	GetQueueUrl(context.Context, *sqs.GetQueueUrlInput, ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

var _ SQSAPI = (*sqs.Client)(nil)

// Long polling, as Karpenter does it: the longest wait SQS allows and the most messages a
// receive returns.
const (
	interruptionWaitSeconds = 20
	interruptionMaxMessages = 10
)

// InterruptionQueue reads the SQS queue EventBridge delivers interruption events to.
type InterruptionQueue struct {
	sqs   SQSAPI
	name  string
	retry retrier

	mu  sync.Mutex
	url string // resolved on first use
}

var _ cloudprovider.InterruptionQueue = (*InterruptionQueue)(nil)

// NewInterruptionQueue returns the queue named queueName (as settings.aws.interruptionQueueName
// gives it), or at queueName when that is already a queue URL. The URL is looked up on first use.
func NewInterruptionQueue(client SQSAPI, queueName string, clk clock.Clock) *InterruptionQueue {
	q := &InterruptionQueue{sqs: client, name: queueName, retry: newRetrier(clk, 0, 0)}
	if strings.HasPrefix(queueName, "https://") || strings.HasPrefix(queueName, "http://") {
		q.url = queueName
	}
	return q
}

// Receive implements cloudprovider.InterruptionQueue: it long-polls for up to 20 seconds and
// returns the messages that arrived, parsed.
func (q *InterruptionQueue) Receive(ctx context.Context) ([]cloudprovider.InterruptionMessage, error) {
	url, err := q.queueURL(ctx)
	if err != nil {
		return nil, fmt.Errorf("receiving interruption messages, %w", err)
	}
	out, err := call(ctx, q.retry, func() (*sqs.ReceiveMessageOutput, error) {
		return q.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url),
			MaxNumberOfMessages: interruptionMaxMessages, WaitTimeSeconds: interruptionWaitSeconds})
	})
	if err != nil {
		return nil, fmt.Errorf("receiving interruption messages, %w", err)
	}
	msgs := make([]cloudprovider.InterruptionMessage, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg := parseInterruptionMessage(aws.ToString(m.Body))
		msg.ID, msg.Handle = aws.ToString(m.MessageId), aws.ToString(m.ReceiptHandle)
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// Delete implements cloudprovider.InterruptionQueue.
func (q *InterruptionQueue) Delete(ctx context.Context, msg cloudprovider.InterruptionMessage) error {
	url, err := q.queueURL(ctx)
	if err != nil {
		return fmt.Errorf("deleting interruption message %s, %w", msg.ID, err)
	}
	_, err = call(ctx, q.retry, func() (*sqs.DeleteMessageOutput, error) {
		return q.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(msg.Handle)})
	})
	if err != nil {
		return fmt.Errorf("deleting interruption message %s, %w", msg.ID, err)
	}
	return nil
}

// queueURL resolves the queue's name once; a failure is retried on the next call.
func (q *InterruptionQueue) queueURL(ctx context.Context) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.url != "" {
		return q.url, nil
	}
	out, err := call(ctx, q.retry, func() (*sqs.GetQueueUrlOutput, error) {
		return q.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.name)})
	})
	if err != nil {
		return "", fmt.Errorf("getting the URL of queue %s, %w", q.name, err)
	}
	q.url = aws.ToString(out.QueueUrl)
	return q.url, nil
}
