package fake

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/scheduling"
)

func instanceType(name, cpu string, offerings ...scheduling.Offering) *scheduling.InstanceType {
	return &scheduling.InstanceType{
		Name:         name,
		Requirements: scheduling.NewRequirements(scheduling.In(scheduling.LabelArch, "amd64")),
		Capacity:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourcePods: resource.MustParse("110")},
		Offerings:    offerings,
	}
}

func machine(uid string, cpu string, reqs ...corev1.NodeSelectorRequirement) *v1alpha5.Machine {
	return &v1alpha5.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "default-" + uid, UID: types.UID("uid-" + uid)},
		Spec: v1alpha5.MachineSpec{
			Requirements: reqs,
			Resources:    v1alpha5.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
		},
	}
}

func TestCreate_LaunchesTheCheapestOfferingThatFitsAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	small := instanceType("small", "2", scheduling.Offering{Zone: "us-east-1a", CapacityType: "spot", Price: 0.02, Available: true})
	large := instanceType("large", "8",
		scheduling.Offering{Zone: "us-east-1a", CapacityType: "spot", Price: 0.05, Available: false},
		scheduling.Offering{Zone: "us-east-1b", CapacityType: "spot", Price: 0.08, Available: true},
		scheduling.Offering{Zone: "us-east-1c", CapacityType: "on-demand", Price: 0.30, Available: true})
	cp := New(small, large)

	got, err := cp.Create(ctx, machine("a", "4"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels[scheduling.LabelInstanceType] != "large" || got.Labels[scheduling.LabelZone] != "us-east-1b" || got.Labels[scheduling.LabelCapacityType] != "spot" {
		t.Errorf("launched %v, want large spot in us-east-1b (the cheapest available offering that fits 4 cpu)", got.Labels)
	}
	again, err := cp.Create(ctx, machine("a", "4"))
	if err != nil || again.Status.ProviderID != got.Status.ProviderID {
		t.Errorf("repeating Create for the same UID launched %q, want the same instance %q", again.Status.ProviderID, got.Status.ProviderID)
	}
	onDemand, err := cp.Create(ctx, machine("b", "1", corev1.NodeSelectorRequirement{Key: scheduling.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand"}}))
	if err != nil || onDemand.Labels[scheduling.LabelInstanceType] != "large" || onDemand.Labels[scheduling.LabelZone] != "us-east-1c" {
		t.Errorf("on-demand machine launched %v (err %v), want large on-demand in us-east-1c", onDemand.Labels, err)
	}
	if _, err := cp.Create(ctx, machine("c", "16")); !cloudprovider.IsInsufficientCapacityError(err) {
		t.Errorf("creating a machine nothing fits: %v, want insufficient capacity", err)
	}
	if list, _ := cp.List(ctx); len(list) != 2 {
		t.Errorf("listed %d instances, want 2", len(list))
	}
	if len(cp.CreateCalls) != 4 {
		t.Errorf("recorded %d Create calls, want 4", len(cp.CreateCalls))
	}
}

func TestCreate_ReturnsQueuedErrorsFirst(t *testing.T) {
	cp := New(instanceType("small", "2", scheduling.Offering{Zone: "z", CapacityType: "spot", Price: 1, Available: true}))
	throttled := errors.New("RequestLimitExceeded")
	cp.CreateErrors = []error{throttled}
	if _, err := cp.Create(context.Background(), machine("a", "1")); !errors.Is(err, throttled) {
		t.Fatalf("first Create: %v, want the queued error", err)
	}
	if _, err := cp.Create(context.Background(), machine("a", "1")); err != nil {
		t.Fatalf("second Create: %v, want a launch", err)
	}
}

func TestDelete_SecondDeleteIsNotFound(t *testing.T) {
	ctx := context.Background()
	cp := New(instanceType("small", "2", scheduling.Offering{Zone: "z", CapacityType: "spot", Price: 1, Available: true}))
	m, err := cp.Create(ctx, machine("a", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Delete(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := cp.Delete(ctx, m); !cloudprovider.IsMachineNotFoundError(err) {
		t.Errorf("second Delete: %v, want machine not found", err)
	}
	if _, err := cp.Get(ctx, m.Status.ProviderID); !cloudprovider.IsMachineNotFoundError(err) {
		t.Errorf("Get after Delete: %v, want machine not found", err)
	}
}

func TestCreate_AfterDeleteLaunchesANewInstance(t *testing.T) {
	ctx := context.Background()
	cp := New(instanceType("small", "2", scheduling.Offering{Zone: "z", CapacityType: "spot", Price: 1, Available: true}))
	for _, tc := range []struct {
		name   string
		delete func(launched *v1alpha5.Machine) *v1alpha5.Machine
	}{
		{"deleted by provider id", func(launched *v1alpha5.Machine) *v1alpha5.Machine { return launched }},
		{"deleted by uid after a lost status write", func(*v1alpha5.Machine) *v1alpha5.Machine { return machine("lost", "1") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, err := cp.Create(ctx, machine("lost", "1"))
			if err != nil {
				t.Fatal(err)
			}
			if err := cp.Delete(ctx, tc.delete(first)); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			again, err := cp.Create(ctx, machine("lost", "1"))
			if err != nil || again == nil {
				t.Fatalf("Create after Delete returned (%v, %v), want a new instance", again, err)
			}
			if again.Status.ProviderID == first.Status.ProviderID {
				t.Errorf("Create after Delete returned the terminated instance %s", first.Status.ProviderID)
			}
			if err := cp.Delete(ctx, again); err != nil {
				t.Fatal(err)
			}
		})
	}
	if list, _ := cp.List(ctx); len(list) != 0 {
		t.Errorf("listed %d instances after deleting all, want 0", len(list))
	}
}
