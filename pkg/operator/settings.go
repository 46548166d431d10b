package operator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// GlobalSettingsConfigMap is where Karpenter v0.31 kept its settings, in its own namespace; its
// chart rendered it from the values' settings, and Kerf's chart does the same.
const GlobalSettingsConfigMap = "karpenter-global-settings"

// ErrSettingsChanged stops the controller when the ConfigMap changes, so it starts again with
// the new settings rather than run with half of them applied.
var ErrSettingsChanged = errors.New("the " + GlobalSettingsConfigMap + " ConfigMap changed")

// globalSettingsKeys maps every key Karpenter v0.31 read from the ConfigMap to the environment
// variable of the same option.
func globalSettingsKeys() map[string]string {
	return map[string]string{
		"batchMaxDuration":               "BATCH_MAX_DURATION",
		"batchIdleDuration":              "BATCH_IDLE_DURATION",
		"featureGates.driftEnabled":      "DRIFT_ENABLED",
		"aws.clusterName":                "CLUSTER_NAME",
		"aws.clusterEndpoint":            "CLUSTER_ENDPOINT",
		"aws.defaultInstanceProfile":     "DEFAULT_INSTANCE_PROFILE",
		"aws.enablePodENI":               "ENABLE_POD_ENI",
		"aws.enableENILimitedPodDensity": "ENABLE_ENI_LIMITED_POD_DENSITY",
		"aws.isolatedVPC":                "ISOLATED_VPC",
		"aws.vmMemoryOverheadPercent":    "VM_MEMORY_OVERHEAD_PERCENT",
		"aws.interruptionQueueName":      "INTERRUPTION_QUEUE",
		"aws.tags":                       "TAGS",
		"aws.reservedENIs":               "RESERVED_ENIS",
		"aws.assumeRoleARN":              "ASSUME_ROLE_ARN",
		"aws.assumeRoleDuration":         "ASSUME_ROLE_DURATION",
		"aws.nodeNameConvention":         "NODE_NAME_CONVENTION",
	}
}

// LoadOptions reads the options as ParseOptions does, with the karpenter-global-settings
// ConfigMap in the controller's namespace (--leader-election-namespace) below flags and the
// environment. It returns the ConfigMap's data too (nil when there is none), which
// WatchGlobalSettings compares with later.
func LoadOptions(ctx context.Context, args []string, getenv func(string) string) (*Options, map[string]string, error) {
	pre, err := parseOptions(args, getenv, nil)
	if err != nil {
		return nil, nil, err
	}
	settings, err := readGlobalSettings(ctx, pre)
	if err != nil {
		// Whatever else is wrong is worth saying too: a missing --cluster-name the ConfigMap was
		// meant to give, or a bad flag it could not have mended.
		return nil, nil, errors.Join(pre.Validate(), err)
	}
	o, err := ParseOptionsWithSettings(args, getenv, settings)
	return o, settings, err
}

// readGlobalSettings returns the ConfigMap's data; nil when there is none.
func readGlobalSettings(ctx context.Context, o *Options) (map[string]string, error) {
	config, err := RESTConfig(o)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("building kubernetes client, %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cm, err := kube.CoreV1().ConfigMaps(o.LeaderElectionNamespace).Get(ctx, GlobalSettingsConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s/%s, %w", o.LeaderElectionNamespace, GlobalSettingsConfigMap, err)
	}
	return cm.Data, nil
}

// settingsWatcher stops the controller when the ConfigMap's data differs from what it started with.
type settingsWatcher struct {
	reader   client.Reader
	key      types.NamespacedName
	loaded   map[string]string
	clock    clock.WithTicker
	interval time.Duration
	log      logr.Logger
}

// WatchGlobalSettings makes every replica, leader or not, return ErrSettingsChanged from Start
// once the karpenter-global-settings ConfigMap's data is no longer loaded (a helm upgrade rolls
// the pods anyway; this covers kubectl edit, as v0.31 applied such edits).
func (o *Operator) WatchGlobalSettings(loaded map[string]string) error {
	return o.Add(&settingsWatcher{
		reader: o.GetAPIReader(), key: types.NamespacedName{Namespace: o.Options.LeaderElectionNamespace, Name: GlobalSettingsConfigMap},
		loaded: loaded, clock: o.Clock, interval: 10 * time.Second, log: o.GetLogger().WithName("settings"),
	})
}

// NeedLeaderElection is false: a standby replica must restart with new settings too.
func (w *settingsWatcher) NeedLeaderElection() bool { return false }

// Start polls with a GET (needing no list or watch permission on ConfigMaps) until the data changes.
func (w *settingsWatcher) Start(ctx context.Context) error {
	ticker := w.clock.NewTicker(w.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
		cm := &corev1.ConfigMap{}
		err := w.reader.Get(ctx, w.key, cm)
		switch {
		case apierrors.IsNotFound(err):
			cm.Data = nil
		case err != nil:
			w.log.Info("reading settings failed; trying again", "configMap", w.key.String(), "error", err.Error())
			continue
		}
		if !maps.Equal(cm.Data, w.loaded) {
			w.log.Info("settings changed; stopping to start again with them", "configMap", w.key.String())
			return ErrSettingsChanged
		}
	}
}
