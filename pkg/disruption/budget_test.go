package disruption

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// utc is an instant written in UTC; the comments beside each case give Berlin's wall clock.
func utc(year int, month time.Month, day, hour, minute, second int) time.Time {
	return time.Date(year, month, day, hour, minute, second, 0, time.UTC)
}

func mustParseBudget(t *testing.T, annotations map[string]string) Budget {
	t.Helper()
	b, errs := ParseBudget(annotations)
	if len(errs) > 0 {
		t.Fatalf("ParseBudget(%v) errors: %v", annotations, errs)
	}
	return b
}

func TestBudget_AllowedCapsByBudgetAndMethodDefault(t *testing.T) {
	now := utc(2025, time.January, 10, 12, 0, 0)
	for _, tc := range []struct {
		name                             string
		budget                           string // "" means no budget annotation
		total, disrupting, methodDefault int
		want                             int
	}{
		{name: "no budget, no method cap: every node not already disrupting", total: 5, disrupting: 2, methodDefault: -1, want: 3},
		{name: "no budget, method cap applies", total: 5, disrupting: 0, methodDefault: 1, want: 1},
		{name: "no budget, method cap 0", total: 5, methodDefault: 0, want: 0},
		{name: "integer budget", budget: "2", total: 10, methodDefault: -1, want: 2},
		{name: "integer budget minus disrupting", budget: "3", total: 10, disrupting: 1, methodDefault: -1, want: 2},
		{name: "disrupting equals budget", budget: "2", total: 10, disrupting: 2, methodDefault: -1, want: 0},
		{name: "disrupting over budget is 0, not negative", budget: "2", total: 10, disrupting: 5, methodDefault: -1, want: 0},
		{name: "budget 0 freezes", budget: "0", total: 10, methodDefault: -1, want: 0},
		{name: "budget 0 freezes despite method default", budget: "0", total: 10, methodDefault: 1, want: 0},
		{name: "method default lower than budget", budget: "5", total: 10, methodDefault: 1, want: 1},
		{name: "budget lower than method default", budget: "1", total: 10, methodDefault: 5, want: 1},
		{name: "method default 0 wins", budget: "3", total: 10, disrupting: 1, methodDefault: 0, want: 0},
		{name: "integer budget above node count is not trimmed", budget: "10", total: 3, methodDefault: -1, want: 10},
		{name: "10% of 3 rounds up to 1", budget: "10%", total: 3, methodDefault: -1, want: 1},
		{name: "10% of 10 is exactly 1", budget: "10%", total: 10, methodDefault: -1, want: 1},
		{name: "10% of 11 rounds up to 2", budget: "10%", total: 11, methodDefault: -1, want: 2},
		{name: "percent minus disrupting", budget: "50%", total: 5, disrupting: 2, methodDefault: -1, want: 1},
		{name: "0% is 0", budget: "0%", total: 50, methodDefault: -1, want: 0},
		{name: "100% is every node", budget: "100%", total: 4, disrupting: 1, methodDefault: -1, want: 3},
		{name: "percent of no nodes is 0", budget: "50%", total: 0, methodDefault: -1, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			annotations := map[string]string{}
			if tc.budget != "" {
				annotations[BudgetAnnotationKey] = tc.budget
			}
			b := mustParseBudget(t, annotations)
			if got := b.Allowed(now, tc.total, tc.disrupting, tc.methodDefault); got != tc.want {
				t.Errorf("Allowed(total=%d, disrupting=%d, methodDefault=%d) = %d, want %d",
					tc.total, tc.disrupting, tc.methodDefault, got, tc.want)
			}
		})
	}
}

