package charts_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// schemaPaths returns every key values.schema.json knows, dotted (settings.aws.clusterName), and
// which of them are leaves: keys whose value has no fixed list of keys of its own.
func schemaPaths(t *testing.T) (all, leaves map[string]bool) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chart, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	type node struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	all, leaves = map[string]bool{}, map[string]bool{}
	var walk func(prefix string, raw json.RawMessage)
	walk = func(prefix string, raw json.RawMessage) {
		var n node
		if err := json.Unmarshal(raw, &n); err != nil {
			t.Fatalf("reading the schema at %q: %v", prefix, err)
		}
		if len(n.Properties) == 0 {
			leaves[prefix] = true
			return
		}
		for name, child := range n.Properties {
			path := strings.TrimPrefix(prefix+"."+name, ".")
			all[path] = true
			walk(path, child)
		}
	}
	walk("", raw)
	return all, leaves
}

// valuesSection is the README's "## Values" section.
func valuesSection(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(chart, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Values\n")
	if !ok {
		t.Fatalf("%s/README.md has no Values section", chart)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return section
}

// firstCellKeys returns, for each table row of section, the backquoted names in its first cell.
func firstCellKeys(section string) []string {
	quoted := regexp.MustCompile("`([^`]+)`")
	var keys []string
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		for _, m := range quoted.FindAllStringSubmatch(cells[1], -1) {
			keys = append(keys, m[1])
		}
	}
	return keys
}

// A user looks a key up in the chart's README: every key the chart accepts is listed there by
// its full name, and every key the README's tables list is one the chart accepts.
func TestChartREADME_ValuesListsEveryKey(t *testing.T) {
	all, leaves := schemaPaths(t)
	section := valuesSection(t)
	for _, key := range slices.Sorted(maps.Keys(leaves)) {
		if !strings.Contains(section, "`"+key+"`") {
			t.Errorf("%s/README.md's Values section does not list `%s`", chart, key)
		}
	}
	for _, key := range firstCellKeys(section) {
		if !all[key] {
			t.Errorf("%s/README.md lists `%s`, which values.schema.json refuses", chart, key)
		}
	}
}

// The keys the README says do nothing (accepted so that v0.31 values files install) change
// nothing the chart installs.
func TestChart_KeysDocumentedAsDoingNothingChangeNothing(t *testing.T) {
	doingNothing := map[string]string{
		"webhook.enabled":             "true",
		"webhook.port":                "9443",
		"webhook.logLevel":            "debug",
		"webhook.metrics.port":        "9001",
		"logConfig.logLevel.webhook":  "debug",
		"logEncoding":                 "console",
		"controller.logEncoding":      "console",
		"logConfig.logEncoding":       "console",
		"controller.outputPaths":      "{stdout,/var/log/kerf.log}",
		"controller.errorOutputPaths": "{stderr,/var/log/kerf.err}",
		"logConfig.outputPaths":       "{stdout}",
		"logConfig.errorOutputPaths":  "{stderr}",
	}
	_, table, ok := strings.Cut(valuesSection(t), "### Accepted, doing nothing\n")
	if !ok {
		t.Fatalf("%s/README.md has no \"Accepted, doing nothing\" table", chart)
	}
	table, _, _ = strings.Cut(table, "\n### ")
	documented := firstCellKeys(table)
	if want := slices.Sorted(maps.Keys(doingNothing)); !slices.Equal(slices.Sorted(slices.Values(documented)), want) {
		t.Fatalf("the README says %v do nothing; this test checks %v", documented, want)
	}
	args := []string{"template", "kerf", chart, "--namespace", "kerf-system", "--kube-version", kubeVersion, "--set", "settings.aws.clusterName=demo"}
	defaults, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, defaults)
	}
	for _, key := range documented {
		args = append(args, "--set", key+"="+doingNothing[key])
	}
	withAll, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm template refuses a v0.31 key: %v\n%s", err, withAll)
	}
	if withAll != defaults {
		t.Errorf("setting %v changed what the chart renders", documented)
	}
}
