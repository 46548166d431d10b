// Package metricstest reads metrics back out of a Prometheus registry, for tests that assert what
// a dashboard would show.
package metricstest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Series returns the series of the metric called name whose labels include every one in labels.
func Series(t testing.TB, registry prometheus.Gatherer, name string, labels map[string]string) []*dto.Metric {
	t.Helper()
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, family := range families {
		if family.GetName() != name {
			continue
		}
	series:
		for _, m := range family.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// Value is the gauge or counter value of the first matching series; false when there is none.
func Value(t testing.TB, registry prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	for _, m := range Series(t, registry, name, labels) {
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// Histogram sums the sample counts and sums of the matching histogram series.
func Histogram(t testing.TB, registry prometheus.Gatherer, name string, labels map[string]string) (count uint64, sum float64) {
	t.Helper()
	for _, m := range Series(t, registry, name, labels) {
		count += m.GetHistogram().GetSampleCount()
		sum += m.GetHistogram().GetSampleSum()
	}
	return count, sum
}
