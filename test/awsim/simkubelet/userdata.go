package simkubelet

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// Settings is what user data tells the kubelet about its node.
type Settings struct {
	Labels         map[string]string
	Taints         []corev1.Taint
	MaxPods        *int32
	KubeReserved   corev1.ResourceList
	SystemReserved corev1.ResourceList
	// EvictionHard maps a signal (memory.available, nodefs.available) to a quantity or percentage.
	EvictionHard map[string]string

	// nodeadm is set when a NodeConfig was read: AL2023's nodeadm then needs the cluster fields.
	nodeadm bool
	cluster nodeConfigCluster
}

// nodeConfigCluster is the cluster a NodeConfig joins; later documents override earlier fields.
type nodeConfigCluster struct {
	Name                 string `json:"name"`
	APIServerEndpoint    string `json:"apiServerEndpoint"`
	CertificateAuthority string `json:"certificateAuthority"`
	CIDR                 string `json:"cidr"`
}

func newSettings() Settings {
	return Settings{Labels: map[string]string{}, KubeReserved: corev1.ResourceList{}, SystemReserved: corev1.ResourceList{}, EvictionHard: map[string]string{}}
}

// ParseUserData reads decoded (not base64) user data in any of the formats EKS nodes boot from:
// a MIME multi-part archive whose parts are shell scripts or NodeConfig documents, a bare shell
// script, a bare NodeConfig, or Bottlerocket TOML. Later parts override earlier ones.
func ParseUserData(raw []byte) (Settings, error) {
	s, err := parseUserData(raw)
	if err == nil && s.nodeadm {
		err = s.cluster.validate()
	}
	return s, err
}

// validate refuses, as nodeadm does before it starts the kubelet, a NodeConfig whose merged
// cluster section lacks a field the node needs to join.
func (c nodeConfigCluster) validate() error {
	var missing []string
	for field, v := range map[string]string{"name": c.Name, "apiServerEndpoint": c.APIServerEndpoint,
		"certificateAuthority": c.CertificateAuthority, "cidr": c.CIDR} {
		if v == "" {
			missing = append(missing, field)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("nodeadm: NodeConfig spec.cluster is missing %s", strings.Join(missing, ", "))
	}
	if _, _, err := net.ParseCIDR(c.CIDR); err != nil {
		return fmt.Errorf("nodeadm: NodeConfig spec.cluster.cidr %q is not a CIDR", c.CIDR)
	}
	return nil
}

func parseUserData(raw []byte) (Settings, error) {
	s := newSettings()
	trimmed := bytes.TrimSpace(raw)
	switch {
	case len(trimmed) == 0:
		return s, nil
	case bytes.HasPrefix(trimmed, []byte("MIME-Version:")) || bytes.HasPrefix(trimmed, []byte("Content-Type: multipart")):
		return s, parseMIME(trimmed, &s)
	case bytes.HasPrefix(trimmed, []byte("#!")):
		return s, parseBootstrapScript(string(trimmed), &s)
	case bytes.Contains(trimmed, []byte("kind: NodeConfig")):
		return s, parseNodeConfig(trimmed, &s)
	case bytes.Contains(trimmed, []byte("[settings")):
		return s, parseBottlerocket(string(trimmed), &s)
	}
	return s, fmt.Errorf("unrecognised user data format")
}

func parseMIME(raw []byte, s *Settings) error {
	msg, err := mail.ReadMessage(bytes.NewReader(append(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), '\n')))
	if err != nil {
		return fmt.Errorf("reading MIME user data, %w", err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return fmt.Errorf("reading MIME user data, no multipart boundary")
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading MIME part, %w", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			return fmt.Errorf("reading MIME part, %w", err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/x-shellscript":
			err = parseBootstrapScript(string(body), s)
		case "application/node.eks.aws":
			err = parseNodeConfig(body, s)
		}
		if err != nil {
			return err
		}
	}
}

