package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kerf-autoscaler/kerf/test/awsim"
)

// startAWSim serves a simulated region and points the SDK's default credential chain at static
// test credentials, away from whatever the machine running the test has configured.
func startAWSim(t *testing.T) *awsim.Running {
	t.Helper()
	srv, err := awsim.Start("127.0.0.1:0", awsim.Options{Clock: clocktesting.NewFakeClock(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)), Seed: 42})
	if err != nil {
		t.Fatalf("starting awsim: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDKERFCTL", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_EC2_METADATA_DISABLED": "true", "AWS_CA_BUNDLE": "",
		"AWS_CONFIG_FILE": t.TempDir() + "/config", "AWS_SHARED_CREDENTIALS_FILE": t.TempDir() + "/credentials",
	} {
		t.Setenv(k, v)
	}
	return srv
}

// runAgainst runs kerfctl with awsim's safe HTTP client (see awsim.NewHTTPClient).
func runAgainst(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := &cli{stdout: &stdout, stderr: &stderr, httpClient: awsim.NewHTTPClient()}
	code := c.run(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

type instanceTypeOutput struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels"`
	Capacity    map[string]string `json:"capacity"`
	Overhead    map[string]string `json:"overhead"`
	Allocatable map[string]string `json:"allocatable"`
	Offerings   []struct {
		Zone         string  `json:"zone"`
		CapacityType string  `json:"capacityType"`
		Price        float64 `json:"price"`
		Available    bool    `json:"available"`
	} `json:"offerings"`
}

func instanceTypesJSON(t *testing.T, args ...string) map[string]instanceTypeOutput {
	t.Helper()
	code, stdout, stderr := runAgainst(t, append([]string{"instance-types", "-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var list []instanceTypeOutput
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("decoding output: %v\n%s", err, stdout[:min(len(stdout), 500)])
	}
	out := map[string]instanceTypeOutput{}
	for _, it := range list {
		out[it.Name] = it
	}
	return out
}

func TestInstanceTypes_JSONAgainstAWSim(t *testing.T) {
	srv := startAWSim(t)
	all := instanceTypesJSON(t, "--region", "us-east-1", "--endpoint", srv.URL, "--ami-family", "AL2023")
	if len(all) < 1000 {
		t.Errorf("%d instance types, want the whole catalog", len(all))
	}
	m5 := all["m5.large"]
	// m5.large on AL2023: 29 pods (3 ENIs × 9 + 2); memory 8192 − 615 = 7577Mi; overhead is
	// kube-reserved (70m, 574Mi, 1Gi) plus eviction (100Mi, 2Gi).
	want := instanceTypeOutput{Name: "m5.large",
		Capacity:    map[string]string{"cpu": "2", "memory": "7577Mi", "ephemeral-storage": "20Gi", "pods": "29"},
		Overhead:    map[string]string{"cpu": "70m", "memory": "674Mi", "ephemeral-storage": "3Gi"},
		Allocatable: map[string]string{"cpu": "1930m", "memory": "6903Mi", "ephemeral-storage": "17Gi", "pods": "29"},
	}
	if diff := cmp.Diff(want, m5, cmp.FilterPath(func(p cmp.Path) bool {
		return p.String() == "Offerings" || p.String() == "Labels"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("m5.large (-want +got):\n%s", diff)
	}
	if m5.Labels["karpenter.k8s.aws/instance-family"] != "m5" || m5.Labels["kubernetes.io/arch"] != "amd64" {
		t.Errorf("m5.large labels %v", m5.Labels)
	}
	var onDemand, spot int
	for _, o := range m5.Offerings {
		switch {
		case o.CapacityType == "on-demand" && o.Price == 0.096:
			onDemand++
		case o.CapacityType == "spot" && o.Price > 0 && o.Price < 0.096:
			spot++
		default:
			t.Errorf("offering %+v", o)
		}
		if !o.Available || !strings.HasPrefix(o.Zone, "us-east-1") {
			t.Errorf("offering %+v", o)
		}
	}
	if onDemand < 2 || spot != onDemand {
		t.Errorf("m5.large has %d on-demand and %d spot offerings", onDemand, spot)
	}
}

func TestInstanceTypes_MaxPodsAndWindows(t *testing.T) {
	srv := startAWSim(t)
	m5 := instanceTypesJSON(t, "--region", "us-east-1", "--endpoint", srv.URL, "--max-pods", "110", "--isolated-vpc")["m5.large"]
	if m5.Capacity["pods"] != "110" || m5.Overhead["memory"] != "674Mi" {
		t.Errorf("AL2 with max pods 110: capacity %v overhead %v; want 110 pods and kube-reserved from the ENI limit", m5.Capacity, m5.Overhead)
	}
	win := instanceTypesJSON(t, "--region", "us-east-1", "--endpoint", srv.URL, "--ami-family", "Windows2022")
	if _, ok := win["m6g.large"]; ok {
		t.Error("Windows2022 lists a Graviton type")
	}
	// 110 pods; kube-reserved 11 × 110 + 255 = 1465Mi, plus 100Mi eviction.
	if got := win["m5.large"]; got.Capacity["pods"] != "110" || got.Overhead["memory"] != "1565Mi" || got.Capacity["ephemeral-storage"] != "50Gi" {
		t.Errorf("Windows2022 m5.large: capacity %v overhead %v", got.Capacity, got.Overhead)
	}
}

func TestInstanceTypes_Table(t *testing.T) {
	srv := startAWSim(t)
	code, stdout, stderr := runAgainst(t, "instance-types", "--region", "us-east-1", "--endpoint", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(stdout, "\n")
	if !strings.HasPrefix(lines[0], "NAME") {
		t.Errorf("header %q", lines[0])
	}
	var g5 string
	for _, l := range lines {
		if strings.HasPrefix(l, "g5.xlarge ") {
			g5 = l
		}
	}
	for _, want := range []string{"15155Mi", "14162Mi", "nvidia.com/gpu=1", "1.0060"} {
		if !strings.Contains(g5, want) {
			t.Errorf("g5.xlarge row %q lacks %q", g5, want)
		}
	}
}

func TestInstanceTypes_BadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"instance-types", "-o", "yaml"},
		{"instance-types", "--ami-family", "Gentoo"},
		{"instance-types", "--max-pods", "-3"},
		{"instance-types", "extra"},
	} {
		code, _, stderr := runAgainst(t, args...)
		if code != 2 || !strings.Contains(stderr, "kerfctl instance-types") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

func TestInstanceTypes_HelpExitsZero(t *testing.T) {
	code, _, stderr := runAgainst(t, "instance-types", "--help")
	if code != 0 || !strings.Contains(stderr, "--ami-family") && !strings.Contains(stderr, "-ami-family") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
