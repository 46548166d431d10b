package disruption

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Annotation keys.
const (
	BudgetAnnotationKey   = "kerf.sh/disruption-budget"
	ScheduleAnnotationKey = "kerf.sh/disruption-schedule"
	DurationAnnotationKey = "kerf.sh/disruption-duration"
	TimeZoneAnnotationKey = "kerf.sh/disruption-timezone"
)

// Budget is one Provisioner's disruption budget and window. The zero Budget is Karpenter v0.31's
// behaviour: no cap of its own, always open.
type Budget struct {
	capped  bool
	nodes   int // the cap in nodes, or in percent of the Provisioner's nodes when percent is set
	percent bool

	// window is nil when disruption is never held back by time.
	window *window
}

// window opens at each activation of schedule, in location, and stays open for duration.
type window struct {
	schedule *cron.SpecSchedule
	spec     string
	duration time.Duration
	location *time.Location
}

// AnnotationError is a malformed disruption annotation; the annotation is ignored.
type AnnotationError struct {
	Key, Value string
	err        error
}

func (e *AnnotationError) Error() string {
	return fmt.Sprintf("annotation %s=%q ignored, %v", e.Key, e.Value, e.err)
}

func (e *AnnotationError) Unwrap() error { return e.err }

// ParseBudget reads a Provisioner's annotations. Each malformed annotation yields an error naming
// it and is ignored.
func ParseBudget(annotations map[string]string) (Budget, []error) {
	var b Budget
	var errs []error
	bad := func(key string, err error) {
		errs = append(errs, &AnnotationError{Key: key, Value: annotations[key], err: err})
	}

	if v, ok := annotations[BudgetAnnotationKey]; ok {
		if n, percent, err := parseCap(v); err != nil {
			bad(BudgetAnnotationKey, err)
		} else {
			b.capped, b.nodes, b.percent = true, n, percent
		}
	}

	spec, hasSchedule := annotations[ScheduleAnnotationKey]
	durationText, hasDuration := annotations[DurationAnnotationKey]
	zone, hasZone := annotations[TimeZoneAnnotationKey]
	if !hasSchedule {
		// Without a schedule there is no window for the others to shape; say so rather than
		// leave the user believing a window applies.
		if hasDuration {
			bad(DurationAnnotationKey, fmt.Errorf("needs %s", ScheduleAnnotationKey))
		}
		if hasZone {
			bad(TimeZoneAnnotationKey, fmt.Errorf("needs %s", ScheduleAnnotationKey))
		}
		return b, errs
	}
	w := &window{spec: spec, location: time.UTC}
	var err error
	if w.schedule, err = parseSchedule(spec); err != nil {
		bad(ScheduleAnnotationKey, err)
		w = nil
	}
	if !hasDuration {
		bad(DurationAnnotationKey, fmt.Errorf("missing, a window needs a duration"))
		w = nil
	} else if d, err := time.ParseDuration(strings.TrimSpace(durationText)); err != nil || d <= 0 {
		bad(DurationAnnotationKey, fmt.Errorf("want a positive Go duration such as 8h or 90m"))
		w = nil
	} else if w != nil {
		w.duration = d
	}
	if hasZone {
		// A window meant for another zone must not silently fall back to UTC; "Local" would be
		// the controller's own zone, which users cannot see.
		loc, err := time.LoadLocation(zone)
		if err != nil || zone == "" || zone == "Local" {
			bad(TimeZoneAnnotationKey, fmt.Errorf("want an IANA time zone name such as Europe/Berlin"))
			w = nil
		} else if w != nil {
			w.location = loc
		}
	}
	b.window = w
	return b, errs
}

// parseCap reads "N" or "N%" (N at most 100).
func parseCap(v string) (n int, percent bool, err error) {
	digits, percent := strings.CutSuffix(strings.TrimSpace(v), "%")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false, fmt.Errorf(`want a non-negative integer or percentage such as "2" or "10%%"`)
	}
	if n, err = strconv.Atoi(digits); err != nil {
		return 0, false, fmt.Errorf("parsing number, %w", err)
	}
	if percent && n > 100 {
		return 0, false, fmt.Errorf("a percentage must be at most 100%%")
	}
	return n, percent, nil
}

// parseSchedule reads a schedule as Kubernetes CronJobs do (cron.ParseStandard), except that a
// time zone inside the schedule is refused: the time zone annotation is the one way to set it.
func parseSchedule(spec string) (*cron.SpecSchedule, error) {
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, "TZ=") {
		return nil, fmt.Errorf("CRON_TZ= and TZ= are not accepted in the schedule, set %s instead", TimeZoneAnnotationKey)
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("parsing cron schedule, %w", err)
	}
	// @every has no fixed start, so it cannot say when a window opens.
	ss, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("want a 5-field cron schedule or a descriptor such as @daily; @every has no start time")
	}
	return ss, nil
}

// Open reports whether voluntary disruption may happen at now (inside the window, or no window).
func (b Budget) Open(now time.Time) bool {
	if b.window == nil {
		return true
	}
	// now is inside iff some activation a has now-duration < a <= now; Next is strictly after
	// its argument, so the first activation after now-duration decides, with no iteration.
	a := b.window.schedule.Next(now.Add(-b.window.duration).In(b.window.location))
	return !a.IsZero() && !a.After(now)
}

// NextOpen returns when the window next opens after now (now itself when open or no window).
// Zero time if the schedule never fires.
func (b Budget) NextOpen(now time.Time) time.Time {
	if b.Open(now) {
		return now
	}
	return b.window.schedule.Next(now.In(b.window.location))
}

// Allowed returns how many more of the Provisioner's nodes may start being disrupted now: given
// its total node count and how many are already being disrupted; methodDefault is the cap when
// no budget annotation applies (Karpenter v0.31's per-method behaviour; negative means no cap).
// Returns 0 when the window is closed; never negative. With a budget the result is
// min(budget−disrupting, methodDefault if ≥0), floored at 0.
func (b Budget) Allowed(now time.Time, total, disrupting, methodDefault int) int {
	if !b.Open(now) {
		return 0
	}
	allowed := methodDefault
	if b.capped {
		limit := b.nodes
		if b.percent {
			limit = (b.nodes*total + 99) / 100 // rounded up, so a small Provisioner still moves
		}
		allowed = limit - disrupting
		if methodDefault >= 0 {
			allowed = min(allowed, methodDefault)
		}
	} else if methodDefault < 0 {
		allowed = total - disrupting // no cap: every node not already being disrupted
	}
	return max(allowed, 0)
}

// String describes the budget for Events and logs; the zero Budget describes itself as "".
func (b Budget) String() string {
	var parts []string
	switch {
	case b.capped && b.percent:
		parts = append(parts, fmt.Sprintf("%d%% of nodes", b.nodes))
	case b.capped:
		parts = append(parts, fmt.Sprintf("%d node(s)", b.nodes))
	case b.window != nil:
		parts = append(parts, "no node cap")
	}
	if w := b.window; w != nil {
		parts = append(parts, fmt.Sprintf("window %q for %s %s", w.spec, w.duration, w.location))
	}
	return strings.Join(parts, ", ")
}
