// Package v1alpha5 is karpenter.sh/v1alpha5: Provisioner and Machine with the schema of Karpenter
// v0.31, so existing manifests apply unchanged, and the well-known labels. It imports only API
// machinery; it must not import clients, controllers or cloud SDKs.
//
// +kubebuilder:object:generate=true
// +groupName=karpenter.sh
package v1alpha5

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SchemeGroupVersion is karpenter.sh/v1alpha5.
var SchemeGroupVersion = schema.GroupVersion{Group: Group, Version: "v1alpha5"}

// AddToScheme registers Provisioner and Machine with a scheme the caller owns.
func AddToScheme(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&Provisioner{}, &ProvisionerList{},
		&Machine{}, &MachineList{},
	)
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
