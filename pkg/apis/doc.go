// Package apis holds Kerf's Kubernetes APIs, which are Karpenter v0.31's: karpenter.sh/v1alpha5
// (Provisioner, Machine) and karpenter.k8s.aws/v1alpha1 (AWSNodeTemplate), plus the generated CRDs.
// Validation lives in the CRD schemas as CEL rules so the API server refuses a bad manifest with a
// message that names the field; there is no admission webhook.
//
//go:generate go tool controller-gen object:headerFile=../../hack/boilerplate.go.txt paths=./...
//go:generate go tool controller-gen crd:allowDangerousTypes=false output:crd:artifacts:config=crds paths=./...
package apis
