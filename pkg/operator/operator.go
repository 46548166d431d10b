package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kerf-autoscaler/kerf/pkg/apis"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
)

// LeaderElectionID names the Lease the replicas contend for.
const LeaderElectionID = "kerf-leader-election"

// Version is the release, set at build time with -ldflags "-X ...operator.Version=v0.1.0".
var Version = "dev"

// Operator holds what every controller shares. Controllers receive the parts they need.
type Operator struct {
	manager.Manager
	Options  *Options
	Clock    clock.WithTicker
	Registry prometheus.Registerer
	Scheme   *runtime.Scheme
	// Unavailable is the one record of offerings that ran out of capacity: the cloud provider
	// adds the pools a launch found empty, the lifecycle controller those of failed launches, and
	// every Snapshot leaves them out.
	Unavailable *lifecycle.UnavailableOfferingsCache
}

// NewLogger returns a JSON logger at the given level (debug, info or error).
func NewLogger(level string, w io.Writer) logr.Logger {
	levels := map[string]zapcore.Level{"debug": zapcore.DebugLevel, "info": zapcore.InfoLevel, "error": zapcore.ErrorLevel}
	return zap.New(zap.UseDevMode(false), zap.WriteTo(w), zap.Level(levels[level]), zap.JSONEncoder(func(c *zapcore.EncoderConfig) {
		c.TimeKey, c.EncodeTime = "time", zapcore.ISO8601TimeEncoder
	}))
}

// RESTConfig loads the kubeconfig the options name, else the in-cluster or default configuration,
// and applies the client rate limits.
func RESTConfig(o *Options) (*rest.Config, error) {
	var config *rest.Config
	var err error
	if o.Kubeconfig != "" {
		config, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	} else {
		config, err = ctrl.GetConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("loading kubernetes client configuration, %w", err)
	}
	config.QPS, config.Burst = float32(o.KubeClientQPS), o.KubeClientBurst
	config.UserAgent = "kerf/" + Version
	return config, nil
}

// New builds the manager: leader election on a Lease that is released on shutdown, metrics and
// health endpoints, Kerf's own scheme. adjust may change the manager's options; tests that run
// one operator after another in a process use it.
func New(o *Options, config *rest.Config, log logr.Logger, adjust ...func(*ctrl.Options)) (*Operator, error) {
	scheme, err := apis.NewScheme()
	if err != nil {
		return nil, err
	}
	// Exit well inside the 30 s a kubelet gives a pod, so a rollout hands over the lease quickly.
	gracefulShutdown := 5 * time.Second
	mgrOpts := ctrl.Options{
		Scheme:                        scheme,
		Logger:                        log,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionResourceLock:    "leases",
		LeaderElectionReleaseOnCancel: true,
		Metrics:                       metricsserver.Options{BindAddress: net.JoinHostPort("", strconv.Itoa(o.MetricsPort))},
		HealthProbeBindAddress:        net.JoinHostPort("", strconv.Itoa(o.HealthProbePort)),
		GracefulShutdownTimeout:       &gracefulShutdown,
		BaseContext:                   func() context.Context { return logr.NewContext(context.Background(), log) },
	}
	for _, f := range adjust {
		f(&mgrOpts)
	}
	mgr, err := ctrl.NewManager(config, mgrOpts)
	if err != nil {
		return nil, fmt.Errorf("creating manager, %w", err)
	}
	if err := errors.Join(mgr.AddHealthzCheck("ping", healthz.Ping), mgr.AddReadyzCheck("ping", healthz.Ping)); err != nil {
		return nil, fmt.Errorf("adding health checks, %w", err)
	}
	clk := clock.RealClock{}
	op := &Operator{Manager: mgr, Options: o, Clock: clk, Registry: crmetrics.Registry, Scheme: scheme,
		Unavailable: lifecycle.NewUnavailableOfferingsCache(clk)}
	if err := op.registerBuildInfo(); err != nil {
		return nil, err
	}
	return op, nil
}

// registerBuildInfo publishes karpenter_build_info so dashboards can tell which release runs.
func (o *Operator) registerBuildInfo() error {
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "karpenter_build_info",
		Help:        "Kerf's release; always 1.",
		ConstLabels: prometheus.Labels{"version": Version},
	})
	info.Set(1)
	// A second Operator in one process (tests) finds the identical gauge already published.
	if err := o.Registry.Register(info); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		return fmt.Errorf("registering build info metric, %w", err)
	}
	return nil
}
