package awsim

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sqsAPIVersion            = "2012-11-05"
	sqsDefaultVisibility     = 30
	sqsMaxWaitSeconds        = 20
	sqsMaxMessagesPerReceive = 10
)

type queue struct {
	Name       string
	URL        string
	Created    time.Time
	Attributes map[string]string
	messages   []*message
	handles    map[string]*message // every receipt handle a message was given
}

type message struct {
	ID, Body, MD5 string
	SentAt        time.Time
	VisibleAt     time.Time
	Receives      int
	FirstReceive  time.Time
}

func bodyMD5(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

// sqsQueueDefaults are the attributes every new queue starts with.
func sqsQueueDefaults() map[string]string {
	return map[string]string{
		"VisibilityTimeout":             strconv.Itoa(sqsDefaultVisibility),
		"MessageRetentionPeriod":        "345600",
		"MaximumMessageSize":            "262144",
		"DelaySeconds":                  "0",
		"ReceiveMessageWaitTimeSeconds": "0",
		"SqsManagedSseEnabled":          "true",
	}
}

func validQueueName(n string) bool {
	base := strings.TrimSuffix(n, ".fifo")
	if base == "" || len(n) > 80 {
		return false
	}
	for _, c := range base {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// createQueueLocked is idempotent for identical attributes, as SQS is.
func (w *World) createQueueLocked(name string, attrs map[string]string, endpoint string) (string, *apiError) {
	if name == "" {
		return "", missingParameter("QueueName")
	}
	if !validQueueName(name) {
		return "", sender(codeInvalidParameterValue, "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	full := sqsQueueDefaults()
	for k, v := range attrs {
		if _, ok := full[k]; !ok && k != "Policy" && k != "RedrivePolicy" && k != "KmsMasterKeyId" && k != "FifoQueue" {
			return "", sender(codeSQSInvalidAttributeName, "Unknown Attribute %s.", k)
		}
		full[k] = v
	}
	if q, ok := w.queues[name]; ok {
		for k, v := range attrs {
			if q.Attributes[k] != v {
				return "", sender(codeSQSQueueNameExists, "A queue already exists with the same name and a different value for attribute %s", k)
			}
		}
		return q.URL, nil
	}
	q := &queue{Name: name, URL: strings.TrimSuffix(endpoint, "/") + "/" + w.opts.AccountID + "/" + name, Created: w.now(),
		Attributes: full, handles: map[string]*message{}}
	w.queues[name] = q
	return q.URL, nil
}

// CreateQueue makes a queue from Go (the interruption queue in tests); it returns the URL.
func (w *World) CreateQueue(name, endpoint string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	url, err := w.createQueueLocked(name, nil, endpoint)
	if err != nil {
		return "", err
	}
	return url, nil
}

// queueByURL finds a queue by its URL's last path segment (any host), as SQS resolves it.
func (w *World) queueByURL(url string) (*queue, *apiError) {
	if url == "" {
		return nil, missingParameter("QueueUrl")
	}
	name := url[strings.LastIndexByte(url, '/')+1:]
	if q, ok := w.queues[name]; ok {
		return q, nil
	}
	return nil, sender(codeSQSQueueDoesNotExist, "The specified queue does not exist.")
}

func (w *World) queueAttributesLocked(q *queue, names []string) (map[string]string, *apiError) {
	now := w.now()
	visible, inflight, delayed := 0, 0, 0
	for _, m := range q.messages {
		switch {
		case m.Receives == 0 && m.VisibleAt.After(now):
			delayed++
		case m.VisibleAt.After(now):
			inflight++
		default:
			visible++
		}
	}
	all := map[string]string{
		"QueueArn":                              fmt.Sprintf("arn:aws:sqs:%s:%s:%s", w.opts.Region, w.opts.AccountID, q.Name),
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inflight),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(delayed),
		"CreatedTimestamp":                      strconv.FormatInt(q.Created.Unix(), 10),
		"LastModifiedTimestamp":                 strconv.FormatInt(q.Created.Unix(), 10),
	}
	for k, v := range q.Attributes {
		all[k] = v
	}
	if len(names) == 0 {
		return map[string]string{}, nil
	}
	out := map[string]string{}
	for _, n := range names {
		if n == "All" {
			return all, nil
		}
		v, ok := all[n]
		if !ok {
			return nil, sender(codeSQSInvalidAttributeName, "Unknown Attribute %s.", n)
		}
		out[n] = v
	}
	return out, nil
}

// sendLocked enqueues a message and wakes long pollers.
func (w *World) sendLocked(q *queue, body string, delay int) (*message, *apiError) {
	if body == "" {
		return nil, missingParameter("MessageBody")
	}
	if delay < 0 || delay > 900 {
		return nil, invalidValue("DelaySeconds", strconv.Itoa(delay))
	}
	now := w.now()
	m := &message{ID: w.uuidLocked(), Body: body, MD5: bodyMD5(body), SentAt: now, VisibleAt: now.Add(time.Duration(delay) * time.Second)}
	q.messages = append(q.messages, m)
	w.notifyQueuesLocked()
	return m, nil
}

func (w *World) notifyQueuesLocked() {
	close(w.queueChanged)
	w.queueChanged = make(chan struct{})
}

type receivedMessage struct {
	MessageID     string            `json:"MessageId"`
	ReceiptHandle string            `json:"ReceiptHandle"`
	MD5OfBody     string            `json:"MD5OfBody"`
	Body          string            `json:"Body"`
	Attributes    map[string]string `json:"Attributes,omitempty"`
}

type receiveRequest struct {
	QueueURL       string
	Max            int
	Visibility     *int
	Wait           *int
	AttributeNames []string
}

// receive takes up to Max visible messages, long-polling up to Wait seconds on the world's
// clock. It is the one SQS call that waits, so it takes the lock itself.
func (w *World) receive(ctx context.Context, in receiveRequest) ([]receivedMessage, *apiError) {
	if in.Max == 0 {
		in.Max = 1
	}
	if in.Max < 1 || in.Max > sqsMaxMessagesPerReceive {
		return nil, sender(codeInvalidParameterValue, "Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", in.Max)
	}
	if in.Wait != nil && (*in.Wait < 0 || *in.Wait > sqsMaxWaitSeconds) {
		return nil, sender(codeInvalidParameterValue, "Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *in.Wait)
	}
	if in.Visibility != nil && (*in.Visibility < 0 || *in.Visibility > 43200) {
		return nil, sender(codeInvalidParameterValue, "Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *in.Visibility)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	q, err := w.queueByURL(in.QueueURL)
	if err != nil {
		return nil, err
	}
	wait := in.Wait
	if wait == nil {
		n, _ := strconv.Atoi(q.Attributes["ReceiveMessageWaitTimeSeconds"])
		wait = &n
	}
	deadline := w.now().Add(time.Duration(*wait) * time.Second)
	for {
		w.advanceLocked()
		if got := w.takeLocked(q, in); len(got) > 0 || !w.now().Before(deadline) {
			return got, nil
		}
		// Sleep until a send, the next message becoming visible, or the deadline.
		wake := deadline
		for _, m := range q.messages {
			if m.VisibleAt.After(w.now()) && m.VisibleAt.Before(wake) {
				wake = m.VisibleAt
			}
		}
		changed := w.queueChanged
		timer := w.clock.NewTimer(wake.Sub(w.now()))
		w.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C():
		case <-ctx.Done():
		case <-w.stopped:
		}
		timer.Stop()
		w.mu.Lock()
		if ctx.Err() != nil || w.isStopped() {
			return []receivedMessage{}, nil
		}
		if _, err := w.queueByURL(in.QueueURL); err != nil {
			return nil, err
		}
	}
}

func (w *World) isStopped() bool {
	select {
	case <-w.stopped:
		return true
	default:
		return false
	}
}

func (w *World) takeLocked(q *queue, in receiveRequest) []receivedMessage {
	now := w.now()
	vis := 0
	if in.Visibility != nil {
		vis = *in.Visibility
	} else {
		vis, _ = strconv.Atoi(q.Attributes["VisibilityTimeout"])
	}
	out := []receivedMessage{}
	for _, m := range q.messages {
		if len(out) == in.Max {
			break
		}
		if m.VisibleAt.After(now) {
			continue
		}
		m.Receives++
		if m.Receives == 1 {
			m.FirstReceive = now
		}
		m.VisibleAt = now.Add(time.Duration(vis) * time.Second)
		handle := base64.StdEncoding.EncodeToString([]byte(m.ID + "#" + w.uuidLocked()))
		q.handles[handle] = m
		rm := receivedMessage{MessageID: m.ID, ReceiptHandle: handle, MD5OfBody: m.MD5, Body: m.Body}
		if attrs := messageAttributes(m, in.AttributeNames); len(attrs) > 0 {
			rm.Attributes = attrs
		}
		out = append(out, rm)
	}
	return out
}

func messageAttributes(m *message, names []string) map[string]string {
	all := map[string]string{
		"SenderId":                         "AIDAAWSIMEXAMPLE",
		"SentTimestamp":                    strconv.FormatInt(m.SentAt.UnixMilli(), 10),
		"ApproximateReceiveCount":          strconv.Itoa(m.Receives),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.FirstReceive.UnixMilli(), 10),
	}
	out := map[string]string{}
	for _, n := range names {
		if n == "All" {
			return all
		}
		if v, ok := all[n]; ok {
			out[n] = v
		}
	}
	return out
}

func (w *World) deleteMessageLocked(q *queue, handle string) *apiError {
	if handle == "" {
		return missingParameter("ReceiptHandle")
	}
	m, ok := q.handles[handle]
	if !ok {
		return sender(codeSQSReceiptHandleInvalid, "The input receipt handle \"%s\" is not a valid receipt handle.", handle)
	}
	for h, x := range q.handles {
		if x == m {
			delete(q.handles, h)
		}
	}
	for i, x := range q.messages {
		if x == m {
			q.messages = append(q.messages[:i], q.messages[i+1:]...)
			break
		}
	}
	return nil
}

// changeVisibilityLocked makes an in-flight message visible again after timeout seconds.
func (w *World) changeVisibilityLocked(q *queue, handle string, timeout int) *apiError {
	if handle == "" {
		return missingParameter("ReceiptHandle")
	}
	if timeout < 0 || timeout > 43200 {
		return invalidValue("VisibilityTimeout", strconv.Itoa(timeout))
	}
	m, ok := q.handles[handle]
	if !ok {
		return sender(codeSQSReceiptHandleInvalid, "The input receipt handle \"%s\" is not a valid receipt handle.", handle)
	}
	if !m.VisibleAt.After(w.now()) {
		return sender(codeSQSMessageNotInflight, "Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", handle)
	}
	m.VisibleAt = w.now().Add(time.Duration(timeout) * time.Second)
	w.notifyQueuesLocked()
	return nil
}

// listQueuesLocked lists queue URLs with a name prefix, sorted.
func (w *World) listQueuesLocked(prefix string) []string {
	out := []string{}
	for name, q := range w.queues {
		if strings.HasPrefix(name, prefix) {
			out = append(out, q.URL)
		}
	}
	sort.Strings(out)
	return out
}

// QueueMessages returns the bodies of every message in a queue (visible or not), oldest first,
// for tests that check what was sent.
func (w *World) QueueMessages(name string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	q, ok := w.queues[name]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(q.messages))
	for _, m := range q.messages {
		out = append(out, m.Body)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
