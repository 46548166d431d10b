package operator

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
)

// Options configure the controller. Every field is a flag with an environment-variable fallback;
// the Helm chart sets the environment variables.
type Options struct {
	ClusterName             string
	ClusterEndpoint         string
	ClusterCIDR             string
	AWSRegion               string
	DefaultInstanceProfile  string
	InterruptionQueue       string
	DrainOnRebalance        bool
	DriftEnabled            bool
	ExpiryJitter            time.Duration
	SpotToSpotConsolidation bool
	BatchIdleDuration       time.Duration
	BatchMaxDuration        time.Duration
	RegistrationTTL         time.Duration
	BatchOpenTimeout        time.Duration
	GCGracePeriod           time.Duration
	LeaderElection          bool
	LeaderElectionNamespace string
	MetricsPort             int
	HealthProbePort         int
	LogLevel                string
	KubeClientQPS           float64
	KubeClientBurst         int
	VMMemoryOverheadPercent float64
	IsolatedVPC             bool
	// EnablePodENI advertises vpc.amazonaws.com/pod-eni on instance types with branch interfaces,
	// for security groups for pods (the VPC CNI's ENABLE_POD_ENI).
	EnablePodENI bool
	// ENILimitedPodDensity caps a node's pods at what its ENIs can address; off: 110.
	ENILimitedPodDensity bool
	// ReservedENIs are network interfaces the VPC CNI keeps from pods (custom networking).
	ReservedENIs int
	// AssumeRoleARN, when set, is the role Kerf calls AWS as, for AssumeRoleDuration at a time.
	AssumeRoleARN      string
	AssumeRoleDuration time.Duration
	// Tags go on every instance, volume, launch template and fleet Kerf creates; an
	// AWSNodeTemplate's tags win over them.
	Tags map[string]string
	// NodeNameConvention is ip-name (the private DNS name) or resource-name (the instance ID).
	NodeNameConvention string
	Kubeconfig         string
}

// option describes one flag: its environment variable, default and where it lands.
type option struct {
	flag, env, usage string
	register         registrar
}

// registrar adds one flag to fs, defaulting from the environment variable's value env.
type registrar func(fs *flag.FlagSet, name, usage string, o *Options, env string) error

// Node name conventions, as EC2's private DNS hostname types.
const (
	NodeNameIP       = "ip-name"
	NodeNameResource = "resource-name"
)

// logLevels are the accepted --log-level values.
var logLevels = []string{"debug", "info", "error"}

