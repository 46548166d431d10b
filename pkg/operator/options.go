package operator

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

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
	Kubeconfig              string
}

// option describes one flag: its environment variable, default and where it lands.
type option struct {
	flag, env, usage string
	register         registrar
}

// registrar adds one flag to fs, defaulting from the environment variable's value env.
type registrar func(fs *flag.FlagSet, name, usage string, o *Options, env string) error

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
	o := &Options{}
	fs := flag.NewFlagSet("kerf-controller", flag.ContinueOnError)
	fs.SetOutput(discard{})
	for _, opt := range options() {
		usage := fmt.Sprintf("%s (env %s)", opt.usage, opt.env)
		if err := opt.register(fs, opt.flag, usage, o, getenv(opt.env)); err != nil {
			return nil, fmt.Errorf("invalid environment variable %s for --%s: %w", opt.env, opt.flag, err)
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, o.Validate()
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
	return errors.Join(errs...)
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

func floatOpt(field func(*Options) *float64, def float64) registrar {
	return bind(field, def, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// regionPattern matches region names: us-east-1, ap-southeast-4, us-gov-west-1, eu-isoe-west-1.
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// ValidRegion reports whether region is shaped like an AWS region name.
func ValidRegion(region string) bool { return regionPattern.MatchString(region) }
