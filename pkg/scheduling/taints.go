package scheduling

import v1 "k8s.io/api/core/v1"

// Tolerates reports whether toleration t tolerates taint, by the Kubernetes rules: an empty key
// with Exists tolerates everything, an empty effect matches every effect, Equal (the default)
// compares values.
func Tolerates(t v1.Toleration, taint v1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key == "" {
		return t.Operator == v1.TolerationOpExists
	}
	if t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case v1.TolerationOpExists:
		return true
	case "", v1.TolerationOpEqual:
		return t.Value == taint.Value
	default:
		return false
	}
}

// FirstUntolerated returns the first taint that repels a pod with tolerations, and false when the
// pod tolerates them all. PreferNoSchedule taints repel only when strict is set: they are a
// preference, honoured until the pod cannot be placed otherwise.
func FirstUntolerated(tolerations []v1.Toleration, taints []v1.Taint, strict bool) (v1.Taint, bool) {
	for _, taint := range taints {
		if taint.Effect == v1.TaintEffectPreferNoSchedule && !strict {
			continue
		}
		tolerated := false
		for _, t := range tolerations {
			if Tolerates(t, taint) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			return taint, true
		}
	}
	return v1.Taint{}, false
}