func TestBudget_OpenOnlyInsideWindow(t *testing.T) {
	weekdays := map[string]string{ScheduleAnnotationKey: "0 9 * * 1-5", DurationAnnotationKey: "8h", TimeZoneAnnotationKey: "Europe/Berlin"}
	daily := map[string]string{ScheduleAnnotationKey: "0 9 * * *", DurationAnnotationKey: "8h", TimeZoneAnnotationKey: "Europe/Berlin"}
	overnight := map[string]string{ScheduleAnnotationKey: "0 22 * * *", DurationAnnotationKey: "6h", TimeZoneAnnotationKey: "Europe/Berlin"}
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		now         time.Time
		want        bool
	}{
		{name: "no window is always open", annotations: map[string]string{}, now: utc(2025, time.March, 29, 3, 0, 0), want: true},
		{name: "weekday before opening", annotations: weekdays, now: utc(2025, time.March, 28, 7, 59, 59), want: false},         // Fri 08:59:59 CET
		{name: "weekday at opening", annotations: weekdays, now: utc(2025, time.March, 28, 8, 0, 0), want: true},                // Fri 09:00 CET
		{name: "weekday just before closing", annotations: weekdays, now: utc(2025, time.March, 28, 15, 59, 59), want: true},    // Fri 16:59:59 CET
		{name: "weekday at closing", annotations: weekdays, now: utc(2025, time.March, 28, 16, 0, 0), want: false},              // Fri 17:00 CET
		{name: "saturday", annotations: weekdays, now: utc(2025, time.March, 29, 10, 0, 0), want: false},                        // Sat 11:00 CET
		{name: "weekday in summer time", annotations: weekdays, now: utc(2025, time.March, 31, 7, 0, 0), want: true},            // Mon 09:00 CEST
		{name: "weekday in summer time, before", annotations: weekdays, now: utc(2025, time.March, 31, 6, 30, 0), want: false},  // Mon 08:30 CEST
		{name: "weekday in summer time, closing", annotations: weekdays, now: utc(2025, time.March, 31, 15, 0, 0), want: false}, // Mon 17:00 CEST
		{name: "names mon-fri", annotations: map[string]string{ScheduleAnnotationKey: "0 9 * * mon-fri", DurationAnnotationKey: "8h", TimeZoneAnnotationKey: "Europe/Berlin"},
			now: utc(2025, time.March, 31, 7, 30, 0), want: true}, // Mon 09:30 CEST
		// 2025-03-30: clocks go from 02:00 CET to 03:00 CEST; 09:00 moves from 08:00 to 07:00 UTC.
		{name: "day before spring change, 08:30 CET", annotations: daily, now: utc(2025, time.March, 29, 7, 30, 0), want: false},
		{name: "spring change day, 09:30 CEST", annotations: daily, now: utc(2025, time.March, 30, 7, 30, 0), want: true},
		{name: "day before spring change, 16:30 CET", annotations: daily, now: utc(2025, time.March, 29, 15, 30, 0), want: true},
		{name: "spring change day, 17:30 CEST", annotations: daily, now: utc(2025, time.March, 30, 15, 30, 0), want: false},
		// 2025-10-26: clocks go from 03:00 CEST back to 02:00 CET; 09:00 moves from 07:00 to 08:00 UTC.
		{name: "day before autumn change, 09:30 CEST", annotations: daily, now: utc(2025, time.October, 25, 7, 30, 0), want: true},
		{name: "autumn change day, 08:30 CET", annotations: daily, now: utc(2025, time.October, 26, 7, 30, 0), want: false},
		{name: "autumn change day, 16:30 CET", annotations: daily, now: utc(2025, time.October, 26, 15, 30, 0), want: true},
		{name: "autumn change day, 17:30 CET", annotations: daily, now: utc(2025, time.October, 26, 16, 30, 0), want: false},
		// A window across midnight: 22:00 for 6h.
		{name: "overnight before", annotations: overnight, now: utc(2025, time.January, 10, 20, 59, 0), want: false},        // 21:59 CET
		{name: "overnight evening", annotations: overnight, now: utc(2025, time.January, 10, 21, 0, 0), want: true},         // 22:00 CET
		{name: "overnight after midnight", annotations: overnight, now: utc(2025, time.January, 10, 23, 30, 0), want: true}, // 00:30 CET
		{name: "overnight last second", annotations: overnight, now: utc(2025, time.January, 11, 2, 59, 59), want: true},    // 03:59:59 CET
		{name: "overnight closed", annotations: overnight, now: utc(2025, time.January, 11, 3, 0, 0), want: false},          // 04:00 CET
		// The duration is elapsed time: over the spring change the 6h window ends at 05:00 CEST.
		{name: "overnight across spring change", annotations: overnight, now: utc(2025, time.March, 30, 2, 30, 0), want: true}, // 04:30 CEST
		{name: "overnight across spring change, closed", annotations: overnight, now: utc(2025, time.March, 30, 3, 0, 0), want: false},
		// As with a CronJob, an activation in the skipped hour does not happen that day.
		{name: "activation in the skipped hour", annotations: map[string]string{ScheduleAnnotationKey: "30 2 * * *", DurationAnnotationKey: "2h", TimeZoneAnnotationKey: "Europe/Berlin"},
			now: utc(2025, time.March, 30, 1, 10, 0), want: false}, // 03:10 CEST
		{name: "default time zone is UTC", annotations: map[string]string{ScheduleAnnotationKey: "0 9 * * *", DurationAnnotationKey: "1h"},
			now: utc(2025, time.January, 10, 9, 30, 0), want: true},
		{name: "descriptor @daily", annotations: map[string]string{ScheduleAnnotationKey: "@daily", DurationAnnotationKey: "1h"},
			now: utc(2025, time.January, 10, 0, 30, 0), want: true},
		{name: "descriptor @daily closed", annotations: map[string]string{ScheduleAnnotationKey: "@daily", DurationAnnotationKey: "1h"},
			now: utc(2025, time.January, 10, 1, 0, 0), want: false},
		{name: "descriptor @weekly opens Sunday midnight", annotations: map[string]string{ScheduleAnnotationKey: "@weekly", DurationAnnotationKey: "24h", TimeZoneAnnotationKey: "Europe/Berlin"},
			now: utc(2025, time.January, 12, 12, 0, 0), want: true}, // Sun 13:00 CET
		{name: "descriptor @weekly closed midweek", annotations: map[string]string{ScheduleAnnotationKey: "@weekly", DurationAnnotationKey: "24h", TimeZoneAnnotationKey: "Europe/Berlin"},
			now: utc(2025, time.January, 15, 12, 0, 0), want: false},
		{name: "window longer than period overlaps into always open", annotations: map[string]string{ScheduleAnnotationKey: "@hourly", DurationAnnotationKey: "2h"},
			now: utc(2025, time.January, 10, 17, 59, 59), want: true},
		{name: "schedule that never fires is closed", annotations: map[string]string{ScheduleAnnotationKey: "0 0 30 2 *", DurationAnnotationKey: "24h"},
			now: utc(2025, time.January, 10, 0, 30, 0), want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustParseBudget(t, tc.annotations)
			if got := b.Open(tc.now); got != tc.want {
				t.Errorf("Open(%s) = %v, want %v (budget %q)", tc.now, got, tc.want, b)
			}
			// A closed window allows nothing, whatever the caps.
			if allowed := b.Allowed(tc.now, 10, 0, -1); (allowed > 0) != tc.want {
				t.Errorf("Allowed(%s) = %d with the window open=%v", tc.now, allowed, tc.want)
			}
		})
	}
}

