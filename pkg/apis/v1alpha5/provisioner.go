package v1alpha5

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ProvisionerSpec is the shape of the nodes a Provisioner may launch and when they go away.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.ttlSecondsAfterEmpty) && has(self.consolidation) && has(self.consolidation.enabled) && self.consolidation.enabled)",message="ttlSecondsAfterEmpty cannot be set when consolidation.enabled is true: consolidation already removes empty nodes",fieldPath=".ttlSecondsAfterEmpty"
// +kubebuilder:validation:XValidation:rule="!has(self.provider)",message="provider, the inline node template Karpenter deprecated before v0.31, is not supported: move its fields into an AWSNodeTemplate and name it in providerRef",fieldPath=".provider"
// +kubebuilder:validation:XValidation:rule="has(self.provider) || has(self.providerRef)",message="providerRef is required: name the AWSNodeTemplate that describes this Provisioner's nodes",fieldPath=".providerRef"
type ProvisionerSpec struct {
	// Annotations are applied to every node.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// Labels are applied to every node.
	// +kubebuilder:validation:MaxProperties=100
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.matches('^([^/]+[.])?(kubernetes[.]io|k8s[.]io|karpenter[.]sh|karpenter[.]k8s[.]aws)/') || k.matches('^([^/]+[.])?(kops[.]k8s[.]io|node[.]kubernetes[.]io|node-restriction[.]kubernetes[.]io)/') || k in ['topology.kubernetes.io/zone','topology.kubernetes.io/region','node.kubernetes.io/instance-type','kubernetes.io/arch','kubernetes.io/os','node.kubernetes.io/windows-build','karpenter.sh/capacity-type','karpenter.k8s.aws/instance-hypervisor','karpenter.k8s.aws/instance-encryption-in-transit-supported','karpenter.k8s.aws/instance-category','karpenter.k8s.aws/instance-family','karpenter.k8s.aws/instance-generation','karpenter.k8s.aws/instance-local-nvme','karpenter.k8s.aws/instance-size','karpenter.k8s.aws/instance-cpu','karpenter.k8s.aws/instance-memory','karpenter.k8s.aws/instance-network-bandwidth','karpenter.k8s.aws/instance-pods','karpenter.k8s.aws/instance-gpu-name','karpenter.k8s.aws/instance-gpu-manufacturer','karpenter.k8s.aws/instance-gpu-count','karpenter.k8s.aws/instance-gpu-memory','karpenter.k8s.aws/instance-accelerator-name','karpenter.k8s.aws/instance-accelerator-manufacturer','karpenter.k8s.aws/instance-accelerator-count'])",message="label keys in the kubernetes.io, k8s.io, karpenter.sh and karpenter.k8s.aws domains are reserved, except the well-known labels"
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Taints are applied to every node; pods must tolerate them to land there.
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=key
	// +listMapKey=effect
	// +kubebuilder:validation:XValidation:rule="self.all(t, t.effect in ['NoSchedule', 'PreferNoSchedule', 'NoExecute'])",message="taint effect must be one of NoSchedule, PreferNoSchedule, NoExecute"
	// +optional
	Taints []corev1.Taint `json:"taints,omitempty"`
	// StartupTaints are applied at launch and expected to be removed by another agent (a CNI,
	// a GPU operator); pods need not tolerate them.
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=key
	// +listMapKey=effect
	// +kubebuilder:validation:XValidation:rule="self.all(t, t.effect in ['NoSchedule', 'PreferNoSchedule', 'NoExecute'])",message="taint effect must be one of NoSchedule, PreferNoSchedule, NoExecute"
	// +optional
	StartupTaints []corev1.Taint `json:"startupTaints,omitempty"`
	// Requirements constrain the nodes this Provisioner may launch (instance types, zones,
	// capacity types, architectures, ...).
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Requirements []NodeSelectorRequirement `json:"requirements,omitempty"`
	// KubeletConfiguration is passed to the kubelet of every node.
	// +optional
	KubeletConfiguration *KubeletConfiguration `json:"kubeletConfiguration,omitempty"`
	// Provider is the inline form of the AWSNodeTemplate Karpenter deprecated; refused, but kept
	// so that a Provisioner stored with it still reads.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Provider *runtime.RawExtension `json:"provider,omitempty"`
	// ProviderRef names the AWSNodeTemplate that describes this Provisioner's nodes.
	// +optional
	ProviderRef *MachineTemplateRef `json:"providerRef,omitempty"`
	// TTLSecondsAfterEmpty removes a node this long after its last workload pod leaves.
	// +kubebuilder:validation:Minimum=0
	// +optional
	TTLSecondsAfterEmpty *int64 `json:"ttlSecondsAfterEmpty,omitempty"`
	// TTLSecondsUntilExpired replaces a node this long after it was launched.
	// +kubebuilder:validation:Minimum=0
	// +optional
	TTLSecondsUntilExpired *int64 `json:"ttlSecondsUntilExpired,omitempty"`
	// Limits cap the total capacity of this Provisioner's nodes.
	// +optional
	Limits *Limits `json:"limits,omitempty"`
	// Weight orders Provisioners: higher first.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	Weight *int32 `json:"weight,omitempty"`
	// Consolidation removes or replaces nodes when their pods fit elsewhere for less.
	// +optional
	Consolidation *Consolidation `json:"consolidation,omitempty"`
}

