package simkubelet

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// parseBottlerocket reads the [settings.kubernetes] tables of Bottlerocket's TOML user data. It
// understands the TOML that settings use (table headers, quoted or bare keys, strings, integers,
// booleans, arrays of strings), not the whole language.
func parseBottlerocket(doc string, s *Settings) error {
	table := ""
	for n, raw := range strings.Split(doc, "\n") {
		line := strings.TrimSpace(stripComment(raw))
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") || strings.HasPrefix(line, "[[") {
				return fmt.Errorf("bottlerocket user data line %d: unsupported table header %q", n+1, line)
			}
			table = strings.Join(splitKey(strings.TrimSpace(line[1:len(line)-1])), ".")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("bottlerocket user data line %d: want key = value, got %q", n+1, line)
		}
		keyParts := splitKey(strings.TrimSpace(k))
		full := strings.Join(append(splitKey(table), keyParts...), ".")
		val, err := tomlValue(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("bottlerocket user data line %d: %w", n+1, err)
		}
		if err := applyBottlerocket(table, keyParts[len(keyParts)-1], full, val, s); err != nil {
			return fmt.Errorf("bottlerocket user data line %d: %w", n+1, err)
		}
	}
	return nil
}

func applyBottlerocket(table, key, full string, val any, s *Settings) error {
	str := func() (string, error) {
		if v, ok := val.(string); ok {
			return v, nil
		}
		return "", fmt.Errorf("%s: want a string", full)
	}
	switch {
	case full == "settings.kubernetes.max-pods":
		n, ok := val.(int64)
		if !ok {
			return fmt.Errorf("%s: want an integer", full)
		}
		s.MaxPods = ptr(int32(n))
	case table == "settings.kubernetes.node-labels":
		v, err := str()
		if err != nil {
			return err
		}
		s.Labels[key] = v
	case table == "settings.kubernetes.node-taints":
		values, ok := val.([]string)
		if !ok {
			return fmt.Errorf("%s: want an array of value:Effect strings", full)
		}
		for _, ve := range values {
			t, err := parseTaint(key + "=" + ve)
			if err != nil {
				return err
			}
			s.Taints = append(s.Taints, t)
		}
	case table == "settings.kubernetes.kube-reserved", table == "settings.kubernetes.system-reserved":
		v, err := str()
		if err != nil {
			return err
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return fmt.Errorf("%s=%s, %w", full, v, err)
		}
		into := s.KubeReserved
		if table == "settings.kubernetes.system-reserved" {
			into = s.SystemReserved
		}
		into[corev1.ResourceName(key)] = q
	case table == "settings.kubernetes.eviction-hard":
		v, err := str()
		if err != nil {
			return err
		}
		s.EvictionHard[key] = v
	}
	return nil
}

// splitKey splits a dotted TOML key, unquoting quoted parts ('a.b'.c -> [a.b c]).
func splitKey(k string) []string {
	var parts []string
	for k != "" {
		k = strings.TrimSpace(k)
		var part string
		if k[0] == '\'' || k[0] == '"' {
			end := strings.IndexByte(k[1:], k[0])
			if end < 0 {
				return append(parts, k)
			}
			part, k = k[1:1+end], k[2+end:]
		} else if i := strings.IndexByte(k, '.'); i >= 0 {
			part, k = strings.TrimSpace(k[:i]), k[i:]
		} else {
			part, k = k, ""
		}
		parts = append(parts, part)
		k = strings.TrimPrefix(strings.TrimSpace(k), ".")
	}
	return parts
}

// tomlValue parses a string, integer, boolean or array of strings.
func tomlValue(v string) (any, error) {
	switch {
	case strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") && len(v) >= 2:
		return v[1 : len(v)-1], nil
	case strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`) && len(v) >= 2:
		return strconv.Unquote(v)
	case v == "true" || v == "false":
		return v == "true", nil
	case strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]"):
		var out []string
		for _, item := range strings.Split(v[1:len(v)-1], ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			s, err := tomlValue(item)
			if err != nil {
				return nil, err
			}
			str, ok := s.(string)
			if !ok {
				return nil, fmt.Errorf("array item %s is not a string", item)
			}
			out = append(out, str)
		}
		return out, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("unsupported value %q", v)
	}
	return n, nil
}

// stripComment drops a # comment outside quotes.
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '\'' || c == '"'):
			quote = c
		case quote == 0 && c == '#':
			return line[:i]
		}
	}
	return line
}
