package charts_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Operators build dashboards and alerts from the chart's README: every metric Kerf defines, under
// its own kerf_ names or Karpenter's karpenter_ names, must be listed there, and nothing listed may be gone from the code.
func TestChartREADME_DocumentsEveryMetric(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(chart, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`((?:kerf|karpenter)_[a-z_]+)").FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}
	defined := map[string]string{}
	name := regexp.MustCompile(`"((?:kerf|karpenter)_[a-z_]+)"`)
	for _, root := range []string{"../pkg", "../cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range name.FindAllStringSubmatch(string(src), -1) {
				defined[m[1]] = path
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(defined) == 0 {
		t.Fatal("found no kerf_ or karpenter_ metric in the code")
	}
	for metric, path := range defined {
		if !documented[metric] {
			t.Errorf("%s (defined in %s) is missing from %s/README.md", metric, path, chart)
		}
	}
	for metric := range documented {
		if _, ok := defined[metric]; !ok {
			t.Errorf("%s/README.md documents %s, which the code no longer defines", chart, metric)
		}
	}
}
