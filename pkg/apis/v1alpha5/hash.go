package v1alpha5

import (
	"encoding/json"
	"hash/fnv"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// Annotations recording, on a Machine and its Node, which Provisioner static fields it was
// launched with; static drift compares them with the Provisioner as it is now.
const (
	// ProvisionerHashAnnotationKey holds Provisioner.Hash() at launch, under Karpenter v0.31's name.
	ProvisionerHashAnnotationKey = Group + "/provisioner-hash"
	// ProvisionerHashVersionAnnotationKey says which algorithm computed the hash. A Machine that
	// Karpenter launched carries Karpenter's own hash under the same key, computed differently:
	// without this mark Kerf would take every such node for drifted.
	ProvisionerHashVersionAnnotationKey = "kerf.sh/provisioner-hash-version"
	// ProvisionerHashVersion is the version Hash computes. Change it whenever a change to Hash
	// would give an unchanged Provisioner another hash, so existing nodes are not all replaced.
	ProvisionerHashVersion = "v1"
)

// Karpenter v0.31's defaults of an empty providerRef kind and apiVersion.
const (
	defaultProviderRefKind       = "AWSNodeTemplate"
	defaultProviderRefAPIVersion = "karpenter.k8s.aws/v1alpha1"
)

// provisionerStatic is what a Provisioner's hash covers: the fields a node takes at launch and
// keeps. Requirements, limits, weight, TTLs and consolidation change what Kerf does with nodes,
// not what a node is, so they are left out.
//
// +kubebuilder:object:generate=false
type provisionerStatic struct {
	Annotations          map[string]string     `json:"annotations,omitempty"`
	Labels               map[string]string     `json:"labels,omitempty"`
	Taints               []corev1.Taint        `json:"taints,omitempty"`
	StartupTaints        []corev1.Taint        `json:"startupTaints,omitempty"`
	KubeletConfiguration *KubeletConfiguration `json:"kubeletConfiguration,omitempty"`
	Provider             any                   `json:"provider,omitempty"`
	ProviderRef          *MachineTemplateRef   `json:"providerRef,omitempty"`
}

// Hash is a stable hash of the Provisioner's static fields: labels, annotations, taints, startup
// taints, kubelet configuration, providerRef and the inline provider. It is FNV-64a over their
// JSON, in decimal. Map order does not matter, and neither does the order of taints (the API
// keys them by key and effect); the order of any other list (kubelet clusterDNS) does. An empty
// map or list hashes as an absent one, and an empty providerRef kind or apiVersion as its
// default, since they mean the same.
func (p *Provisioner) Hash() string {
	static := provisionerStatic{
		Annotations:          p.Spec.Annotations,
		Labels:               p.Spec.Labels,
		Taints:               sortedTaints(p.Spec.Taints),
		StartupTaints:        sortedTaints(p.Spec.StartupTaints),
		KubeletConfiguration: p.Spec.KubeletConfiguration,
	}
	if ref := p.Spec.ProviderRef; ref != nil {
		normalized := *ref
		if normalized.Kind == "" {
			normalized.Kind = defaultProviderRefKind
		}
		if normalized.APIVersion == "" {
			normalized.APIVersion = defaultProviderRefAPIVersion
		}
		static.ProviderRef = &normalized
	}
	if p.Spec.Provider != nil && len(p.Spec.Provider.Raw) > 0 {
		// Re-encoded so its key order, which the API server does not promise, does not count.
		var provider any
		if err := json.Unmarshal(p.Spec.Provider.Raw, &provider); err != nil {
			provider = string(p.Spec.Provider.Raw)
		}
		static.Provider = provider
	}
	return hashJSON(static)
}

// HashAnnotations are the annotations a Machine launched from p now records.
func (p *Provisioner) HashAnnotations() map[string]string {
	return map[string]string{ProvisionerHashAnnotationKey: p.Hash(), ProvisionerHashVersionAnnotationKey: ProvisionerHashVersion}
}

// StaticFieldsDrifted reports whether annotations (a Machine's or a Node's) record a hash of p's
// static fields that differs from p's now. Without a hash, or with one of another version
// (Karpenter's, an older Kerf's), it cannot tell and says no: replacing every node launched
// before the hash was recorded would be worse than missing their drift.
func (p *Provisioner) StaticFieldsDrifted(annotations map[string]string) bool {
	recorded, ok := annotations[ProvisionerHashAnnotationKey]
	if !ok || annotations[ProvisionerHashVersionAnnotationKey] != ProvisionerHashVersion {
		return false
	}
	return recorded != p.Hash()
}

func sortedTaints(taints []corev1.Taint) []corev1.Taint {
	if len(taints) == 0 {
		return nil
	}
	out := append([]corev1.Taint(nil), taints...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		if out[i].Effect != out[j].Effect {
			return out[i].Effect < out[j].Effect
		}
		return out[i].Value < out[j].Value
	})
	return out
}

// hashJSON is FNV-64a of v's JSON. encoding/json writes map keys sorted, so map order never
// counts.
func hashJSON(v any) string {
	h := fnv.New64a()
	// Cannot fail: v holds strings, numbers, maps of strings, Quantities and decoded JSON.
	_ = json.NewEncoder(h).Encode(v)
	return strconv.FormatUint(h.Sum64(), 10)
}
