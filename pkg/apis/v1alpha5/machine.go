package v1alpha5

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Machine condition types, in the order a Machine passes them.
const (
	MachineLaunched    = "MachineLaunched"
	MachineRegistered  = "MachineRegistered"
	MachineInitialized = "MachineInitialized"
	MachineEmpty       = "MachineEmpty"
	MachineExpired     = "MachineExpired"
	MachineDrifted     = "MachineDrifted"
	MachineReady       = "Ready"
)

// MachineSpec is the intent to have one node: what it must satisfy and how to launch it.
type MachineSpec struct {
	// Taints the node is created with.
	// +optional
	Taints []corev1.Taint `json:"taints,omitempty"`
	// StartupTaints the node is created with and another agent removes.
	// +optional
	StartupTaints []corev1.Taint `json:"startupTaints,omitempty"`
	// Requirements the instance must satisfy, including the candidate instance types.
	// +optional
	Requirements []corev1.NodeSelectorRequirement `json:"requirements,omitempty"`
	// Resources the pods planned onto this Machine request.
	// +optional
	Resources ResourceRequirements `json:"resources,omitempty"`
	// Kubelet configuration of the node.
	// +optional
	Kubelet *KubeletConfiguration `json:"kubelet,omitempty"`
	// MachineTemplateRef names the cloud-specific node template.
	// +optional
	MachineTemplateRef *MachineTemplateRef `json:"machineTemplateRef,omitempty"`
}

// ResourceRequirements holds the resources a Machine must provide.
type ResourceRequirements struct {
	// Requests is the minimum the instance must offer.
	// +optional
	Requests corev1.ResourceList `json:"requests,omitempty"`
}

// MachineStatus is what Kerf observed of the Machine's instance and node.
type MachineStatus struct {
	// NodeName of the Node registered for this Machine.
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// ProviderID of the instance, aws:///<zone>/<instance-id>.
	// +optional
	ProviderID string `json:"providerID,omitempty"`
	// Capacity of the instance.
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`
	// Allocatable is the capacity left for pods.
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`
	// Conditions of the Machine.
	// +optional
	Conditions []Condition `json:"conditions,omitempty"`
}

// Machine is Kerf's persisted intent to have one node. It is created before the cloud call, so a
// restart never launches twice, and is linked to its Node when the Node registers.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=machines,scope=Cluster,categories=karpenter
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Type",type="string",JSONPath=".metadata.labels.node\\.kubernetes\\.io/instance-type"
// +kubebuilder:printcolumn:name="Zone",type="string",JSONPath=".metadata.labels.topology\\.kubernetes\\.io/zone"
// +kubebuilder:printcolumn:name="Capacity",type="string",JSONPath=".metadata.labels.karpenter\\.sh/capacity-type"
// +kubebuilder:printcolumn:name="Node",type="string",JSONPath=".status.nodeName"
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="Provisioner",type="string",JSONPath=".metadata.labels.karpenter\\.sh/provisioner-name",priority=1
// +kubebuilder:printcolumn:name="ProviderID",type="string",JSONPath=".status.providerID",priority=1
type Machine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MachineSpec   `json:"spec,omitempty"`
	Status MachineStatus `json:"status,omitempty"`
}

// MachineList is a list of Machines.
//
// +kubebuilder:object:root=true
type MachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Machine `json:"items"`
}
