package operator

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseOptions_DefaultsEnvironmentAndFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want func(*Options)
	}{
		{name: "defaults", args: []string{"--cluster-name=c"}},
		{name: "environment fills in", env: map[string]string{"CLUSTER_NAME": "c", "BATCH_IDLE_DURATION": "2s", "LEADER_ELECT": "false", "ISOLATED_VPC": "true", "KUBE_CLIENT_QPS": "50.5"},
			want: func(o *Options) {
				o.BatchIdleDuration, o.LeaderElection, o.IsolatedVPC, o.KubeClientQPS = 2*time.Second, false, true, 50.5
			}},
		{name: "a flag beats the environment", args: []string{"--batch-max-duration=30s", "--leader-elect"}, env: map[string]string{"CLUSTER_NAME": "c", "BATCH_MAX_DURATION": "20s", "LEADER_ELECT": "false"},
			want: func(o *Options) { o.BatchMaxDuration = 30 * time.Second }},
		{name: "registration TTL and GC grace from the environment", env: map[string]string{"CLUSTER_NAME": "c", "REGISTRATION_TTL": "20m", "GC_GRACE_PERIOD": "90s"},
			want: func(o *Options) { o.RegistrationTTL, o.GCGracePeriod = 20*time.Minute, 90*time.Second }},
		{name: "registration TTL flag", args: []string{"--cluster-name=c", "--registration-ttl=5m"},
			want: func(o *Options) { o.RegistrationTTL = 5 * time.Minute }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOptions(tc.args, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			want := &Options{
				ClusterName: "c", BatchIdleDuration: time.Second, BatchMaxDuration: 10 * time.Second,
				RegistrationTTL: 15 * time.Minute, GCGracePeriod: 5 * time.Minute, BatchOpenTimeout: 30 * time.Second,
				LeaderElection: true, LeaderElectionNamespace: "kube-system", MetricsPort: 8000, HealthProbePort: 8081,
				LogLevel: "info", KubeClientQPS: 200, KubeClientBurst: 300, VMMemoryOverheadPercent: 0.075,
				ENILimitedPodDensity: true, AssumeRoleDuration: 15 * time.Minute, NodeNameConvention: NodeNameIP,
			}
			if tc.want != nil {
				tc.want(want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseOptions_BadValuesNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "missing cluster name", want: "--cluster-name: required"},
		{name: "unparseable duration", args: []string{"--cluster-name=c", "--batch-idle-duration=soon"}, want: "batch-idle-duration"},
		{name: "unparseable environment", args: []string{"--cluster-name=c"}, env: map[string]string{"METRICS_PORT": "eighty"}, want: "METRICS_PORT for --metrics-port"},
		{name: "max shorter than idle", args: []string{"--cluster-name=c", "--batch-idle-duration=5s", "--batch-max-duration=2s"}, want: "--batch-max-duration: 2s must be at least"},
		{name: "endpoint not https", args: []string{"--cluster-name=c", "--cluster-endpoint=http://x"}, want: "--cluster-endpoint"},
		{name: "region misspelt", args: []string{"--cluster-name=c", "--aws-region=us-east1"}, want: `--aws-region: "us-east1" is not an AWS region`},
		{name: "instance profile given as an ARN", args: []string{"--cluster-name=c", "--default-instance-profile=arn:aws:iam::123456789012:instance-profile/Nodes"}, want: `--default-instance-profile: "arn:aws:iam::123456789012:instance-profile/Nodes" is not an IAM instance profile name`},
		{name: "service CIDR without its prefix", args: []string{"--cluster-name=c", "--cluster-cidr=10.100.0.0"}, want: `--cluster-cidr: "10.100.0.0" is not a CIDR`},
		{name: "port out of range", args: []string{"--cluster-name=c", "--metrics-port=70000"}, want: "--metrics-port: 70000 is not a port"},
		{name: "ports collide", args: []string{"--cluster-name=c", "--metrics-port=8081"}, want: "--health-probe-port: 8081 is also --metrics-port"},
		{name: "unknown log level", args: []string{"--cluster-name=c", "--log-level=loud"}, want: `--log-level: "loud" is not one of`},
		{name: "zero qps", args: []string{"--cluster-name=c", "--kube-client-qps=0"}, want: "--kube-client-qps"},
		{name: "overhead of one", args: []string{"--cluster-name=c", "--vm-memory-overhead-percent=1"}, want: "--vm-memory-overhead-percent"},
		{name: "zero registration TTL", args: []string{"--cluster-name=c", "--registration-ttl=0s"}, want: "--registration-ttl: 0s must be positive"},
		{name: "negative registration TTL from the environment", args: []string{"--cluster-name=c"}, env: map[string]string{"REGISTRATION_TTL": "-1m"}, want: "--registration-ttl: -1m0s must be positive"},
		{name: "zero GC grace period", args: []string{"--cluster-name=c", "--gc-grace-period=0s"}, want: "--gc-grace-period: 0s must be positive"},
		{name: "no lease namespace", args: []string{"--cluster-name=c", "--leader-election-namespace="}, want: "--leader-election-namespace: required"},
		{name: "unknown flag", args: []string{"--cluster-name=c", "--turbo"}, want: "flag provided but not defined: -turbo"},
		{name: "stray argument", args: []string{"--cluster-name=c", "now"}, want: `unexpected argument "now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOptions(tc.args, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Karpenter v0.31 users keep their karpenter-global-settings ConfigMap: its keys are read below
// flags and the environment, and a bad or unknown key is refused naming the key.
func TestParseOptionsWithSettings_ReadsKarpentersConfigMap(t *testing.T) {
	v031 := map[string]string{
		"aws.clusterName": "demo", "aws.defaultInstanceProfile": "KarpenterNodeInstanceProfile-demo",
		"aws.interruptionQueueName": "demo", "aws.enablePodENI": "true", "aws.enableENILimitedPodDensity": "false",
		"aws.reservedENIs": "1", "aws.tags": `{"team":"payments"}`, "aws.assumeRoleARN": "arn:aws:iam::111122223333:role/Kerf",
		"aws.assumeRoleDuration": "1h", "aws.nodeNameConvention": "resource-name", "aws.isolatedVPC": "true",
		"aws.vmMemoryOverheadPercent": "0.05", "batchMaxDuration": "20s", "batchIdleDuration": "2s", "featureGates.driftEnabled": "true",
	}
	got, err := ParseOptionsWithSettings([]string{"--batch-idle-duration=3s"}, env(map[string]string{"INTERRUPTION_QUEUE": "from-env"}), v031)
	if err != nil {
		t.Fatal(err)
	}
	want := Options{ClusterName: "demo", DefaultInstanceProfile: "KarpenterNodeInstanceProfile-demo", InterruptionQueue: "from-env",
		EnablePodENI: true, ReservedENIs: 1, Tags: map[string]string{"team": "payments"}, AssumeRoleARN: "arn:aws:iam::111122223333:role/Kerf",
		AssumeRoleDuration: time.Hour, NodeNameConvention: NodeNameResource, IsolatedVPC: true, VMMemoryOverheadPercent: 0.05,
		BatchMaxDuration: 20 * time.Second, BatchIdleDuration: 3 * time.Second, DriftEnabled: true}
	have := Options{ClusterName: got.ClusterName, DefaultInstanceProfile: got.DefaultInstanceProfile, InterruptionQueue: got.InterruptionQueue,
		EnablePodENI: got.EnablePodENI, ENILimitedPodDensity: got.ENILimitedPodDensity, ReservedENIs: got.ReservedENIs, Tags: got.Tags,
		AssumeRoleARN: got.AssumeRoleARN, AssumeRoleDuration: got.AssumeRoleDuration, NodeNameConvention: got.NodeNameConvention,
		IsolatedVPC: got.IsolatedVPC, VMMemoryOverheadPercent: got.VMMemoryOverheadPercent, BatchMaxDuration: got.BatchMaxDuration,
		BatchIdleDuration: got.BatchIdleDuration, DriftEnabled: got.DriftEnabled}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{name: "unparseable value", settings: map[string]string{"aws.clusterName": "c", "aws.reservedENIs": "two"},
			want: "invalid ConfigMap karpenter-global-settings key aws.reservedENIs for --reserved-enis"},
		{name: "misspelt key", settings: map[string]string{"aws.clusterName": "c", "aws.clustername": "c"},
			want: "ConfigMap karpenter-global-settings: unknown keys aws.clustername"},
		{name: "tags not JSON", settings: map[string]string{"aws.clusterName": "c", "aws.tags": "team=a"},
			want: "key aws.tags for --tags: want a JSON object"},
		{name: "reserved tag prefix", settings: map[string]string{"aws.clusterName": "c", "aws.tags": `{"aws:team":"a"}`},
			want: "--tags: key \"aws:team\": the aws: prefix is reserved"},
		{name: "role given by name", settings: map[string]string{"aws.clusterName": "c", "aws.assumeRoleARN": "Kerf"},
			want: `--assume-role-arn: "Kerf" is not an IAM role ARN`},
		{name: "session too short for STS", settings: map[string]string{"aws.clusterName": "c", "aws.assumeRoleDuration": "5m"},
			want: "--assume-role-duration: 5m0s must be between 15m and 12h"},
		{name: "unknown naming", settings: map[string]string{"aws.clusterName": "c", "aws.nodeNameConvention": "instance-id"},
			want: `--node-name-convention: "instance-id" is not ip-name or resource-name`},
		{name: "negative reserved ENIs", settings: map[string]string{"aws.clusterName": "c", "aws.reservedENIs": "-1"},
			want: "--reserved-enis: -1 must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOptionsWithSettings(nil, env(nil), tc.settings)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
