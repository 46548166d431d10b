package provisioning

import (
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

// NewMachine is the persisted intent to launch one planned node: what the instance must satisfy
// (the node's requirements narrowed to its candidate instance types), what the planned pods
// request, and how the node is configured, owned by its Provisioner so deleting the Provisioner
// removes it. It records the hash of the Provisioner's static fields, which drift compares with
// the Provisioner's later.
func NewMachine(node scheduling.NewNode, p *v1alpha5.Provisioner) *v1alpha5.Machine {
	names := make([]string, 0, len(node.InstanceTypes))
	for _, it := range node.InstanceTypes {
		names = append(names, it.Name)
	}
	reqs := node.Requirements.With(scheduling.In(v1alpha5.LabelInstanceType, names...))
	labels := map[string]string{}
	for k, v := range p.Spec.Labels {
		labels[k] = v
	}
	labels[v1alpha5.ProvisionerNameLabelKey] = p.Name
	// A copy: the launch adds annotations to the Machine's map, which must not reach the
	// Provisioner's (perhaps the informer cache's) own.
	annotations := map[string]string{}
	for k, v := range p.Spec.Annotations {
		annotations[k] = v
	}
	for k, v := range p.HashAnnotations() {
		annotations[k] = v
	}
	annotations[v1alpha5.PlannedPodsAnnotationKey] = strconv.Itoa(len(node.Pods))
	return &v1alpha5.Machine{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: p.Name + "-",
			Labels:       labels,
			Annotations:  annotations,
			Finalizers:   []string{v1alpha5.TerminationFinalizer},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         v1alpha5.SchemeGroupVersion.String(),
				Kind:               "Provisioner",
				Name:               p.Name,
				UID:                p.UID,
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: v1alpha5.MachineSpec{
			Requirements:       reqs.NodeSelectorRequirements(),
			Resources:          v1alpha5.ResourceRequirements{Requests: node.PodRequests},
			Taints:             p.Spec.Taints,
			StartupTaints:      p.Spec.StartupTaints,
			Kubelet:            p.Spec.KubeletConfiguration,
			MachineTemplateRef: p.Spec.ProviderRef,
		},
	}
}
