package awsim

import "strings"

// filter is one EC2 Filter.N: a name and the values any of which may match.
type filter struct {
	Name   string
	Values []string
}

// fields maps each filter name a Describe call accepts to the values a resource has for it.
// Tag filters (tag:<key>, tag-key, tag-value) are handled for every resource that has tags.
type fields[T any] map[string]func(T) []string

// parseFilters reads Filter.N.Name and Filter.N.Value.M, refusing names the call does not know
// with the error EC2 gives.
func parseFilters[T any](p params, known fields[T], tagged bool) ([]filter, *apiError) {
	var out []filter
	for _, f := range p.objects("Filter") {
		name := f.str("Name")
		if name == "" {
			return nil, missingParameter(f.key("Name"))
		}
		_, ok := known[name]
		if tagged && (strings.HasPrefix(name, "tag:") || name == "tag-key" || name == "tag-value") {
			ok = true
		}
		if !ok {
			return nil, sender(codeInvalidParameterValue, "The filter '%s' is invalid", name)
		}
		out = append(out, filter{Name: name, Values: f.list("Value")})
	}
	return out, nil
}

// matches reports whether x passes every filter (filters AND, values OR).
func matches[T any](x T, filters []filter, known fields[T], tagsOf func(T) []tag) bool {
	for _, f := range filters {
		var have []string
		switch {
		case strings.HasPrefix(f.Name, "tag:") && tagsOf != nil:
			if v, ok := tagValue(tagsOf(x), strings.TrimPrefix(f.Name, "tag:")); ok {
				have = []string{v}
			}
		case f.Name == "tag-key" && tagsOf != nil:
			for _, t := range tagsOf(x) {
				have = append(have, t.Key)
			}
		case f.Name == "tag-value" && tagsOf != nil:
			for _, t := range tagsOf(x) {
				have = append(have, t.Value)
			}
		default:
			have = known[f.Name](x)
		}
		if !anyMatch(f.Values, have) {
			return false
		}
	}
	return true
}

func anyMatch(patterns, have []string) bool {
	for _, p := range patterns {
		for _, h := range have {
			if glob(p, h) {
				return true
			}
		}
	}
	return false
}

// glob matches EC2 filter wildcards: * any run, ? one character, \ escapes the next.
func glob(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for len(pattern) > 0 && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if glob(pattern, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		case '\\':
			if len(pattern) > 1 {
				pattern = pattern[1:]
			}
			fallthrough
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		}
	}
	return s == ""
}

func one(s string) []string { return []string{s} }

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
