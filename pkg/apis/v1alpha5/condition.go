package v1alpha5

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition is one observation of a Machine or Provisioner, in the shape Karpenter v0.31 stored
// (knative's): type and status are required, the rest optional, so a Machine a v0.31 controller
// wrote still validates when Kerf writes its status. Kerf always sets the transition time and a
// reason; it never sets a severity.
type Condition struct {
	// Type of the condition, e.g. MachineInitialized or Ready.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=316
	Type string `json:"type"`
	// Status is True, False or Unknown.
	// +kubebuilder:validation:Enum=True;False;Unknown
	Status metav1.ConditionStatus `json:"status"`
	// Severity of a False condition (Error, Warning or Info), as Karpenter v0.31 wrote it.
	// +optional
	Severity string `json:"severity,omitempty"`
	// LastTransitionTime is when Status last changed.
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// Reason is a CamelCase word for why.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message says why for people.
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	Message string `json:"message,omitempty"`
	// ObservedGeneration is the object's generation the condition was set for.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// SetCondition adds c or updates the condition of its type, moving the transition time only when
// the status changes (to now, when c carries none), and reports whether anything changed.
func SetCondition(conditions *[]Condition, c Condition) bool {
	if c.LastTransitionTime.IsZero() {
		c.LastTransitionTime = metav1.Now()
	}
	existing := FindCondition(*conditions, c.Type)
	if existing == nil {
		*conditions = append(*conditions, c)
		return true
	}
	before := *existing
	if existing.Status != c.Status || existing.LastTransitionTime.IsZero() {
		existing.LastTransitionTime = c.LastTransitionTime
	}
	existing.Status, existing.Reason, existing.Message = c.Status, c.Reason, c.Message
	existing.ObservedGeneration, existing.Severity = c.ObservedGeneration, c.Severity
	return before.Status != existing.Status || before.Reason != existing.Reason || before.Message != existing.Message ||
		before.ObservedGeneration != existing.ObservedGeneration || before.Severity != existing.Severity ||
		!before.LastTransitionTime.Equal(&existing.LastTransitionTime)
}

// FindCondition returns the condition of that type, nil when there is none.
func FindCondition(conditions []Condition, conditionType string) *Condition {
	for i := range conditions {
		if conditions[i].Type == conditionType {
			return &conditions[i]
		}
	}
	return nil
}

// IsConditionTrue reports whether the condition of that type is there with status True.
func IsConditionTrue(conditions []Condition, conditionType string) bool {
	c := FindCondition(conditions, conditionType)
	return c != nil && c.Status == metav1.ConditionTrue
}