func TestBudget_NextOpen(t *testing.T) {
	weekdays := map[string]string{ScheduleAnnotationKey: "0 9 * * 1-5", DurationAnnotationKey: "8h", TimeZoneAnnotationKey: "Europe/Berlin"}
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		now         time.Time
		want        time.Time
	}{
		{name: "no window: now", annotations: map[string]string{}, now: utc(2025, time.March, 29, 10, 0, 0), want: utc(2025, time.March, 29, 10, 0, 0)},
		{name: "open: now", annotations: weekdays, now: utc(2025, time.March, 28, 9, 0, 0), want: utc(2025, time.March, 28, 9, 0, 0)},
		{name: "weekend: Monday 09:00 CEST, after the spring change", annotations: weekdays,
			now: utc(2025, time.March, 29, 10, 0, 0), want: utc(2025, time.March, 31, 7, 0, 0)},
		{name: "after closing: next morning", annotations: weekdays, now: utc(2025, time.March, 27, 16, 0, 0), want: utc(2025, time.March, 28, 8, 0, 0)},
		{name: "never fires: zero", annotations: map[string]string{ScheduleAnnotationKey: "0 0 30 2 *", DurationAnnotationKey: "1h"},
			now: utc(2025, time.January, 10, 0, 0, 0), want: time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustParseBudget(t, tc.annotations)
			if got := b.NextOpen(tc.now); !got.Equal(tc.want) {
				t.Errorf("NextOpen(%s) = %s, want %s", tc.now, got, tc.want)
			}
		})
	}
}