// NodeSelectorRequirement is corev1.NodeSelectorRequirement with the validation Provisioners need.
//
// +kubebuilder:validation:XValidation:rule="self.operator != 'In' || (has(self.values) && size(self.values) > 0)",message="operator In needs at least one value",fieldPath=".values"
// +kubebuilder:validation:XValidation:rule="self.operator != 'NotIn' || has(self.values)",message="operator NotIn needs its values (an empty list excludes nothing)",fieldPath=".values"
// +kubebuilder:validation:XValidation:rule="!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0",message="operators Exists and DoesNotExist take no values",fieldPath=".values"
// +kubebuilder:validation:XValidation:rule="!(self.operator in ['Gt', 'Lt']) || (has(self.values) && size(self.values) == 1 && self.values[0].matches('^-?[0-9]+$'))",message="operators Gt and Lt take exactly one integer value",fieldPath=".values"
type NodeSelectorRequirement struct {
	// Key is the node label the requirement constrains.
	// +kubebuilder:validation:MaxLength=316
	// +kubebuilder:validation:XValidation:rule="self != 'karpenter.sh/provisioner-name'",message="karpenter.sh/provisioner-name is set by Kerf and cannot be required"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([^/]+[.])?(kubernetes[.]io|k8s[.]io|karpenter[.]sh|karpenter[.]k8s[.]aws)/') || self.matches('^([^/]+[.])?(kops[.]k8s[.]io|node[.]kubernetes[.]io|node-restriction[.]kubernetes[.]io)/') || self in ['failure-domain.beta.kubernetes.io/zone','failure-domain.beta.kubernetes.io/region','beta.kubernetes.io/arch','beta.kubernetes.io/os','beta.kubernetes.io/instance-type','topology.kubernetes.io/zone','topology.kubernetes.io/region','node.kubernetes.io/instance-type','kubernetes.io/arch','kubernetes.io/os','node.kubernetes.io/windows-build','karpenter.sh/capacity-type','karpenter.k8s.aws/instance-hypervisor','karpenter.k8s.aws/instance-encryption-in-transit-supported','karpenter.k8s.aws/instance-category','karpenter.k8s.aws/instance-family','karpenter.k8s.aws/instance-generation','karpenter.k8s.aws/instance-local-nvme','karpenter.k8s.aws/instance-size','karpenter.k8s.aws/instance-cpu','karpenter.k8s.aws/instance-memory','karpenter.k8s.aws/instance-network-bandwidth','karpenter.k8s.aws/instance-pods','karpenter.k8s.aws/instance-gpu-name','karpenter.k8s.aws/instance-gpu-manufacturer','karpenter.k8s.aws/instance-gpu-count','karpenter.k8s.aws/instance-gpu-memory','karpenter.k8s.aws/instance-accelerator-name','karpenter.k8s.aws/instance-accelerator-manufacturer','karpenter.k8s.aws/instance-accelerator-count']",message="requirement keys in the kubernetes.io, k8s.io, karpenter.sh and karpenter.k8s.aws domains are reserved, except the well-known labels"
	Key string `json:"key"`
	// Operator relates the key to the values.
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist;Gt;Lt
	Operator corev1.NodeSelectorOperator `json:"operator"`
	// Values are the label values; Gt and Lt take one integer.
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^(-?[0-9]+|(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?)$`
	// +optional
	Values []string `json:"values,omitempty"`
}

// ToCore returns the requirement as the core type the scheduler understands, on the label a node
// carries: a deprecated beta key (which v0.31 manifests may use) becomes its replacement.
func (r NodeSelectorRequirement) ToCore() corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: NormalizedLabelKey(r.Key), Operator: r.Operator, Values: append([]string(nil), r.Values...)}
}

// NormalizedLabelKey returns the well-known label that replaced a deprecated beta one, or key.
func NormalizedLabelKey(key string) string {
	switch key {
	case "failure-domain.beta.kubernetes.io/zone":
		return LabelTopologyZone
	case "failure-domain.beta.kubernetes.io/region":
		return "topology.kubernetes.io/region"
	case "beta.kubernetes.io/arch":
		return LabelArch
	case "beta.kubernetes.io/os":
		return "kubernetes.io/os"
	case "beta.kubernetes.io/instance-type":
		return LabelInstanceType
	}
	return key
}

// MachineTemplateRef names the cloud-specific node template.
//
// +kubebuilder:validation:XValidation:rule="!has(self.kind) || size(self.kind) == 0 || self.kind == 'AWSNodeTemplate'",message="kind must be AWSNodeTemplate, the only node template Kerf reads",fieldPath=".kind"
// +kubebuilder:validation:XValidation:rule="!has(self.apiVersion) || size(self.apiVersion) == 0 || self.apiVersion == 'karpenter.k8s.aws/v1alpha1'",message="apiVersion must be karpenter.k8s.aws/v1alpha1, the AWSNodeTemplate's",fieldPath=".apiVersion"
type MachineTemplateRef struct {
	// Kind of the referent, AWSNodeTemplate when empty.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the referent.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// APIVersion of the referent, karpenter.k8s.aws/v1alpha1 when empty.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
}

// Limits cap the resources a Provisioner's nodes may add up to.
type Limits struct {
	// Resources are the caps, e.g. cpu: 1000, memory: 1000Gi.
	// +optional
	Resources corev1.ResourceList `json:"resources,omitempty"`
}

// Consolidation turns on active consolidation.
type Consolidation struct {
	// Enabled turns consolidation on.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// ProvisionerStatus is what Kerf observed about a Provisioner.
type ProvisionerStatus struct {
	// LastScaleTime is when the Provisioner last launched or removed a node.
	// +optional
	LastScaleTime *metav1.Time `json:"lastScaleTime,omitempty"`
	// Conditions of the Provisioner.
	// +optional
	Conditions []Condition `json:"conditions,omitempty"`
	// Resources is the sum of the capacity of the Provisioner's nodes and launching Machines.
	// +optional
	Resources corev1.ResourceList `json:"resources,omitempty"`
}

// Provisioner describes the nodes Kerf may launch for pending pods, and their lifetime.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=provisioners,scope=Cluster,categories=karpenter
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Weight",type="integer",JSONPath=".spec.weight"
// +kubebuilder:printcolumn:name="CPU",type="string",JSONPath=".status.resources.cpu"
// +kubebuilder:printcolumn:name="CPU Limit",type="string",JSONPath=".spec.limits.resources.cpu"
// +kubebuilder:printcolumn:name="Memory",type="string",JSONPath=".status.resources.memory"
// +kubebuilder:printcolumn:name="Memory Limit",type="string",JSONPath=".spec.limits.resources.memory"
// +kubebuilder:printcolumn:name="Consolidation",type="boolean",JSONPath=".spec.consolidation.enabled"
// +kubebuilder:printcolumn:name="Template",type="string",JSONPath=".spec.providerRef.name",priority=1
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type Provisioner struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ProvisionerSpec   `json:"spec,omitempty"`
	Status ProvisionerStatus `json:"status,omitempty"`
}

// ProvisionerList is a list of Provisioners.
//
// +kubebuilder:object:root=true
type ProvisionerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Provisioner `json:"items"`
}
