package awsim

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

const (
	stsAPIVersion = "2011-06-15"
	stsNamespace  = "https://sts.amazonaws.com/doc/2011-06-15/"
	// roleMaxSession is a role's MaxSessionDuration when nobody raised it: one hour.
	roleMaxSession = time.Hour
)

// roleSessionName is STS's pattern for RoleSessionName.
var roleSessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// roleARNPattern matches a role ARN and captures its account and name.
var roleARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$`)

// session is one set of temporary credentials AssumeRole handed out.
type session struct {
	roleARN  string
	expires  time.Time
	requests int
}

// serveSTS answers AssumeRole, the one STS call Kerf makes (for --assume-role-arn). Any role of
// the world's account may be assumed, for at most its default MaxSessionDuration of an hour, as
// STS allows it; a role in another account is refused, as its trust policy would refuse awsim's
// caller.
func (s *Server) serveSTS(rw http.ResponseWriter, reqID, action string, p params) {
	if action != "AssumeRole" {
		writeError(rw, protoSTS, reqID, "", &apiError{Code: "InvalidAction", Status: http.StatusBadRequest,
			Message: fmt.Sprintf("Could not find operation %s for version %s", action, stsAPIVersion)})
		return
	}
	w := s.world
	arn, name := p.str("RoleArn"), p.str("RoleSessionName")
	switch {
	case arn == "":
		writeError(rw, protoSTS, reqID, "", validationError("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"))
		return
	case !roleSessionName.MatchString(name):
		writeError(rw, protoSTS, reqID, "", validationError(fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", name)))
		return
	}
	m := roleARNPattern.FindStringSubmatch(arn)
	if m == nil || m[1] != w.opts.AccountID {
		writeError(rw, protoSTS, reqID, "", &apiError{Code: "AccessDenied", Status: http.StatusForbidden,
			Message: fmt.Sprintf("User: arn:aws:iam::%s:user/awsim is not authorized to perform: sts:AssumeRole on resource: %s", w.opts.AccountID, arn)})
		return
	}
	duration := time.Hour
	if n, ok, aerr := p.integer("DurationSeconds"); aerr != nil {
		writeError(rw, protoSTS, reqID, "", aerr)
		return
	} else if ok {
		duration = time.Duration(n) * time.Second
	}
	if duration < 15*time.Minute {
		writeError(rw, protoSTS, reqID, "", validationError(fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", int(duration.Seconds()))))
		return
	}
	if duration > roleMaxSession {
		writeError(rw, protoSTS, reqID, "", validationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."))
		return
	}
	w.mu.Lock()
	token := "awsim-session-" + w.uuidLocked()
	keyID := strings.ToUpper("ASIA" + strings.ReplaceAll(w.uuidLocked(), "-", "")[:16])
	expires := w.clock.Now().Add(duration).UTC()
	if w.sessions == nil {
		w.sessions = map[string]*session{}
	}
	w.sessions[token] = &session{roleARN: arn, expires: expires}
	w.mu.Unlock()
	var buf bytes.Buffer
	buf.WriteString(xmlHeader)
	fmt.Fprintf(&buf, `<AssumeRoleResponse xmlns="%s"><AssumeRoleResult><Credentials><AccessKeyId>%s</AccessKeyId>`+
		`<SecretAccessKey>awsim-session-secret</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>`+
		`<AssumedRoleUser><AssumedRoleId>AROAAWSIM:%s</AssumedRoleId><Arn>arn:aws:sts::%s:assumed-role/%s/%s</Arn></AssumedRoleUser>`+
		`</AssumeRoleResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></AssumeRoleResponse>`,
		stsNamespace, keyID, escape(token), expires.Format(time.RFC3339), escape(name), w.opts.AccountID, escape(m[2]), escape(name), reqID)
	rw.Header().Set("Content-Type", "text/xml")
	rw.Header().Set("X-Amzn-RequestId", reqID)
	writeBody(rw, http.StatusOK, buf.Bytes())
}

func validationError(msg string) *apiError {
	return &apiError{Code: "ValidationError", Message: msg, Status: http.StatusBadRequest}
}

// useSession counts a request made with a session token; an unknown or expired token is refused
// as AWS refuses it.
func (w *World) useSession(token string) *apiError {
	w.mu.Lock()
	defer w.mu.Unlock()
	sess, ok := w.sessions[token]
	switch {
	case !ok:
		return &apiError{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid.", Status: http.StatusForbidden}
	case !w.clock.Now().Before(sess.expires):
		return &apiError{Code: "ExpiredToken", Message: "The security token included in the request is expired", Status: http.StatusBadRequest}
	}
	sess.requests++
	return nil
}

// AssumedRoleRequests is how many requests were made with credentials of the role, AssumeRole's
// own excepted.
func (w *World) AssumedRoleRequests(roleARN string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, sess := range w.sessions {
		if sess.roleARN == roleARN {
			n += sess.requests
		}
	}
	return n
}
