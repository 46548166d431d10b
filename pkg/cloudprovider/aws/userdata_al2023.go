package aws

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// al2023Bootstrap writes a nodeadm NodeConfig into a MIME archive after the user's parts.
// nodeadm merges every NodeConfig it finds in order, so the cluster facts, labels and taints
// Kerf owns are written last and win.
type al2023Bootstrap struct{ BootstrapOptions }

type nodeConfig struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Spec       nodeConfigSpec `json:"spec"`
}

type nodeConfigSpec struct {
	Cluster nodeConfigCluster `json:"cluster"`
	Kubelet nodeConfigKubelet `json:"kubelet"`
}

type nodeConfigCluster struct {
	Name                 string `json:"name"`
	APIServerEndpoint    string `json:"apiServerEndpoint"`
	CertificateAuthority string `json:"certificateAuthority"`
	CIDR                 string `json:"cidr,omitempty"`
}

type nodeConfigKubelet struct {
	Config map[string]any `json:"config,omitempty"`
	Flags  []string       `json:"flags,omitempty"`
}

func (b al2023Bootstrap) UserData() (string, error) {
	config := map[string]any{}
	if taints := b.Taints; len(taints) > 0 {
		config["registerWithTaints"] = dedupTaints(taints)
	}
	if k := b.Kubelet; k != nil {
		set := func(key string, present bool, v any) {
			if present {
				config[key] = v
			}
		}
		set("maxPods", k.MaxPods != nil, k.MaxPods)
		set("podsPerCore", k.PodsPerCore != nil, k.PodsPerCore)
		set("clusterDNS", len(k.ClusterDNS) > 0, k.ClusterDNS)
		set("systemReserved", len(k.SystemReserved) > 0, quantityStrings(k.SystemReserved))
		set("kubeReserved", len(k.KubeReserved) > 0, quantityStrings(k.KubeReserved))
		set("evictionHard", len(k.EvictionHard) > 0, k.EvictionHard)
		set("evictionSoft", len(k.EvictionSoft) > 0, k.EvictionSoft)
		if len(k.EvictionSoftGracePeriod) > 0 {
			periods := map[string]string{}
			for sig, d := range k.EvictionSoftGracePeriod {
				periods[sig] = d.Duration.String()
			}
			config["evictionSoftGracePeriod"] = periods
		}
		set("evictionMaxPodGracePeriod", k.EvictionMaxPodGracePeriod != nil, k.EvictionMaxPodGracePeriod)
		set("imageGCHighThresholdPercent", k.ImageGCHighThresholdPercent != nil, k.ImageGCHighThresholdPercent)
		set("imageGCLowThresholdPercent", k.ImageGCLowThresholdPercent != nil, k.ImageGCLowThresholdPercent)
		set("cpuCFSQuota", k.CPUCFSQuota != nil, k.CPUCFSQuota)
	}
	nc := nodeConfig{APIVersion: "node.eks.aws/v1alpha1", Kind: "NodeConfig", Spec: nodeConfigSpec{
		Cluster: nodeConfigCluster{Name: b.ClusterName, APIServerEndpoint: b.ClusterEndpoint, CertificateAuthority: b.CABundle, CIDR: b.ClusterCIDR},
		Kubelet: nodeConfigKubelet{Config: config},
	}}
	if labels := nodeLabels(b.Labels); len(labels) > 0 {
		nc.Spec.Kubelet.Flags = []string{"--node-labels=" + strings.Join(labels, ",")}
	}
	doc, err := yaml.Marshal(nc)
	if err != nil {
		return "", fmt.Errorf("rendering NodeConfig, %w", err)
	}
	userContentType := "text/x-shellscript"
	if b.CustomUserData != nil && strings.Contains(*b.CustomUserData, "kind: NodeConfig") {
		userContentType = "application/node.eks.aws"
	}
	parts, err := userParts(b.CustomUserData, userContentType)
	if err != nil {
		return "", err
	}
	return mimeArchive(append(parts, mimePart{contentType: "application/node.eks.aws", body: "---\n" + string(doc)}))
}

// dedupTaints keeps the first of taints that share key, value and effect.
func dedupTaints(taints []corev1.Taint) []corev1.Taint {
	seen := map[string]bool{}
	var out []corev1.Taint
	for _, t := range taints {
		k := t.Key + "=" + t.Value + ":" + string(t.Effect)
		if !seen[k] {
			seen[k] = true
			out = append(out, corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
		}
	}
	return out
}

func quantityStrings(list corev1.ResourceList) map[string]string {
	out := map[string]string{}
	for name, q := range list {
		out[string(name)] = q.String()
	}
	return out
}
