package aws

import (
	"bytes"
	"fmt"

	"github.com/BurntSushi/toml"
)

// bottlerocketBootstrap merges Kerf's settings.kubernetes into the user's TOML: the cluster
// facts, max pods and reserved resources Kerf sets replace the user's, labels and taints are
// added to the user's.
type bottlerocketBootstrap struct{ BootstrapOptions }

func (b bottlerocketBootstrap) UserData() (string, error) {
	doc := map[string]any{}
	if b.CustomUserData != nil {
		if _, err := toml.Decode(*b.CustomUserData, &doc); err != nil {
			return "", fmt.Errorf("parsing Bottlerocket user data as TOML, %w", err)
		}
	}
	settings, err := tomlTable(doc, "settings")
	if err != nil {
		return "", err
	}
	k8s, err := tomlTable(settings, "kubernetes")
	if err != nil {
		return "", err
	}
	k8s["cluster-name"] = b.ClusterName
	k8s["api-server"] = b.ClusterEndpoint
	k8s["cluster-certificate"] = b.CABundle
	labels, err := tomlTable(k8s, "node-labels")
	if err != nil {
		return "", err
	}
	for k, v := range b.Labels {
		if kubeletMaySet(k) {
			labels[k] = v
		}
	}
	if len(labels) == 0 {
		delete(k8s, "node-labels")
	}
	if len(b.Taints) > 0 {
		taints, err := tomlTable(k8s, "node-taints")
		if err != nil {
			return "", err
		}
		// Bottlerocket groups taints by key: key = ["value:Effect", ...].
		for _, t := range dedupTaints(b.Taints) {
			existing, _ := taints[t.Key].([]any)
			taints[t.Key] = append(existing, t.Value+":"+string(t.Effect))
		}
	}
	if k := b.Kubelet; k != nil {
		if k.MaxPods != nil {
			k8s["max-pods"] = int64(*k.MaxPods)
		}
		if len(k.ClusterDNS) > 0 {
			k8s["cluster-dns-ip"] = k.ClusterDNS[0]
		}
		if len(k.SystemReserved) > 0 {
			k8s["system-reserved"] = quantityStrings(k.SystemReserved)
		}
		if len(k.KubeReserved) > 0 {
			k8s["kube-reserved"] = quantityStrings(k.KubeReserved)
		}
		if len(k.EvictionHard) > 0 {
			k8s["eviction-hard"] = k.EvictionHard
		}
		if len(k.EvictionSoft) > 0 {
			k8s["eviction-soft"] = k.EvictionSoft
		}
		if len(k.EvictionSoftGracePeriod) > 0 {
			periods := map[string]string{}
			for signal, d := range k.EvictionSoftGracePeriod {
				periods[signal] = d.Duration.String()
			}
			k8s["eviction-soft-grace-period"] = periods
		}
		if k.EvictionMaxPodGracePeriod != nil {
			k8s["eviction-max-pod-grace-period"] = int64(*k.EvictionMaxPodGracePeriod)
		}
		if k.ImageGCHighThresholdPercent != nil {
			k8s["image-gc-high-threshold-percent"] = int64(*k.ImageGCHighThresholdPercent)
		}
		if k.ImageGCLowThresholdPercent != nil {
			k8s["image-gc-low-threshold-percent"] = int64(*k.ImageGCLowThresholdPercent)
		}
		if k.CPUCFSQuota != nil {
			k8s["cpu-cfs-quota-enforced"] = *k.CPUCFSQuota
		}
	}
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.Indent = "" // flat, as Bottlerocket's documentation writes settings
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("rendering Bottlerocket user data, %w", err)
	}
	return buf.String(), nil
}

// tomlTable returns parent[key] as a table, creating it when absent.
func tomlTable(parent map[string]any, key string) (map[string]any, error) {
	switch v := parent[key].(type) {
	case nil:
		t := map[string]any{}
		parent[key] = t
		return t, nil
	case map[string]any:
		return v, nil
	default:
		return nil, fmt.Errorf("parsing Bottlerocket user data, %s is a %T, not a table", key, v)
	}
}