// options lists every flag once; Flags and EnvironmentVariables derive from it so the chart test
// can check that the chart sets only variables the binary reads.
func options() []option {
	return []option{
		{"cluster-name", "CLUSTER_NAME", "name of the EKS cluster; tags and discovery use it (required)", stringOpt(func(o *Options) *string { return &o.ClusterName }, "")},
		{"cluster-endpoint", "CLUSTER_ENDPOINT", "https URL of the cluster's API server that new nodes join; required in a cluster, the kubeconfig's server otherwise", stringOpt(func(o *Options) *string { return &o.ClusterEndpoint }, "")},
		{"cluster-cidr", "CLUSTER_CIDR", "the cluster's Kubernetes service CIDR, which AL2023 nodes need to join; EKS's DescribeCluster answers when empty", stringOpt(func(o *Options) *string { return &o.ClusterCIDR }, "")},
		{"aws-region", "AWS_REGION", "AWS region; the SDK's default chain when empty", stringOpt(func(o *Options) *string { return &o.AWSRegion }, "")},
		{"default-instance-profile", "DEFAULT_INSTANCE_PROFILE", "IAM instance profile of the nodes whose AWSNodeTemplate names none (Karpenter v0.31's aws.defaultInstanceProfile); without either a launch is refused", stringOpt(func(o *Options) *string { return &o.DefaultInstanceProfile }, "")},
		{"interruption-queue", "INTERRUPTION_QUEUE", "SQS queue (name or URL) receiving EC2 interruption events from EventBridge; nodes it announces are drained before AWS takes them", stringOpt(func(o *Options) *string { return &o.InterruptionQueue }, "")},
		{"drain-on-rebalance-recommendation", "DRAIN_ON_REBALANCE_RECOMMENDATION", "drain a spot node on an EC2 rebalance recommendation, not only on its interruption warning (off: an Event only, as Karpenter v0.31)", boolOpt(func(o *Options) *bool { return &o.DrainOnRebalance }, false)},
		{"drift-enabled", "DRIFT_ENABLED", "replace nodes whose image, security groups, subnet, Provisioner or node template changed since launch (Karpenter v0.31's featureGates.driftEnabled, off by default)", boolOpt(func(o *Options) *bool { return &o.DriftEnabled }, false)},
		{"expiry-jitter", "EXPIRY_JITTER", "let each node expire up to this much before its Provisioner's ttlSecondsUntilExpired, at a point fixed by its name, so nodes launched together are not replaced together (0: off)", durationOpt(func(o *Options) *time.Duration { return &o.ExpiryJitter }, 0)},
		{"spot-to-spot-consolidation", "SPOT_TO_SPOT_CONSOLIDATION", "let consolidation replace a spot node with a cheaper spot node (off: it churns, and the cheapest pool is often the most interrupted)", boolOpt(func(o *Options) *bool { return &o.SpotToSpotConsolidation }, false)},
		{"batch-idle-duration", "BATCH_IDLE_DURATION", "close a batch of pending pods after this long without a new one", durationOpt(func(o *Options) *time.Duration { return &o.BatchIdleDuration }, time.Second)},
		{"batch-max-duration", "BATCH_MAX_DURATION", "close a batch of pending pods after this long in all", durationOpt(func(o *Options) *time.Duration { return &o.BatchMaxDuration }, 10*time.Second)},
		{"batch-open-timeout", "BATCH_OPEN_TIMEOUT", "keep the nodes of one plan closed to pods until all of them can take pods, at most this long after each registers, so the kube-scheduler places the batch as planned (0: open each node once it is ready)", durationOpt(func(o *Options) *time.Duration { return &o.BatchOpenTimeout }, lifecycle.DefaultBatchOpenTimeout)},
		{"registration-ttl", "REGISTRATION_TTL", "delete a launched Machine whose Node has not registered after this long, and terminate its instance", durationOpt(func(o *Options) *time.Duration { return &o.RegistrationTTL }, lifecycle.DefaultRegistrationTTL)},
		{"gc-grace-period", "GC_GRACE_PERIOD", "terminate an instance launched for this cluster that no Machine accounts for once it is this old", durationOpt(func(o *Options) *time.Duration { return &o.GCGracePeriod }, lifecycle.DefaultGarbageCollectionGracePeriod)},
		{"leader-elect", "LEADER_ELECT", "elect one active replica through a Lease", boolOpt(func(o *Options) *bool { return &o.LeaderElection }, true)},
		{"leader-election-namespace", "LEADER_ELECTION_NAMESPACE", "namespace of the leader-election Lease", stringOpt(func(o *Options) *string { return &o.LeaderElectionNamespace }, "kube-system")},
		{"metrics-port", "METRICS_PORT", "port serving Prometheus /metrics", intOpt(func(o *Options) *int { return &o.MetricsPort }, 8000)},
		{"health-probe-port", "HEALTH_PROBE_PORT", "port serving /healthz and /readyz", intOpt(func(o *Options) *int { return &o.HealthProbePort }, 8081)},
		{"log-level", "LOG_LEVEL", "one of " + strings.Join(logLevels, ", "), stringOpt(func(o *Options) *string { return &o.LogLevel }, "info")},
		{"kube-client-qps", "KUBE_CLIENT_QPS", "steady queries per second to the API server", floatOpt(func(o *Options) *float64 { return &o.KubeClientQPS }, 200)},
		{"kube-client-burst", "KUBE_CLIENT_BURST", "burst of queries to the API server", intOpt(func(o *Options) *int { return &o.KubeClientBurst }, 300)},
		{"vm-memory-overhead-percent", "VM_MEMORY_OVERHEAD_PERCENT", "fraction of an instance's memory the hypervisor keeps, in [0, 1)", floatOpt(func(o *Options) *float64 { return &o.VMMemoryOverheadPercent }, 0.075)},
		{"isolated-vpc", "ISOLATED_VPC", "never call the AWS Pricing API; use the embedded price table", boolOpt(func(o *Options) *bool { return &o.IsolatedVPC }, false)},
		{"enable-pod-eni", "ENABLE_POD_ENI", "advertise vpc.amazonaws.com/pod-eni on instance types with branch interfaces, for security groups for pods (turn on with the VPC CNI's ENABLE_POD_ENI)", boolOpt(func(o *Options) *bool { return &o.EnablePodENI }, false)},
		{"enable-eni-limited-pod-density", "ENABLE_ENI_LIMITED_POD_DENSITY", "cap each node's pods at what its network interfaces can address, as the VPC CNI does (off: 110 pods, for prefix delegation)", boolOpt(func(o *Options) *bool { return &o.ENILimitedPodDensity }, true)},
		{"reserved-enis", "RESERVED_ENIS", "network interfaces per node the VPC CNI keeps from pods (custom networking); they are left out of the pod limit", intOpt(func(o *Options) *int { return &o.ReservedENIs }, 0)},
		{"assume-role-arn", "ASSUME_ROLE_ARN", "IAM role to call AWS as; the SDK's credentials assume it", stringOpt(func(o *Options) *string { return &o.AssumeRoleARN }, "")},
		{"assume-role-duration", "ASSUME_ROLE_DURATION", "how long each assumed-role session lasts (15m to 12h)", durationOpt(func(o *Options) *time.Duration { return &o.AssumeRoleDuration }, 15*time.Minute)},
		{"tags", "TAGS", `tags for every instance, volume, launch template and fleet, as a JSON object such as {"team":"a"}; an AWSNodeTemplate's tags win`, tagsOpt(func(o *Options) *map[string]string { return &o.Tags })},
		{"node-name-convention", "NODE_NAME_CONVENTION", "what nodes are named: ip-name (the private DNS name) or resource-name (the instance ID)", stringOpt(func(o *Options) *string { return &o.NodeNameConvention }, NodeNameIP)},
		{"kubeconfig", "KUBECONFIG", "kubeconfig file; in-cluster configuration when empty", stringOpt(func(o *Options) *string { return &o.Kubeconfig }, "")},
	}
}

