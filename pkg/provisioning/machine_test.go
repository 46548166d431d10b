package provisioning

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

func TestNewMachine_RecordsTheProvisionerHashOnACopyOfItsAnnotations(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
	}{
		{"with annotations", map[string]string{"example.com/owner": "team-a"}},
		{"without annotations", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1alpha5.Provisioner{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v1alpha5.ProvisionerSpec{
				Annotations: tc.annotations, Labels: map[string]string{"team": "a"},
				ProviderRef: &v1alpha5.MachineTemplateRef{Name: "default"}}}
			m := NewMachine(scheduling.NewNode{Provisioner: "default", InstanceTypes: []scheduling.InstanceTypeOption{{Name: "m5.large"}},
				Pods: []scheduling.PodKey{{Namespace: "default", Name: "a"}, {Namespace: "default", Name: "b"}}}, p)

			want := map[string]string{
				v1alpha5.ProvisionerHashAnnotationKey:        p.Hash(),
				v1alpha5.ProvisionerHashVersionAnnotationKey: v1alpha5.ProvisionerHashVersion,
				// How many pods it is launched for, to compare with how many it receives.
				v1alpha5.PlannedPodsAnnotationKey: "2",
			}
			for k, v := range tc.annotations {
				want[k] = v
			}
			if len(m.Annotations) != len(want) {
				t.Errorf("machine annotations %v, want %v", m.Annotations, want)
			}
			for k, v := range want {
				if m.Annotations[k] != v {
					t.Errorf("machine annotation %s = %q, want %q", k, m.Annotations[k], v)
				}
			}
			m.Annotations["launched"] = "true"
			if _, ok := p.Spec.Annotations["launched"]; ok || len(p.Spec.Annotations) != len(tc.annotations) {
				t.Errorf("writing the machine's annotations changed the Provisioner's: %v", p.Spec.Annotations)
			}
		})
	}
}