// parseBootstrapScript finds the /etc/eks/bootstrap.sh call (AL2) and reads the kubelet flags in
// its --kubelet-extra-args.
func parseBootstrapScript(script string, s *Settings) error {
	joined := strings.ReplaceAll(script, "\\\n", " ")
	sc := bufio.NewScanner(strings.NewReader(joined))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "/etc/eks/bootstrap.sh") {
			continue
		}
		words, err := shellWords(line[strings.Index(line, "/etc/eks/bootstrap.sh"):])
		if err != nil {
			return fmt.Errorf("parsing bootstrap.sh arguments, %w", err)
		}
		for i := 0; i < len(words); i++ {
			if words[i] == "--kubelet-extra-args" && i+1 < len(words) {
				flags, err := shellWords(words[i+1])
				if err != nil {
					return fmt.Errorf("parsing --kubelet-extra-args, %w", err)
				}
				if err := applyKubeletFlags(flags, s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// shellWords splits a command line as a POSIX shell would for quoting (no expansion).
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				cur.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, fmt.Errorf("unterminated double quote")
			}
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			i = len(line)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// applyKubeletFlags reads the kubelet command-line flags that shape a node.
func applyKubeletFlags(flags []string, s *Settings) error {
	for _, f := range flags {
		name, value, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
		var err error
		switch name {
		case "node-labels":
			for _, kv := range splitList(value) {
				k, v, _ := strings.Cut(kv, "=")
				s.Labels[k] = v
			}
		case "register-with-taints":
			for _, t := range splitList(value) {
				taint, perr := parseTaint(t)
				if perr != nil {
					return perr
				}
				s.Taints = append(s.Taints, taint)
			}
		case "max-pods":
			n, perr := strconv.ParseInt(value, 10, 32)
			if perr != nil {
				return fmt.Errorf("--max-pods=%s, %w", value, perr)
			}
			s.MaxPods = ptr(int32(n))
		case "kube-reserved":
			err = parseResourceFlag(value, s.KubeReserved)
		case "system-reserved":
			err = parseResourceFlag(value, s.SystemReserved)
		case "eviction-hard":
			for _, kv := range splitList(value) {
				k, v, ok := strings.Cut(kv, "<")
				if !ok {
					return fmt.Errorf("--eviction-hard entry %q has no '<'", kv)
				}
				s.EvictionHard[k] = v
			}
		}
		if err != nil {
			return fmt.Errorf("--%s, %w", name, err)
		}
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseTaint reads key[=value]:Effect.
func parseTaint(t string) (corev1.Taint, error) {
	kv, effect, ok := strings.Cut(t, ":")
	if !ok {
		return corev1.Taint{}, fmt.Errorf("taint %q has no effect", t)
	}
	k, v, _ := strings.Cut(kv, "=")
	switch e := corev1.TaintEffect(effect); e {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		return corev1.Taint{Key: k, Value: v, Effect: e}, nil
	}
	return corev1.Taint{}, fmt.Errorf("taint %q has unknown effect %q", t, effect)
}

func parseResourceFlag(v string, into corev1.ResourceList) error {
	for _, kv := range splitList(v) {
		k, q, _ := strings.Cut(kv, "=")
		qty, err := resource.ParseQuantity(q)
		if err != nil {
			return fmt.Errorf("%s=%s, %w", k, q, err)
		}
		into[corev1.ResourceName(k)] = qty
	}
	return nil
}

// nodeConfig is the part of AL2023's nodeadm NodeConfig that shapes a node.
type nodeConfig struct {
	Kind string `json:"kind"`
	Spec struct {
		Cluster nodeConfigCluster `json:"cluster"`
		Kubelet struct {
			Config struct {
				MaxPods            *int32            `json:"maxPods"`
				KubeReserved       map[string]string `json:"kubeReserved"`
				SystemReserved     map[string]string `json:"systemReserved"`
				EvictionHard       map[string]string `json:"evictionHard"`
				RegisterWithTaints []corev1.Taint    `json:"registerWithTaints"`
			} `json:"config"`
			Flags []string `json:"flags"`
		} `json:"kubelet"`
	} `json:"spec"`
}

func parseNodeConfig(doc []byte, s *Settings) error {
	var nc nodeConfig
	if err := yaml.Unmarshal(doc, &nc); err != nil {
		return fmt.Errorf("parsing NodeConfig, %w", err)
	}
	if nc.Kind != "NodeConfig" {
		return fmt.Errorf("parsing NodeConfig, kind %q", nc.Kind)
	}
	s.nodeadm = true
	for _, f := range []struct {
		into *string
		v    string
	}{{&s.cluster.Name, nc.Spec.Cluster.Name},
		{&s.cluster.APIServerEndpoint, nc.Spec.Cluster.APIServerEndpoint},
		{&s.cluster.CertificateAuthority, nc.Spec.Cluster.CertificateAuthority}, {&s.cluster.CIDR, nc.Spec.Cluster.CIDR}} {
		if f.v != "" {
			*f.into = f.v
		}
	}
	k := nc.Spec.Kubelet
	if k.Config.MaxPods != nil {
		s.MaxPods = k.Config.MaxPods
	}
	for name, m := range map[string]map[string]string{"kubeReserved": k.Config.KubeReserved, "systemReserved": k.Config.SystemReserved} {
		into := s.KubeReserved
		if name == "systemReserved" {
			into = s.SystemReserved
		}
		for r, q := range m {
			qty, err := resource.ParseQuantity(q)
			if err != nil {
				return fmt.Errorf("NodeConfig %s.%s=%s, %w", name, r, q, err)
			}
			into[corev1.ResourceName(r)] = qty
		}
	}
	for sig, v := range k.Config.EvictionHard {
		s.EvictionHard[sig] = v
	}
	s.Taints = append(s.Taints, k.Config.RegisterWithTaints...)
	return applyKubeletFlags(k.Flags, s)
}

func ptr[T any](v T) *T { return &v }
