package awsim

import (
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// params reads EC2 Query parameters. EC2 flattens structures and lists into dotted keys
// (LaunchTemplateConfigs.1.Overrides.2.InstanceType), so a params value is a view of the form
// under a prefix.
type params struct {
	values url.Values
	prefix string
}

func newParams(v url.Values) params { return params{values: v} }

func (p params) key(name string) string {
	if p.prefix == "" {
		return name
	}
	return p.prefix + "." + name
}

// str returns the parameter's value, "" when absent.
func (p params) str(name string) string { return p.values.Get(p.key(name)) }

// has reports whether the parameter, or any member under it, is present.
func (p params) has(name string) bool {
	k := p.key(name)
	if _, ok := p.values[k]; ok {
		return true
	}
	for key := range p.values {
		if strings.HasPrefix(key, k+".") {
			return true
		}
	}
	return false
}

// sub is the view of a nested structure.
func (p params) sub(name string) params { return params{values: p.values, prefix: p.key(name)} }

// indexes lists the member numbers of a flattened list, ascending.
func (p params) indexes(name string) []int {
	k := p.key(name) + "."
	seen := map[int]bool{}
	for key := range p.values {
		if !strings.HasPrefix(key, k) {
			continue
		}
		rest := key[len(k):]
		if i := strings.IndexByte(rest, '.'); i >= 0 {
			rest = rest[:i]
		}
		if n, err := strconv.Atoi(rest); err == nil && n > 0 {
			seen[n] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// list returns a flattened list of strings (InstanceId.1, InstanceId.2, ...).
func (p params) list(name string) []string {
	var out []string
	for _, i := range p.indexes(name) {
		out = append(out, p.str(name+"."+strconv.Itoa(i)))
	}
	return out
}

// objects returns the views of a flattened list of structures.
func (p params) objects(name string) []params {
	var out []params
	for _, i := range p.indexes(name) {
		out = append(out, p.sub(name+"."+strconv.Itoa(i)))
	}
	return out
}

// integer parses an optional integer parameter; ok is false when absent.
func (p params) integer(name string) (n int, ok bool, err *apiError) {
	s := p.str(name)
	if s == "" {
		return 0, false, nil
	}
	n, convErr := strconv.Atoi(s)
	if convErr != nil {
		return 0, false, invalidValue(name, s)
	}
	return n, true, nil
}

// boolean parses an optional boolean parameter.
func (p params) boolean(name string) (bool, *apiError) {
	switch s := p.str(name); s {
	case "":
		return false, nil
	case "true", "false":
		return s == "true", nil
	default:
		return false, invalidValue(name, s)
	}
}

// float parses an optional decimal parameter; ok is false when absent.
func (p params) float(name string) (f float64, ok bool, err *apiError) {
	s := p.str(name)
	if s == "" {
		return 0, false, nil
	}
	f, convErr := strconv.ParseFloat(s, 64)
	if convErr != nil || f < 0 {
		return 0, false, invalidValue(name, s)
	}
	return f, true, nil
}

// tags reads a flattened tag list (Tag.N.Key / Tag.N.Value).
func (p params) tags(name string) ([]tag, *apiError) {
	var out []tag
	for _, t := range p.objects(name) {
		if t.str("Key") == "" {
			return nil, missingParameter(t.key("Key"))
		}
		out = append(out, tag{Key: t.str("Key"), Value: t.str("Value")})
	}
	return out, nil
}

// tagSpecifications reads TagSpecification.N and returns the tags for one resource type. A
// resource type the call cannot tag is refused, as EC2 refuses it.
func (p params) tagSpecifications(name, resourceType string, taggable ...string) ([]tag, *apiError) {
	var out []tag
	for _, spec := range p.objects(name) {
		rt := spec.str("ResourceType")
		if rt == "" {
			return nil, missingParameter(spec.key("ResourceType"))
		}
		if rt != resourceType && !slices.Contains(taggable, rt) {
			return nil, invalidValue(spec.key("ResourceType"), rt)
		}
		ts, err := spec.tags("Tag")
		if err != nil {
			return nil, err
		}
		if rt == resourceType {
			out = append(out, ts...)
		}
	}
	return out, nil
}