func TestParseBudget_MalformedAnnotationIsIgnored(t *testing.T) {
	window := func(schedule, duration, zone string) map[string]string {
		return map[string]string{ScheduleAnnotationKey: schedule, DurationAnnotationKey: duration, TimeZoneAnnotationKey: zone}
	}
	with := func(m map[string]string, key, value string) map[string]string {
		m[key] = value
		return m
	}
	// Outside 09:00-17:00 Berlin on a Saturday: a window, had it applied, would be closed.
	saturdayNight := utc(2025, time.March, 29, 22, 0, 0)
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		wantKeys    []string
		// wantAllowed is Allowed(saturdayNight, 10, 0, 3): 3 means no budget and no window,
		// 1 means the budget of 1 survived the other annotation's error.
		wantAllowed int
	}{
		{name: "negative budget", annotations: map[string]string{BudgetAnnotationKey: "-1"}, wantKeys: []string{BudgetAnnotationKey}, wantAllowed: 3},
		{name: "percent over 100", annotations: map[string]string{BudgetAnnotationKey: "101%"}, wantKeys: []string{BudgetAnnotationKey}, wantAllowed: 3},
		{name: "not a number", annotations: map[string]string{BudgetAnnotationKey: "abc"}, wantKeys: []string{BudgetAnnotationKey}, wantAllowed: 3},
		{name: "fraction", annotations: map[string]string{BudgetAnnotationKey: "1.5"}, wantKeys: []string{BudgetAnnotationKey}, wantAllowed: 3},
		{name: "empty budget", annotations: map[string]string{BudgetAnnotationKey: ""}, wantKeys: []string{BudgetAnnotationKey}, wantAllowed: 3},
		{name: "bare percent sign", annotations: map[string]string{BudgetAnnotationKey: "%"}, wantKeys: []string{BudgetAnnotationKey}, wantAllowed: 3},
		{name: "huge number", annotations: map[string]string{BudgetAnnotationKey: "99999999999999999999999"}, wantKeys: []string{BudgetAnnotationKey}, wantAllowed: 3},
		{name: "bad budget keeps a good window", annotations: with(window("0 9 * * *", "8h", "Europe/Berlin"), BudgetAnnotationKey, "abc"),
			wantKeys: []string{BudgetAnnotationKey}, wantAllowed: 0},
		{name: "schedule with 6 fields", annotations: with(window("0 0 9 * * *", "8h", "Europe/Berlin"), BudgetAnnotationKey, "1"),
			wantKeys: []string{ScheduleAnnotationKey}, wantAllowed: 1},
		{name: "schedule with CRON_TZ", annotations: with(window("CRON_TZ=UTC 0 9 * * *", "8h", "Europe/Berlin"), BudgetAnnotationKey, "1"),
			wantKeys: []string{ScheduleAnnotationKey}, wantAllowed: 1},
		{name: "schedule with TZ and no space", annotations: window("TZ=UTC", "8h", "Europe/Berlin"), wantKeys: []string{ScheduleAnnotationKey}, wantAllowed: 3},
		{name: "schedule @every has no start", annotations: window("@every 1h", "8h", "Europe/Berlin"), wantKeys: []string{ScheduleAnnotationKey}, wantAllowed: 3},
		{name: "duration 0s", annotations: with(window("0 9 * * *", "0s", "Europe/Berlin"), BudgetAnnotationKey, "1"),
			wantKeys: []string{DurationAnnotationKey}, wantAllowed: 1},
		{name: "duration negative", annotations: window("0 9 * * *", "-1h", "Europe/Berlin"), wantKeys: []string{DurationAnnotationKey}, wantAllowed: 3},
		{name: "duration not a duration", annotations: window("0 9 * * *", "soon", "Europe/Berlin"), wantKeys: []string{DurationAnnotationKey}, wantAllowed: 3},
		{name: "schedule without duration", annotations: map[string]string{ScheduleAnnotationKey: "0 9 * * *"}, wantKeys: []string{DurationAnnotationKey}, wantAllowed: 3},
		{name: "duration without schedule", annotations: map[string]string{DurationAnnotationKey: "8h"}, wantKeys: []string{DurationAnnotationKey}, wantAllowed: 3},
		{name: "time zone without schedule", annotations: map[string]string{TimeZoneAnnotationKey: "Europe/Berlin"}, wantKeys: []string{TimeZoneAnnotationKey}, wantAllowed: 3},
		{name: "unknown time zone: no window, not a UTC one", annotations: with(window("0 9 * * *", "8h", "Mars/Base"), BudgetAnnotationKey, "1"),
			wantKeys: []string{TimeZoneAnnotationKey}, wantAllowed: 1},
		{name: "Local is not an IANA zone", annotations: window("0 9 * * *", "8h", "Local"), wantKeys: []string{TimeZoneAnnotationKey}, wantAllowed: 3},
		{name: "every window annotation bad", annotations: window("0 9 * *", "soon", "Mars/Base"),
			wantKeys: []string{ScheduleAnnotationKey, DurationAnnotationKey, TimeZoneAnnotationKey}, wantAllowed: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, errs := ParseBudget(tc.annotations)
			if len(errs) != len(tc.wantKeys) {
				t.Fatalf("ParseBudget errors = %v, want one for each of %v", errs, tc.wantKeys)
			}
			for i, err := range errs {
				var annotationErr *AnnotationError
				if !errors.As(err, &annotationErr) || annotationErr.Key != tc.wantKeys[i] {
					t.Errorf("error %d = %v, want an *AnnotationError for %s", i, err, tc.wantKeys[i])
				}
				if !strings.Contains(err.Error(), tc.wantKeys[i]) || !strings.Contains(err.Error(), `"`+tc.annotations[tc.wantKeys[i]]+`"`) {
					t.Errorf("error %q does not name %s and its value %q", err, tc.wantKeys[i], tc.annotations[tc.wantKeys[i]])
				}
			}
			if got := b.Allowed(saturdayNight, 10, 0, 3); got != tc.wantAllowed {
				t.Errorf("Allowed = %d, want %d (budget %q)", got, tc.wantAllowed, b)
			}
		})
	}
}

func TestBudget_String(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		want        string
	}{
		{name: "zero budget", annotations: map[string]string{}, want: ""},
		{name: "nodes", annotations: map[string]string{BudgetAnnotationKey: "2"}, want: "2 node(s)"},
		{name: "percent", annotations: map[string]string{BudgetAnnotationKey: "10%"}, want: "10% of nodes"},
		{name: "nodes and window", annotations: map[string]string{BudgetAnnotationKey: "2", ScheduleAnnotationKey: "0 9 * * 1-5", DurationAnnotationKey: "8h", TimeZoneAnnotationKey: "Europe/Berlin"},
			want: `2 node(s), window "0 9 * * 1-5" for 8h0m0s Europe/Berlin`},
		{name: "window only", annotations: map[string]string{ScheduleAnnotationKey: "@daily", DurationAnnotationKey: "90m"},
			want: `no node cap, window "@daily" for 1h30m0s UTC`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParseBudget(t, tc.annotations).String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
