package awsim

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// sqsJSON serves the SQS JSON 1.0 protocol current SDKs use.
func (w *World) sqsJSON(ctx context.Context, op string, body []byte) (any, *apiError) {
	var in struct {
		QueueName                   string
		QueueUrl                    string
		Attributes                  map[string]string
		AttributeNames              []string
		MessageSystemAttributeNames []string
		MessageBody                 string
		DelaySeconds                int
		MaxNumberOfMessages         int
		VisibilityTimeout           *int
		WaitTimeSeconds             *int
		ReceiptHandle               string
		QueueNamePrefix             string
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if op == "ReceiveMessage" {
		msgs, err := w.receive(ctx, receiveRequest{QueueURL: in.QueueUrl, Max: in.MaxNumberOfMessages, Visibility: in.VisibilityTimeout,
			Wait: in.WaitTimeSeconds, AttributeNames: append(in.AttributeNames, in.MessageSystemAttributeNames...)})
		if err != nil {
			return nil, err
		}
		return map[string]any{"Messages": msgs}, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advanceLocked()
	endpoint, _ := ctx.Value(endpointKey{}).(string)
	switch op {
	case "CreateQueue":
		u, err := w.createQueueLocked(in.QueueName, in.Attributes, endpoint)
		if err != nil {
			return nil, err
		}
		return map[string]string{"QueueUrl": u}, nil
	case "GetQueueUrl":
		if in.QueueName == "" {
			return nil, missingParameter("QueueName")
		}
		q, ok := w.queues[in.QueueName]
		if !ok {
			return nil, sender(codeSQSQueueDoesNotExist, "The specified queue does not exist.")
		}
		return map[string]string{"QueueUrl": q.URL}, nil
	case "GetQueueAttributes":
		q, err := w.queueByURL(in.QueueUrl)
		if err != nil {
			return nil, err
		}
		attrs, err := w.queueAttributesLocked(q, in.AttributeNames)
		if err != nil {
			return nil, err
		}
		return map[string]any{"Attributes": attrs}, nil
	case "SendMessage":
		q, err := w.queueByURL(in.QueueUrl)
		if err != nil {
			return nil, err
		}
		m, err := w.sendLocked(q, in.MessageBody, in.DelaySeconds)
		if err != nil {
			return nil, err
		}
		return map[string]string{"MD5OfMessageBody": m.MD5, "MessageId": m.ID}, nil
	case "DeleteMessage":
		q, err := w.queueByURL(in.QueueUrl)
		if err != nil {
			return nil, err
		}
		if err := w.deleteMessageLocked(q, in.ReceiptHandle); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	case "ChangeMessageVisibility":
		q, err := w.queueByURL(in.QueueUrl)
		if err != nil {
			return nil, err
		}
		vis := 0
		if in.VisibilityTimeout != nil {
			vis = *in.VisibilityTimeout
		}
		if err := w.changeVisibilityLocked(q, in.ReceiptHandle, vis); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	case "PurgeQueue":
		q, err := w.queueByURL(in.QueueUrl)
		if err != nil {
			return nil, err
		}
		q.messages, q.handles = nil, map[string]*message{}
		return struct{}{}, nil
	case "DeleteQueue":
		q, err := w.queueByURL(in.QueueUrl)
		if err != nil {
			return nil, err
		}
		delete(w.queues, q.Name)
		w.notifyQueuesLocked() // long polls on it answer QueueDoesNotExist
		return struct{}{}, nil
	case "ListQueues":
		return map[string][]string{"QueueUrls": w.listQueuesLocked(in.QueueNamePrefix)}, nil
	}
	return nil, unknownOperation(op)
}

// endpointKey carries the scheme and host a request arrived on, so queue URLs point back here.
type endpointKey struct{}

func endpointOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type sqsAttr struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

type urlResult struct {
	QueueURL string `xml:"QueueUrl"`
}

type sqsListResult struct {
	QueueURLs []string `xml:"QueueUrl"`
}

type sqsSendResult struct {
	MD5       string `xml:"MD5OfMessageBody"`
	MessageID string `xml:"MessageId"`
}

type sqsReceiveResult struct {
	Messages []sqsQueryMessage `xml:"Message"`
}

type sqsAttributesResult struct {
	Attributes []sqsAttr `xml:"Attribute"`
}

type sqsQueryMessage struct {
	MessageID     string    `xml:"MessageId"`
	ReceiptHandle string    `xml:"ReceiptHandle"`
	MD5OfBody     string    `xml:"MD5OfBody"`
	Body          string    `xml:"Body"`
	Attributes    []sqsAttr `xml:"Attribute"`
}

// serveSQSQuery serves the older SQS query protocol (form-encoded, XML responses).
func (s *Server) serveSQSQuery(rw http.ResponseWriter, r *http.Request, reqID, action string, form url.Values) {
	w := s.world
	p := newParams(form)
	queueURL := form.Get("QueueUrl")
	if queueURL == "" && r.URL.Path != "/" {
		queueURL = r.URL.Path
	}
	var result any
	var err *apiError
	switch action {
	case "ReceiveMessage":
		req := receiveRequest{QueueURL: queueURL, AttributeNames: append(p.list("AttributeName"), p.list("MessageSystemAttributeName")...)}
		if n, ok, e := p.integer("MaxNumberOfMessages"); e != nil {
			err = e
		} else if ok {
			req.Max = n
		}
		if n, ok, e := p.integer("WaitTimeSeconds"); ok && e == nil {
			req.Wait = &n
		}
		if n, ok, e := p.integer("VisibilityTimeout"); ok && e == nil {
			req.Visibility = &n
		}
		if err == nil {
			var msgs []receivedMessage
			if msgs, err = w.receive(r.Context(), req); err == nil {
				out := sqsReceiveResult{}
				for _, m := range msgs {
					qm := sqsQueryMessage{MessageID: m.MessageID, ReceiptHandle: m.ReceiptHandle, MD5OfBody: m.MD5OfBody, Body: m.Body}
					for _, k := range sortedKeys(m.Attributes) {
						qm.Attributes = append(qm.Attributes, sqsAttr{Name: k, Value: m.Attributes[k]})
					}
					out.Messages = append(out.Messages, qm)
				}
				result = out
			}
		}
	default:
		w.mu.Lock()
		w.advanceLocked()
		result, err = w.sqsQueryLocked(action, p, queueURL, endpointOf(r))
		w.mu.Unlock()
	}
	if err != nil {
		writeError(rw, protoSQSQuery, reqID, "", err)
		return
	}
	var buf bytes.Buffer
	buf.WriteString(xmlHeader)
	fmt.Fprintf(&buf, `<%sResponse xmlns="%s">`, action, sqsNamespace)
	if result != nil {
		inner, merr := innerXML(result)
		if merr != nil {
			writeError(rw, protoSQSQuery, reqID, "", server(codeInternalError, "encoding response: %v", merr))
			return
		}
		fmt.Fprintf(&buf, "<%sResult>%s</%sResult>", action, inner, action)
	}
	fmt.Fprintf(&buf, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>", reqID, action)
	rw.Header().Set("Content-Type", "text/xml")
	rw.Header().Set("X-Amzn-RequestId", reqID)
	writeBody(rw, http.StatusOK, buf.Bytes())
}

func (w *World) sqsQueryLocked(action string, p params, queueURL, endpoint string) (any, *apiError) {
	switch action {
	case "CreateQueue":
		attrs := map[string]string{}
		for _, a := range p.objects("Attribute") {
			attrs[a.str("Name")] = a.str("Value")
		}
		u, err := w.createQueueLocked(p.str("QueueName"), attrs, endpoint)
		if err != nil {
			return nil, err
		}
		return urlResult{QueueURL: u}, nil
	case "GetQueueUrl":
		q, ok := w.queues[p.str("QueueName")]
		if !ok {
			return nil, sender(codeSQSQueueDoesNotExist, "The specified queue does not exist.")
		}
		return urlResult{QueueURL: q.URL}, nil
	case "GetQueueAttributes":
		q, err := w.queueByURL(queueURL)
		if err != nil {
			return nil, err
		}
		attrs, err := w.queueAttributesLocked(q, p.list("AttributeName"))
		if err != nil {
			return nil, err
		}
		out := sqsAttributesResult{}
		for _, k := range sortedKeys(attrs) {
			out.Attributes = append(out.Attributes, sqsAttr{Name: k, Value: attrs[k]})
		}
		return out, nil
	case "SendMessage":
		q, err := w.queueByURL(queueURL)
		if err != nil {
			return nil, err
		}
		delay, _ := strconv.Atoi(p.str("DelaySeconds"))
		m, err := w.sendLocked(q, p.str("MessageBody"), delay)
		if err != nil {
			return nil, err
		}
		return sqsSendResult{MD5: m.MD5, MessageID: m.ID}, nil
	case "DeleteMessage":
		q, err := w.queueByURL(queueURL)
		if err != nil {
			return nil, err
		}
		return nil, w.deleteMessageLocked(q, p.str("ReceiptHandle"))
	case "ChangeMessageVisibility":
		q, err := w.queueByURL(queueURL)
		if err != nil {
			return nil, err
		}
		vis, _, err := p.integer("VisibilityTimeout")
		if err != nil {
			return nil, err
		}
		return nil, w.changeVisibilityLocked(q, p.str("ReceiptHandle"), vis)
	case "ListQueues":
		return sqsListResult{QueueURLs: w.listQueuesLocked(p.str("QueueNamePrefix"))}, nil
	}
	return nil, sender(codeInvalidAction, "The action %s is not valid for this web service.", action)
}
