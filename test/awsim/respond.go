package awsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

const (
	ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"
	sqsNamespace = "http://queue.amazonaws.com/doc/2012-11-05/"
	xmlHeader    = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
)

// writeEC2 writes an EC2 Query response: <ActionResponse xmlns=...><requestId>…</requestId>…
// with the fields of body (a struct with xml tags) after the request ID.
func writeEC2(rw http.ResponseWriter, action, reqID string, body any) {
	var buf bytes.Buffer
	buf.WriteString(xmlHeader)
	fmt.Fprintf(&buf, `<%sResponse xmlns="%s"><requestId>%s</requestId>`, action, ec2Namespace, reqID)
	if body != nil {
		inner, err := innerXML(body)
		if err != nil {
			writeError(rw, protoEC2, reqID, "", server(codeInternalError, "encoding response: %v", err))
			return
		}
		buf.Write(inner)
	}
	fmt.Fprintf(&buf, "</%sResponse>", action)
	rw.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	rw.Header().Set("X-Amzn-RequestId", reqID)
	writeBody(rw, http.StatusOK, buf.Bytes())
}

// innerXML marshals a struct's fields without the wrapper element encoding/xml puts around
// them (response wrappers are named by the action, not the Go type).
func innerXML(v any) ([]byte, error) {
	out, err := xml.Marshal(v)
	if err != nil {
		return nil, err
	}
	i := bytes.IndexByte(out, '>')
	if i < 0 || bytes.HasSuffix(out[:i+1], []byte("/>")) {
		return nil, nil
	}
	return out[i+1 : bytes.LastIndexByte(out, '<')], nil
}

// writeJSON writes a JSON-protocol success body.
func writeJSON(rw http.ResponseWriter, reqID, contentType string, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		writeError(rw, protoJSON, reqID, "", server(codeInternalError, "encoding response: %v", err))
		return
	}
	rw.Header().Set("Content-Type", contentType)
	rw.Header().Set("X-Amzn-RequestId", reqID)
	writeBody(rw, http.StatusOK, data)
}

// writeError writes err in the shape its protocol uses. service names the JSON service
// (AmazonSQS gets the query-compatible error header that SDKs read).
func writeError(rw http.ResponseWriter, proto protocol, reqID, service string, err *apiError) {
	rw.Header().Set("X-Amzn-RequestId", reqID)
	switch proto {
	case protoJSON:
		typ, ct := err.Code, contentTypeJSON11
		if service == "AmazonSQS" {
			ct = contentTypeJSON10
			typ = "com.amazonaws.sqs#" + err.Code
			fault := "Sender"
			if err.Status >= 500 {
				fault = "Receiver"
			}
			rw.Header().Set("X-Amzn-Query-Error", sqsQueryCode(err.Code)+";"+fault)
		}
		data, _ := json.Marshal(map[string]string{"__type": typ, "message": err.Message})
		rw.Header().Set("Content-Type", ct)
		rw.Header().Set("X-Amzn-ErrorType", err.Code)
		writeBody(rw, err.Status, data)
	case protoSQSQuery, protoSTS:
		fault := "Sender"
		if err.Status >= 500 {
			fault = "Receiver"
		}
		namespace, code := sqsNamespace, sqsQueryCode(err.Code)
		if proto == protoSTS {
			namespace, code = stsNamespace, err.Code
		}
		var buf bytes.Buffer
		buf.WriteString(xmlHeader)
		fmt.Fprintf(&buf, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message><Detail/></Error><RequestId>%s</RequestId></ErrorResponse>`,
			namespace, fault, escape(code), escape(err.Message), reqID)
		rw.Header().Set("Content-Type", "text/xml")
		writeBody(rw, err.Status, buf.Bytes())
	default:
		var buf bytes.Buffer
		buf.WriteString(xmlHeader)
		fmt.Fprintf(&buf, `<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`,
			escape(err.Code), escape(err.Message), reqID)
		rw.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		writeBody(rw, err.Status, buf.Bytes())
	}
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// page is one page of a listing: items [Start, End) and the token for the rest.
type page struct {
	Start, End int
	Next       string
}

// paginate applies MaxResults/NextToken. Tokens are opaque to clients and bound to the action
// that issued them, so a token from another call is refused as EC2 refuses it. def <= 0 means
// "everything" when MaxResults is absent.
func paginate(p params, action string, total, lo, hi, def int) (page, *apiError) {
	n, ok, err := p.integer("MaxResults")
	if err != nil {
		return page{}, err
	}
	if ok && (n < lo || n > hi) {
		return page{}, sender(codeInvalidParameterValue,
			"Value ( %d ) for parameter maxResults is invalid. Parameter must be between %d and %d.", n, lo, hi)
	}
	if !ok {
		n = def
		if def <= 0 {
			n = total
		}
	}
	start := 0
	if tok := p.str("NextToken"); tok != "" {
		s, ok := decodeToken(action, tok)
		if !ok || s > total {
			return page{}, sender(codeInvalidPaginationToken, "Invalid pagination token")
		}
		start = s
	}
	end := min(total, start+n)
	pg := page{Start: start, End: end}
	if end < total {
		pg.Next = encodeToken(action, end)
	}
	return pg, nil
}

func encodeToken(action string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("awsim|" + action + "|" + strconv.Itoa(offset)))
}

func decodeToken(action, tok string) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != "awsim" || parts[1] != action {
		return 0, false
	}
	n, err := strconv.Atoi(parts[2])
	return n, err == nil && n >= 0
}

// writeBody sends a complete response with its Content-Length, as AWS does. Without it a large
// body goes chunked, and SDKs that stop reading at the closing XML tag leave the chunk trailer
// unread, so the connection is dropped under a later request.
func writeBody(rw http.ResponseWriter, status int, body []byte) {
	rw.Header().Set("Content-Length", strconv.Itoa(len(body)))
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}
