package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kerf-autoscaler/kerf/test/awsim"
)

func TestRun_PrintsReadyLineServesAndStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, pw, "127.0.0.1:0", "", "kerf-events", awsim.Options{}) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "awsim ready endpoint=http://127.0.0.1:") {
		t.Fatalf("ready line %q", line)
	}
	endpoint := strings.Fields(strings.TrimPrefix(line, "awsim ready endpoint="))[0]
	resp, err := http.Get(endpoint + "/_awsim/state")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"eventsQueue": "kerf-events"`) {
		t.Errorf("state: %d %s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel: %v", err)
	}
}

func TestRun_RefusesAnUnreadableKubeconfig(t *testing.T) {
	if err := run(context.Background(), io.Discard, "127.0.0.1:0", "/nonexistent/kubeconfig", "", awsim.Options{}); err == nil {
		t.Error("want an error for a kubeconfig that does not exist")
	}
}
