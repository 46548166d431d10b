package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/smithy-go/logging"
	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/kerf-autoscaler/kerf/pkg/operator"
	"github.com/kerf-autoscaler/kerf/test/awsim"
)

func TestBootstrapTarget_GivesNodesAnAddressTheyCanReach(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, []byte("service-account-ca"), 0o600); err != nil {
		t.Fatal(err)
	}
	inCluster := &rest.Config{Host: "https://10.100.0.1:443", TLSClientConfig: rest.TLSClientConfig{CAFile: caFile}}
	serviceEnv := map[string]string{"KUBERNETES_SERVICE_HOST": "10.100.0.1"}
	for _, tc := range []struct {
		name         string
		flag         string
		eks          clusterFacts
		config       *rest.Config
		env          map[string]string
		wantEndpoint string
		wantCA       string
		wantErr      string
	}{
		{name: "kubeconfig", config: &rest.Config{Host: "https://api.example.com", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("kubeconfig-ca")}},
			wantEndpoint: "https://api.example.com", wantCA: "kubeconfig-ca"},
		{name: "in cluster with the flag", flag: "https://ABC.gr7.us-east-1.eks.amazonaws.com", config: inCluster, env: serviceEnv,
			wantEndpoint: "https://ABC.gr7.us-east-1.eks.amazonaws.com", wantCA: "service-account-ca"},
		{name: "in cluster without the flag", config: inCluster, env: serviceEnv, wantErr: "--cluster-endpoint (env CLUSTER_ENDPOINT) is required"},
		{name: "in cluster, from EKS", config: inCluster, env: serviceEnv,
			eks:          clusterFacts{endpoint: "https://ABC.gr7.us-east-1.eks.amazonaws.com", caBundle: base64.StdEncoding.EncodeToString([]byte("eks-ca"))},
			wantEndpoint: "https://ABC.gr7.us-east-1.eks.amazonaws.com", wantCA: "eks-ca"},
		{name: "the flag wins over EKS", flag: "https://private.example.com", config: inCluster, env: serviceEnv,
			eks:          clusterFacts{endpoint: "https://ABC.gr7.us-east-1.eks.amazonaws.com", caBundle: base64.StdEncoding.EncodeToString([]byte("eks-ca"))},
			wantEndpoint: "https://private.example.com", wantCA: "service-account-ca"},
		// The Service address 10.0.0.1 is a prefix of the kubeconfig's host, not its host.
		{name: "kubeconfig on a look-alike address", config: &rest.Config{Host: "https://10.0.0.10:6443", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("kubeconfig-ca")}},
			env: map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, wantEndpoint: "https://10.0.0.10:6443", wantCA: "kubeconfig-ca"},
		{name: "no CA", config: &rest.Config{Host: "https://api.example.com"}, wantErr: "names no CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			endpoint, ca, err := bootstrapTarget(&operator.Options{ClusterEndpoint: tc.flag}, tc.config, tc.eks, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if endpoint != tc.wantEndpoint {
				t.Errorf("endpoint %q, want %q", endpoint, tc.wantEndpoint)
			}
			if got, _ := base64.StdEncoding.DecodeString(ca); string(got) != tc.wantCA {
				t.Errorf("CA bundle %q, want %q", got, tc.wantCA)
			}
		})
	}
}

func TestSDKLogger_WritesTheSDKsWarningsAsJSONLogLines(t *testing.T) {
	var out bytes.Buffer
	logger := sdkLogger(operator.NewLogger("info", &out))
	logger.Logf(logging.Warn, "falling back to %s", "IMDSv1")
	logger.Logf(logging.Debug, "request %d", 1) // below the info level: not written

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("logged %d lines, want the warning alone:\n%s", len(lines), out.String())
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatalf("log line is not JSON: %s", lines[0])
	}
	if entry["msg"] != "AWS SDK warning" || entry["message"] != "falling back to IMDSv1" || entry["level"] != "info" {
		t.Errorf("log line %s, want msg %q with the SDK's message", lines[0], "AWS SDK warning")
	}
}

// EKS describes the cluster nodes join — endpoint, CA and the service CIDR AL2023 needs (awsim's
// EKS answers DescribeCluster as EKS does); a cluster EKS does not know leaves every fact empty.
func TestDescribeCluster_WhatEKSSaysOfTheCluster(t *testing.T) {
	srv, err := awsim.Start("127.0.0.1:0", awsim.Options{ClusterName: "kerf-test", ClusterEndpoint: "https://api.example.com", ClusterCA: "Q0E="})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	api := eks.NewFromConfig(srv.AWSConfig())
	for _, tc := range []struct {
		cluster string
		want    clusterFacts
	}{
		{cluster: "kerf-test", want: clusterFacts{endpoint: "https://api.example.com", caBundle: "Q0E=", serviceCIDR: "10.100.0.0/16"}},
		{cluster: "elsewhere", want: clusterFacts{}},
	} {
		if got := describeCluster(context.Background(), logr.Discard(), tc.cluster, api); got != tc.want {
			t.Errorf("cluster %s: %+v, want %+v", tc.cluster, got, tc.want)
		}
	}
}

// With --assume-role-arn every AWS call is made as the role (v0.31's aws.assumeRoleARN); a role
// STS will not hand out stops the first call with STS's reason.
func TestAWSConfig_CallsAWSAsTheAssumedRole(t *testing.T) {
	srv, err := awsim.Start("127.0.0.1:0", awsim.Options{ClusterName: "kerf-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for k, v := range map[string]string{"AWS_ENDPOINT_URL": srv.URL, "AWS_ACCESS_KEY_ID": "AKIDAWSIM", "AWS_SECRET_ACCESS_KEY": "awsim-secret",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none")} {
		t.Setenv(k, v)
	}
	const role = "arn:aws:iam::123456789012:role/KarpenterControllerRole"
	for _, tc := range []struct {
		name     string
		role     string
		duration time.Duration
		wantErr  string
	}{
		{name: "a role of the account", role: role, duration: 15 * time.Minute},
		{name: "a role of another account", role: "arn:aws:iam::999999999999:role/Elsewhere", duration: 15 * time.Minute, wantErr: "not authorized to perform: sts:AssumeRole"},
		{name: "longer than the role allows", role: role, duration: 2 * time.Hour, wantErr: "exceeds the MaxSessionDuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.World.AssumedRoleRequests(tc.role)
			cfg, err := awsConfig(context.Background(), logr.Discard(), &operator.Options{ClusterName: "kerf-test", AWSRegion: "us-east-1",
				AssumeRoleARN: tc.role, AssumeRoleDuration: tc.duration})
			if err != nil {
				t.Fatal(err)
			}
			_, err = ec2.NewFromConfig(cfg).DescribeAvailabilityZones(context.Background(), &ec2.DescribeAvailabilityZonesInput{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := srv.World.AssumedRoleRequests(tc.role) - before; n != 1 {
				t.Errorf("%d EC2 calls made as %s, want 1", n, tc.role)
			}
		})
	}
}
