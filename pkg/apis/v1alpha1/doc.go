// Package v1alpha1 is karpenter.k8s.aws/v1alpha1: the AWSNodeTemplate with the schema of Karpenter
// v0.31. It imports only API machinery; it must not import clients, controllers or the AWS SDK.
//
// +kubebuilder:object:generate=true
// +groupName=karpenter.k8s.aws
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SchemeGroupVersion is karpenter.k8s.aws/v1alpha1.
var SchemeGroupVersion = schema.GroupVersion{Group: "karpenter.k8s.aws", Version: "v1alpha1"}

// AddToScheme registers AWSNodeTemplate with a scheme the caller owns.
func AddToScheme(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion, &AWSNodeTemplate{}, &AWSNodeTemplateList{})
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
