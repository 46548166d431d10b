package charts_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

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
// be listed there, nothing listed as published may be gone from the code, nothing listed as not
// published may be published, and a metric's row must give its type and, when it spells its
// labels out, exactly its labels.
func TestChartREADME_MetricsSectionDocumentsEveryMetric(t *testing.T) {
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
	for metric, def := range defined {
		if !documented[metric] {
			t.Errorf("%s (%s) is missing from %s/README.md", metric, def.where, chart)
		}
		if excluded[metric] {
			t.Errorf("%s/README.md lists %s as not published, but %s publishes it", chart, metric, def.where)
		}
		if def.labels != nil && def.kind == "" {
			t.Errorf("the test cannot tell the type of %s: make its collector publish it", metric)
		}
	}
	for metric := range documented {
		if _, ok := defined[metric]; !ok {
			t.Errorf("%s/README.md documents %s, which the code no longer defines", chart, metric)
		}
	}
	for _, row := range tableRows(published) {
		def, ok := defined[row.name]
		if !ok {
			continue // reported above
		}
		if def.kind != "" && row.kind != def.kind {
			t.Errorf("%s/README.md lists %s as a %s, but it is a %s", chart, row.name, row.kind, def.kind)
		}
		if def.labels == nil || row.labels == nil {
			continue // labels not known from the code, or shortened in the README
		}
		if !slices.Equal(row.labels, def.labels) {
			t.Errorf("%s/README.md lists %s with labels %v, but it has %v", chart, row.name, row.labels, def.labels)
		}
	}
}

// documentedRow is one metric named in the first cell of a row of the README's metrics table.
type documentedRow struct {
	name, kind string
	// labels are the labels the row spells out, sorted; nil when the row shortens them
	// ("{…same}", "<node labels>").
	labels []string
}

// tableRows reads the rows "| `name{label,label}` | type | meaning |" of the metrics table.
func tableRows(section string) []documentedRow {
	metric := regexp.MustCompile("`(karpenter_[a-z_]+)(?:\\{([^}`]*)\\})?`")
	plainLabels := regexp.MustCompile(`^[a-z_]+(,[a-z_]+)*$`)
	var rows []documentedRow
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		for _, m := range metric.FindAllStringSubmatch(cells[1], -1) {
			row := documentedRow{name: m[1], kind: strings.TrimSpace(cells[2])}
			switch {
			case m[2] == "":
				row.labels = []string{}
			case plainLabels.MatchString(m[2]):
				row.labels = strings.Split(m[2], ",")
				slices.Sort(row.labels)
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// definedMetric is what the code says of one metric.
type definedMetric struct {
	where string
	// kind is counter, gauge, histogram or summary; empty when only the name is known.
	kind string
	// labels are its variable and constant labels, sorted; nil when unknown.
	labels []string
}

// definedMetrics are the metrics Kerf's collectors describe, and names written whole in the code
// (the build info), each with where it comes from.
func definedMetrics(t *testing.T) map[string]definedMetric {
	t.Helper()
	reg := &collectingRegisterer{}
	for what, err := range map[string]error{
		"cloud provider": second(cloudprovider.NewMetrics(reg, clocktesting.NewFakePassiveClock(time.Now()))),
		"provisioning":   second(provisioning.NewMetrics(reg)),
		"lifecycle":      second(lifecycle.NewMetrics(reg, offerings{})),
		"termination":    second(termination.NewMetrics(reg)),
		"disruption":     second(disruption.NewMetrics(reg, nil, nil)),
		"interruption":   second(interruption.NewMetrics(reg)),
		"cluster":        reg.Register(clustermetrics.New(oneNodeOnePod(t), func() bool { return true })),
	} {
		if err != nil {
			t.Fatalf("registering the %s metrics: %v", what, err)
		}
	}
	defined := map[string]definedMetric{}
	desc := regexp.MustCompile(`fqName: "([a-z_]+)".*constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}`)
	for _, c := range reg.collectors {
		kinds := kindsOf(c)
		descs := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(descs); close(descs) }()
		for d := range descs {
			m := desc.FindStringSubmatch(d.String())
			if m == nil || !strings.HasPrefix(m[1], "karpenter_") {
				continue
			}
			labels := []string{}
			for _, l := range append(strings.Split(m[2], ","), strings.Split(m[3], ",")...) {
				if name, _, _ := strings.Cut(l, "="); name != "" {
					labels = append(labels, name)
				}
			}
			slices.Sort(labels)
			defined[m[1]] = definedMetric{where: "a registered collector", kind: kinds[m[1]], labels: labels}
		}
	}
	whole := regexp.MustCompile(`"(karpenter_[a-z_]+)"`)
	err := filepath.WalkDir("../pkg/operator", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		for _, m := range whole.FindAllStringSubmatch(string(src), -1) {
			defined[m[1]] = definedMetric{where: path}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return defined
}

// kindsOf says the type of each metric c describes: from the vector's Go type, or else from what
// it collects (a plain metric, a gauge function, a collector of constant metrics).
func kindsOf(c prometheus.Collector) map[string]string {
	kinds := map[string]string{}
	vector := ""
	switch c.(type) {
	case *prometheus.CounterVec:
		vector = "counter"
	case *prometheus.GaugeVec:
		vector = "gauge"
	case *prometheus.HistogramVec:
		vector = "histogram"
	case *prometheus.SummaryVec:
		vector = "summary"
	}
	if vector != "" {
		descs := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(descs); close(descs) }()
		for d := range descs {
			if m := regexp.MustCompile(`fqName: "([a-z_]+)"`).FindStringSubmatch(d.String()); m != nil {
				kinds[m[1]] = vector
			}
		}
		return kinds
	}
	metrics := make(chan prometheus.Metric, 256)
	go func() { c.Collect(metrics); close(metrics) }()
	for m := range metrics {
		var out dto.Metric
		if m.Write(&out) != nil {
			continue
		}
		name := regexp.MustCompile(`fqName: "([a-z_]+)"`).FindStringSubmatch(m.Desc().String())
		switch {
		case name == nil:
		case out.Counter != nil:
			kinds[name[1]] = "counter"
		case out.Gauge != nil:
			kinds[name[1]] = "gauge"
		case out.Histogram != nil:
			kinds[name[1]] = "histogram"
		case out.Summary != nil:
			kinds[name[1]] = "summary"
		}
	}
	return kinds
}

// oneNodeOnePod is a cluster whose node and DaemonSet pod make the node and pod collector publish
// every one of its metrics.
func oneNodeOnePod(t *testing.T) client.Reader {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node"}, Status: corev1.NodeStatus{
		Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}, Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}
	controller := true
	limited := corev1.ResourceRequirements{Requests: node.Status.Allocatable, Limits: node.Status.Allocatable}
	daemon := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "daemon", Namespace: "default",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ds", UID: "ds", Controller: &controller}}},
		Spec: corev1.PodSpec{NodeName: "node", Containers: []corev1.Container{{Name: "c", Resources: limited}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pod", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "node", Containers: []corev1.Container{{Name: "c", Resources: limited}}}}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(node, daemon, pod).Build()
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