// EnvironmentVariables maps each flag name to its environment variable.
func EnvironmentVariables() map[string]string {
	out := map[string]string{}
	for _, o := range options() {
		out[o.flag] = o.env
	}
	return out
}

// ParseOptions reads flags from args, falling back to the environment through getenv, then
// validates. Errors name the flag (and the variable when the value came from it).
func ParseOptions(args []string, getenv func(string) string) (*Options, error) {
	return ParseOptionsWithSettings(args, getenv, nil)
}

// ParseOptionsWithSettings is ParseOptions with one more fallback below the environment: the data
// of the karpenter-global-settings ConfigMap (nil: none), Karpenter v0.31's settings.
func ParseOptionsWithSettings(args []string, getenv func(string) string, settings map[string]string) (*Options, error) {
	o, err := parseOptions(args, getenv, settings)
	if err != nil {
		return nil, err
	}
	return o, o.Validate()
}

// parseOptions fills Options from args, then getenv, then settings, without validating them.
func parseOptions(args []string, getenv func(string) string, settings map[string]string) (*Options, error) {
	keys := globalSettingsKeys()
	envKey := map[string]string{}
	for key, env := range keys {
		envKey[env] = key
	}
	var unknown []string
	for key := range settings {
		if _, ok := keys[key]; !ok {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("ConfigMap %s: unknown keys %s (Kerf reads %s)", GlobalSettingsConfigMap,
			strings.Join(unknown, ", "), strings.Join(slices.Sorted(maps.Keys(keys)), ", "))
	}
	o := &Options{}
	fs := flag.NewFlagSet("kerf-controller", flag.ContinueOnError)
	fs.SetOutput(discard{})
	for _, opt := range options() {
		value, source := getenv(opt.env), "environment variable "+opt.env
		if key, ok := envKey[opt.env]; ok && value == "" && settings[key] != "" {
			value, source = settings[key], fmt.Sprintf("ConfigMap %s key %s", GlobalSettingsConfigMap, key)
		}
		usage := fmt.Sprintf("%s (env %s)", opt.usage, opt.env)
		if err := opt.register(fs, opt.flag, usage, o, value); err != nil {
			return nil, fmt.Errorf("invalid %s for --%s: %w", source, opt.flag, err)
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, nil
}

// Usage returns the help text.
func Usage() string {
	var b strings.Builder
	b.WriteString("Usage of kerf-controller:\n")
	for _, opt := range options() {
		fmt.Fprintf(&b, "  --%s (env %s)\n        %s\n", opt.flag, opt.env, opt.usage)
	}
	return b.String()
}

// Validate checks every option and reports every bad one.
func (o *Options) Validate() error {
	var errs []error
	bad := func(flag string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("invalid --%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if o.ClusterName == "" {
		bad("cluster-name", "required")
	}
	if o.ClusterEndpoint != "" {
		if u, err := url.Parse(o.ClusterEndpoint); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("cluster-endpoint", "%q is not an https URL", o.ClusterEndpoint)
		}
	}
	if o.ClusterCIDR != "" {
		if _, _, err := net.ParseCIDR(o.ClusterCIDR); err != nil {
			bad("cluster-cidr", "%q is not a CIDR such as 10.100.0.0/16", o.ClusterCIDR)
		}
	}
	if o.DefaultInstanceProfile != "" && !instanceProfileName.MatchString(o.DefaultInstanceProfile) {
		bad("default-instance-profile", "%q is not an IAM instance profile name (1-128 of letters, digits and +=,.@_-)", o.DefaultInstanceProfile)
	}
	if o.AWSRegion != "" && !ValidRegion(o.AWSRegion) {
		bad("aws-region", "%q is not an AWS region such as us-east-1", o.AWSRegion)
	}
	if o.BatchIdleDuration <= 0 {
		bad("batch-idle-duration", "%s must be positive", o.BatchIdleDuration)
	}
	if o.BatchMaxDuration < o.BatchIdleDuration {
		bad("batch-max-duration", "%s must be at least --batch-idle-duration (%s)", o.BatchMaxDuration, o.BatchIdleDuration)
	}
	if o.ExpiryJitter < 0 {
		bad("expiry-jitter", "%s must not be negative", o.ExpiryJitter)
	}
	if o.BatchOpenTimeout < 0 {
		bad("batch-open-timeout", "%s must not be negative", o.BatchOpenTimeout)
	}
	if o.RegistrationTTL <= 0 {
		bad("registration-ttl", "%s must be positive", o.RegistrationTTL)
	}
	if o.GCGracePeriod <= 0 {
		bad("gc-grace-period", "%s must be positive", o.GCGracePeriod)
	}
	if o.LeaderElection && o.LeaderElectionNamespace == "" {
		bad("leader-election-namespace", "required when --leader-elect is true")
	}
	for _, p := range []struct {
		flag string
		port int
	}{{"metrics-port", o.MetricsPort}, {"health-probe-port", o.HealthProbePort}} {
		if p.port < 1 || p.port > 65535 {
			bad(p.flag, "%d is not a port (1-65535)", p.port)
		}
	}
	if o.MetricsPort == o.HealthProbePort {
		bad("health-probe-port", "%d is also --metrics-port", o.HealthProbePort)
	}
	if !contains(logLevels, o.LogLevel) {
		bad("log-level", "%q is not one of %s", o.LogLevel, strings.Join(logLevels, ", "))
	}
	if o.KubeClientQPS <= 0 {
		bad("kube-client-qps", "%v must be positive", o.KubeClientQPS)
	}
	if o.KubeClientBurst < 1 {
		bad("kube-client-burst", "%d must be at least 1", o.KubeClientBurst)
	}
	if o.VMMemoryOverheadPercent < 0 || o.VMMemoryOverheadPercent >= 1 {
		bad("vm-memory-overhead-percent", "%v must be in [0, 1)", o.VMMemoryOverheadPercent)
	}
	if o.ReservedENIs < 0 {
		bad("reserved-enis", "%d must not be negative", o.ReservedENIs)
	}
	if o.AssumeRoleARN != "" && !roleARN.MatchString(o.AssumeRoleARN) {
		bad("assume-role-arn", "%q is not an IAM role ARN such as arn:aws:iam::111122223333:role/Kerf", o.AssumeRoleARN)
	}
	// STS's DurationSeconds range; longer sessions need the role's own maximum raised too.
	if o.AssumeRoleDuration < 15*time.Minute || o.AssumeRoleDuration > 12*time.Hour {
		bad("assume-role-duration", "%s must be between 15m and 12h", o.AssumeRoleDuration)
	}
	for k, v := range o.Tags {
		if err := validTag(k, v); err != nil {
			bad("tags", "%v", err)
		}
	}
	if o.NodeNameConvention != NodeNameIP && o.NodeNameConvention != NodeNameResource {
		bad("node-name-convention", "%q is not %s or %s", o.NodeNameConvention, NodeNameIP, NodeNameResource)
	}
	return errors.Join(errs...)
}

// roleARN matches an IAM role's ARN in any partition.
var roleARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)

// validTag refuses what EC2 would refuse at launch: keys of 1-128 and values of up to 256
// characters, no aws: prefix. Kerf's own tags (cluster ownership, managed-by, the Machine's name)
// are set over these at launch.
func validTag(k, v string) error {
	switch {
	case k == "" || utf8.RuneCountInString(k) > 128:
		return fmt.Errorf("key %q must be 1-128 characters", k)
	case utf8.RuneCountInString(v) > 256:
		return fmt.Errorf("value of %q must be at most 256 characters", k)
	case strings.HasPrefix(strings.ToLower(k), "aws:"):
		return fmt.Errorf("key %q: the aws: prefix is reserved by AWS", k)
	}
	return nil
}

// instanceProfileName is IAM's pattern for an instance profile's name.
var instanceProfileName = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// bind registers a flag whose default is def, or the environment's value when present, so a flag on
// the command line still wins over the environment.
func bind[T any](field func(*Options) *T, def T, parse func(string) (T, error)) registrar {
	return func(fs *flag.FlagSet, name, usage string, o *Options, env string) error {
		p := field(o)
		*p = def
		if env != "" {
			v, err := parse(env)
			if err != nil {
				return err
			}
			*p = v
		}
		set := func(s string) error {
			v, err := parse(s)
			if err == nil {
				*p = v
			}
			return err
		}
		if _, isBool := any(def).(bool); isBool {
			fs.BoolFunc(name, usage, set)
		} else {
			fs.Func(name, usage, set)
		}
		return nil
	}
}

func stringOpt(field func(*Options) *string, def string) registrar {
	return bind(field, def, func(s string) (string, error) { return s, nil })
}

func durationOpt(field func(*Options) *time.Duration, def time.Duration) registrar {
	return bind(field, def, time.ParseDuration)
}

func boolOpt(field func(*Options) *bool, def bool) registrar {
	return bind(field, def, strconv.ParseBool)
}

func intOpt(field func(*Options) *int, def int) registrar {
	return bind(field, def, strconv.Atoi)
}

// tagsOpt reads a JSON object of strings; an empty string is no tags.
func tagsOpt(field func(*Options) *map[string]string) registrar {
	return bind(field, nil, func(s string) (map[string]string, error) {
		var tags map[string]string
		if trimmed := strings.TrimSpace(s); trimmed == "" || trimmed == "null" {
			return nil, nil
		}
		if err := json.Unmarshal([]byte(s), &tags); err != nil {
			return nil, fmt.Errorf(`want a JSON object of strings such as {"team":"a"}, %w`, err)
		}
		return tags, nil
	})
}

func floatOpt(field func(*Options) *float64, def float64) registrar {
	return bind(field, def, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// regionPattern matches region names: us-east-1, ap-southeast-4, us-gov-west-1, eu-isoe-west-1.
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// ValidRegion reports whether region is shaped like an AWS region name.
func ValidRegion(region string) bool { return regionPattern.MatchString(region) }
