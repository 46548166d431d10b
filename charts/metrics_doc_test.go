package charts_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider"
	"github.com/kerf-autoscaler/kerf/pkg/clustermetrics"
	"github.com/kerf-autoscaler/kerf/pkg/disruption"
	"github.com/kerf-autoscaler/kerf/pkg/interruption"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning"
	"github.com/kerf-autoscaler/kerf/pkg/provisioning/lifecycle"
	"github.com/kerf-autoscaler/kerf/pkg/termination"
)

// notPublishedHeading starts the README's list of Karpenter v0.31 metrics Kerf does not publish.
const notPublishedHeading = "### Karpenter v0.31 metrics Kerf does not publish"

// Operators build dashboards and alerts from the chart's README: every metric Kerf publishes must
// be listed there, nothing listed as published may be gone from the code, and nothing listed as
// not published may be published.
func TestChartREADME_DocumentsEveryMetric(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(chart, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	published, notPublished, _ := strings.Cut(string(readme), notPublishedHeading)
	names := regexp.MustCompile("`(karpenter_[a-z_]+)")
	documented, excluded := map[string]bool{}, map[string]bool{}
	for _, m := range names.FindAllStringSubmatch(published, -1) {
		documented[m[1]] = true
	}
	for _, line := range strings.Split(notPublished, "\n") {
		// Only the first cell names what is not published; the reasons name what is.
		if cells := strings.Split(line, "|"); len(cells) > 2 {
			for _, m := range names.FindAllStringSubmatch(cells[1], -1) {
				excluded[m[1]] = true
			}
		}
	}
	defined := definedMetrics(t)
	if len(defined) == 0 {
		t.Fatal("found no karpenter_ metric in the code")
	}
	for metric, where := range defined {
		if !documented[metric] {
			t.Errorf("%s (%s) is missing from %s/README.md", metric, where, chart)
		}
		if excluded[metric] {
			t.Errorf("%s/README.md lists %s as not published, but %s publishes it", chart, metric, where)
		}
	}
	for metric := range documented {
		if _, ok := defined[metric]; !ok {
			t.Errorf("%s/README.md documents %s, which the code no longer defines", chart, metric)
		}
	}
}

// definedMetrics are the metric names Kerf's collectors describe, and names written whole in the
// code (the build info), each with where it comes from.
func definedMetrics(t *testing.T) map[string]string {
	t.Helper()
	reg := &collectingRegisterer{}
	for what, err := range map[string]error{
		"cloud provider": second(cloudprovider.NewMetrics(reg, clocktesting.NewFakePassiveClock(time.Now()))),
		"provisioning":   second(provisioning.NewMetrics(reg)),
		"lifecycle":      second(lifecycle.NewMetrics(reg, offerings{})),
		"termination":    second(termination.NewMetrics(reg)),
		"disruption":     second(disruption.NewMetrics(reg, nil, nil)),
		"interruption":   second(interruption.NewMetrics(reg)),
		"cluster":        reg.Register(clustermetrics.New(nil, func() bool { return false })),
	} {
		if err != nil {
			t.Fatalf("registering the %s metrics: %v", what, err)
		}
	}
	defined := map[string]string{}
	fqName := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for _, c := range reg.collectors {
		descs := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(descs); close(descs) }()
		for d := range descs {
			if m := fqName.FindStringSubmatch(d.String()); m != nil && strings.HasPrefix(m[1], "karpenter_") {
				defined[m[1]] = "a registered collector"
			}
		}
	}
	whole := regexp.MustCompile(`"(karpenter_[a-z_]+)"`)
	err := filepath.WalkDir("../pkg/operator", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		for _, m := range whole.FindAllStringSubmatch(string(src), -1) {
			defined[m[1]] = path
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return defined
}

func second[T any](_ T, err error) error { return err }

// collectingRegisterer keeps what is registered with it.
type collectingRegisterer struct{ collectors []prometheus.Collector }

func (r *collectingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *collectingRegisterer) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *collectingRegisterer) Unregister(prometheus.Collector) bool { return false }

type offerings struct{}

func (offerings) Len() int { return 0 }
