package scheduling

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func container(cpu, memory string) v1.Container {
	return v1.Container{Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
		v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(memory)}}}
}

func sidecar(cpu, memory string) v1.Container {
	c := container(cpu, memory)
	always := v1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

func TestPodRequests_FollowsKubeSchedulerArithmetic(t *testing.T) {
	for _, tc := range []struct {
		name             string
		spec             v1.PodSpec
		wantCPU, wantMem string
		wantExtended     string
		wantPods         int64
	}{
		{"containers are summed", v1.PodSpec{Containers: []v1.Container{container("1", "1Gi"), container("500m", "1Gi")}}, "1500m", "2Gi", "", 1},
		{"a larger init container dominates", v1.PodSpec{
			InitContainers: []v1.Container{container("4", "1Gi")},
			Containers:     []v1.Container{container("1", "2Gi")}}, "4", "2Gi", "", 1},
		{"sidecars add to containers and to later init containers", v1.PodSpec{
			InitContainers: []v1.Container{sidecar("1", "1Gi"), container("2", "1Gi")},
			Containers:     []v1.Container{container("500m", "1Gi")}}, "3", "2Gi", "", 1},
		{"pod overhead is added", v1.PodSpec{
			Containers: []v1.Container{container("1", "1Gi")},
			Overhead:   v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("512Mi")}}, "1250m", "1536Mi", "", 1},
		{"extended resources and limits-only containers count", v1.PodSpec{Containers: []v1.Container{{Resources: v1.ResourceRequirements{
			Limits: v1.ResourceList{v1.ResourceCPU: resource.MustParse("2"), v1.ResourceMemory: resource.MustParse("1Gi"), "nvidia.com/gpu": resource.MustParse("1")}}}}},
			"2", "1Gi", "1", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PodRequests(&v1.Pod{Spec: tc.spec})
			if q := got[v1.ResourceCPU]; q.Cmp(resource.MustParse(tc.wantCPU)) != 0 {
				t.Errorf("cpu = %s, want %s", q.String(), tc.wantCPU)
			}
			if q := got[v1.ResourceMemory]; q.Cmp(resource.MustParse(tc.wantMem)) != 0 {
				t.Errorf("memory = %s, want %s", q.String(), tc.wantMem)
			}
			if tc.wantExtended != "" {
				if q := got["nvidia.com/gpu"]; q.Cmp(resource.MustParse(tc.wantExtended)) != 0 {
					t.Errorf("gpu = %s, want %s", q.String(), tc.wantExtended)
				}
			}
			if q := got[v1.ResourcePods]; q.Value() != tc.wantPods {
				t.Errorf("pods = %d, want %d", q.Value(), tc.wantPods)
			}
		})
	}
}

func TestFits_NamesTheMissingResource(t *testing.T) {
	requests := v1.ResourceList{v1.ResourceCPU: resource.MustParse("1"), "nvidia.com/gpu": resource.MustParse("1")}
	available := v1.ResourceList{v1.ResourceCPU: resource.MustParse("4")}
	name, ok := Fits(requests, available)
	if ok || name != "nvidia.com/gpu" {
		t.Errorf("Fits() = %q, %v; want nvidia.com/gpu, false", name, ok)
	}
}

func TestTolerates_MatchesKubernetesRules(t *testing.T) {
	taint := v1.Taint{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}
	for _, tc := range []struct {
		name string
		tol  v1.Toleration
		want bool
	}{
		{"equal key and value", v1.Toleration{Key: "dedicated", Value: "gpu"}, true},
		{"wrong value", v1.Toleration{Key: "dedicated", Value: "cpu"}, false},
		{"exists on key", v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpExists}, true},
		{"empty key with exists tolerates all", v1.Toleration{Operator: v1.TolerationOpExists}, true},
		{"other effect", v1.Toleration{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoExecute}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Tolerates(tc.tol, taint); got != tc.want {
				t.Errorf("Tolerates() = %v, want %v", got, tc.want)
			}
		})
	}
}
