package awsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// maxBody bounds a request body; AWS refuses far smaller ones, this only protects the process.
const maxBody = 16 << 20

// protocol is the wire protocol a request arrived in.
type protocol int

const (
	protoEC2 protocol = iota
	protoSQSQuery
	protoJSON
	protoSTS
)

// Server serves a World over HTTP.
type Server struct {
	world *World
}

// NewServer wraps a world in the AWS-protocol HTTP handler.
func NewServer(w *World) *Server { return &Server{world: w} }

// World is the simulated state the server answers from.
func (s *Server) World() *World { return s.world }

// ServeHTTP routes a request by protocol: the admin API under /_awsim/, JSON protocols by
// X-Amz-Target, and form-encoded query protocols by Action and Version.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	reqID := s.world.requestID()
	proto := protoEC2
	defer func() {
		// A bug must cost one request, never the process or a connection reset.
		if v := recover(); v != nil {
			writeError(rw, proto, reqID, "", &apiError{Code: codeInternalError,
				Message: fmt.Sprintf("An internal error has occurred: %v", v), Status: http.StatusInternalServerError})
		}
	}()
	if strings.HasPrefix(r.URL.Path, adminPrefix) {
		s.serveAdmin(rw, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/clusters/") {
		proto = protoJSON
		s.serveEKS(rw, r, reqID)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeError(rw, proto, reqID, "", sender(codeInvalidParameterValue, "could not read the request body"))
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		proto = protoJSON
		service, op, _ := strings.Cut(target, ".")
		if aerr := s.admit(r, proto, op); aerr != nil {
			writeError(rw, proto, reqID, service, aerr)
			return
		}
		s.serveJSON(rw, r, reqID, service, op, body)
		return
	}
	form, perr := url.ParseQuery(string(body))
	if perr != nil {
		writeError(rw, proto, reqID, "", sender(codeInvalidParameterValue, "The request body is not valid form encoding."))
		return
	}
	for k, v := range r.URL.Query() {
		if _, ok := form[k]; !ok {
			form[k] = v
		}
	}
	action := form.Get("Action")
	if form.Get("Version") == stsAPIVersion {
		proto = protoSTS
	}
	if form.Get("Version") == sqsAPIVersion || strings.HasPrefix(r.URL.Path, "/"+s.world.opts.AccountID+"/") {
		proto = protoSQSQuery
	}
	if action == "" {
		writeError(rw, proto, reqID, "", sender(codeMissingAction, "The request must contain the parameter Action."))
		return
	}
	if aerr := s.admit(r, proto, action); aerr != nil {
		writeError(rw, proto, reqID, "", aerr)
		return
	}
	switch proto {
	case protoSQSQuery:
		s.serveSQSQuery(rw, r, reqID, action, form)
		return
	case protoSTS:
		s.serveSTS(rw, reqID, action, newParams(form))
		return
	}
	s.serveEC2(rw, r.Context(), reqID, action, newParams(form))
}

// admit checks what AWS checks before an action runs: a signature (any credentials pass) and
// the faults injected for the action (latency, throttling, a forced error).
func (s *Server) admit(r *http.Request, proto protocol, action string) *apiError {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") && r.URL.Query().Get("X-Amz-Signature") == "" {
		return &apiError{Code: codeMissingAuthenticationToken, Message: "Request is missing Authentication Token", Status: http.StatusForbidden}
	}
	if token := r.Header.Get("X-Amz-Security-Token"); token != "" {
		if aerr := s.world.useSession(token); aerr != nil {
			return aerr
		}
	}
	delay, aerr := s.world.drawFault(action, proto)
	if delay > 0 {
		select {
		case <-s.world.clock.After(delay):
		case <-r.Context().Done():
		}
	}
	return aerr
}

// requestID returns a deterministic, UUID-shaped request ID.
func (w *World) requestID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.uuidLocked()
}

// uuidLocked returns the next deterministic UUID-shaped identifier.
func (w *World) uuidLocked() string {
	w.nextID++
	n := w.nextID
	h := hash64(w.opts.Seed, "request", fmt.Sprint(n))
	g := hash64(w.opts.Seed, "request2", fmt.Sprint(n))
	return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", uint32(h), uint16(h>>32), uint16(h>>48)&0xfff, uint16(g)&0xfff, g>>16&0xffffffffffff)
}

// Running is a server listening on a local port, as tests and the binary use it.
type Running struct {
	// URL is the endpoint for every service, e.g. http://127.0.0.1:41234.
	URL   string
	World *World
	srv   *http.Server
	ln    net.Listener
}

// Start builds a world and serves it on addr ("127.0.0.1:0" picks a free port).
func Start(addr string, opts Options) (*Running, error) {
	w, err := NewWorld(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s, %w", addr, err)
	}
	r := &Running{URL: "http://" + ln.Addr().String(), World: w, ln: ln,
		srv: &http.Server{Handler: NewServer(w), ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// Close stops serving and waits for in-flight requests (long polls end with the listener).
func (r *Running) Close() error {
	r.World.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return r.srv.Close()
	}
	return nil
}

// AWSConfig is an aws.Config pointing every client at this server with throw-away static
// credentials, the world's region and no retries (so a test sees each fault it injects).
//
// Its HTTP client buffers request bodies: smithy-go closes a request body as soon as response
// headers arrive, and against a server this close the transport can still be checking the body
// for surplus bytes, read the close as an error and drop the connection mid-response ("use of
// closed network connection"). Real AWS is far enough away that the race does not show.
func (r *Running) AWSConfig() aws.Config {
	return aws.Config{
		Region:           r.World.Region(),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDAWSIM", "awsim-secret", ""),
		BaseEndpoint:     aws.String(r.URL),
		RetryMaxAttempts: 1,
		HTTPClient:       NewHTTPClient(),
	}
}

// NewHTTPClient is the SDK's default HTTP client with request bodies buffered, safe to use
// against a local awsim (see AWSConfig).
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: bufferedBodyTransport{base: awshttp.NewBuildableClient().GetTransport()}}
}

// bufferedBodyTransport hands the transport its own copy of each request body, so the SDK
// closing the original cannot fail the write.
type bufferedBodyTransport struct{ base http.RoundTripper }

func (t bufferedBodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return t.base.RoundTrip(req)
	}
	data, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("buffering request body, %w", err)
	}
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(data))
	clone.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return t.base.RoundTrip(clone)
}
