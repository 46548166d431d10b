// Package crds embeds the CustomResourceDefinitions generated from pkg/apis, so tests and tooling
// install exactly what the chart ships.
package crds

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

//go:embed *.yaml
var files embed.FS

// Files returns the name and content of every CRD manifest, sorted by name.
func Files() (map[string][]byte, error) {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("listing crds, %w", err)
	}
	out := make(map[string][]byte, len(names))
	for _, name := range names {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading %s, %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// CustomResourceDefinitions decodes every embedded CRD, sorted by name.
func CustomResourceDefinitions() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	all, err := Files()
	if err != nil {
		return nil, err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for name, b := range all {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(b, crd); err != nil {
			return nil, fmt.Errorf("decoding %s, %w", name, err)
		}
		crds = append(crds, crd)
	}
	sort.Slice(crds, func(i, j int) bool { return crds[i].Name < crds[j].Name })
	return crds, nil
}
