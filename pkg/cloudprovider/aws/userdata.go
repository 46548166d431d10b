package aws

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

// BootstrapOptions is what a node needs to join the cluster and look the way the Machine asked.
type BootstrapOptions struct {
	ClusterName     string
	ClusterEndpoint string
	// CABundle is the cluster's certificate authority, base64-encoded as EKS reports it.
	CABundle string
	// ClusterCIDR is the service CIDR; nodeadm (AL2023) wants it, the other families ignore it.
	ClusterCIDR string
	// Labels the kubelet registers the node with. Keys the kubelet may not set are dropped.
	Labels map[string]string
	// Taints the kubelet registers the node with: the Machine's taints and startup taints.
	Taints  []corev1.Taint
	Kubelet *v1alpha5.KubeletConfiguration
	// CustomUserData is the node template's userData, merged in the family's way.
	CustomUserData *string
}

// Bootstrapper renders the user data of one AMI family.
type Bootstrapper interface {
	// UserData returns the user data in clear text (the launch template encodes it).
	UserData() (string, error)
}

// NewBootstrapper returns the family's renderer.
func NewBootstrapper(family string, opts BootstrapOptions) (Bootstrapper, error) {
	if err := validLabelsAndTaints(opts); err != nil {
		return nil, err
	}
	switch family {
	case v1alpha1.AMIFamilyAL2, v1alpha1.AMIFamilyUbuntu:
		return al2Bootstrap{opts}, nil
	case v1alpha1.AMIFamilyAL2023:
		if opts.ClusterCIDR == "" {
			// nodeadm refuses a NodeConfig without it: the node would never join.
			return nil, fmt.Errorf("AL2023 nodes need the cluster's service CIDR, which Kerf does not know: " +
				"set --cluster-cidr (chart settings.clusterCIDR) or allow eks:DescribeCluster")
		}
		return al2023Bootstrap{opts}, nil
	case v1alpha1.AMIFamilyBottlerocket:
		return bottlerocketBootstrap{opts}, nil
	case v1alpha1.AMIFamilyWindows2019, v1alpha1.AMIFamilyWindows2022:
		return windowsBootstrap{opts}, nil
	case v1alpha1.AMIFamilyCustom:
		return customBootstrap{opts}, nil
	}
	return nil, fmt.Errorf("unknown amiFamily %q", family)
}

// validLabelsAndTaints refuses a label or taint the API server would refuse on a Node. The
// admission schema checks the manifests, but this is the last step before the values become
// kubelet flags and config, where a value such as "a,team=admin" would add a label of its own.
func validLabelsAndTaints(opts BootstrapOptions) error {
	var errs []string
	for k, v := range opts.Labels {
		for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
			errs = append(errs, fmt.Sprintf("label %s=%q: %s", k, v, msg))
		}
	}
	for _, t := range opts.Taints {
		for _, msg := range append(validation.IsQualifiedName(t.Key), validation.IsValidLabelValue(t.Value)...) {
			errs = append(errs, fmt.Sprintf("taint %s=%q: %s", t.Key, t.Value, msg))
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("node labels and taints must be valid Kubernetes labels, %s", strings.Join(errs, "; "))
	}
	return nil
}

// customBootstrap passes the user's data through untouched: a Custom image bootstraps itself.
type customBootstrap struct{ BootstrapOptions }

func (b customBootstrap) UserData() (string, error) {
	if b.CustomUserData == nil {
		return "", nil
	}
	return *b.CustomUserData, nil
}

// al2Bootstrap calls /etc/eks/bootstrap.sh from a MIME multi-part archive that runs the user's
// parts first, so their setup is done before the kubelet starts.
type al2Bootstrap struct{ BootstrapOptions }

func (b al2Bootstrap) UserData() (string, error) {
	extra, err := kubeletFlags(b.BootstrapOptions)
	if err != nil {
		return "", err
	}
	var s strings.Builder
	s.WriteString("#!/bin/bash -xe\n")
	s.WriteString("exec > >(tee /var/log/user-data.log|logger -t user-data -s 2>/dev/console) 2>&1\n")
	fmt.Fprintf(&s, "/etc/eks/bootstrap.sh %s --apiserver-endpoint %s --b64-cluster-ca %s \\\n",
		shellQuote(b.ClusterName), shellQuote(b.ClusterEndpoint), shellQuote(b.CABundle))
	runtime := "containerd"
	if b.Kubelet != nil && b.Kubelet.ContainerRuntime != nil {
		runtime = *b.Kubelet.ContainerRuntime
	}
	fmt.Fprintf(&s, "--container-runtime %s \\\n", shellQuote(runtime))
	if b.Kubelet != nil && len(b.Kubelet.ClusterDNS) > 0 {
		fmt.Fprintf(&s, "--dns-cluster-ip %s \\\n", shellQuote(b.Kubelet.ClusterDNS[0]))
	}
	if b.Kubelet != nil && b.Kubelet.MaxPods != nil {
		// bootstrap.sh would otherwise write its ENI-derived max pods into the kubelet config.
		s.WriteString("--use-max-pods false \\\n")
	}
	fmt.Fprintf(&s, "--kubelet-extra-args %s\n", shellQuote(strings.Join(extra, " ")))
	parts, err := userParts(b.CustomUserData, "text/x-shellscript")
	if err != nil {
		return "", err
	}
	return mimeArchive(append(parts, mimePart{contentType: "text/x-shellscript", body: s.String()}))
}

// windowsBootstrap calls the EKS-optimized Windows image's Start-EKSBootstrap.ps1 after the
// user's PowerShell.
type windowsBootstrap struct{ BootstrapOptions }

func (b windowsBootstrap) UserData() (string, error) {
	extra, err := kubeletFlags(b.BootstrapOptions)
	if err != nil {
		return "", err
	}
	var s strings.Builder
	s.WriteString("<powershell>\n")
	if b.CustomUserData != nil {
		user := strings.TrimSpace(*b.CustomUserData)
		user = strings.TrimSuffix(strings.TrimPrefix(user, "<powershell>"), "</powershell>")
		s.WriteString(strings.TrimSpace(user) + "\n")
	}
	s.WriteString("[string]$EKSBootstrapScriptFile = \"$env:ProgramFiles\\Amazon\\EKS\\Start-EKSBootstrap.ps1\"\n")
	fmt.Fprintf(&s, "& $EKSBootstrapScriptFile -EKSClusterName %s -APIServerEndpoint %s -Base64ClusterCA %s -KubeletExtraArgs %s",
		powerShellQuote(b.ClusterName), powerShellQuote(b.ClusterEndpoint), powerShellQuote(b.CABundle), powerShellQuote(strings.Join(extra, " ")))
	if b.Kubelet != nil && len(b.Kubelet.ClusterDNS) > 0 {
		fmt.Fprintf(&s, " -DNSClusterIP %s", powerShellQuote(b.Kubelet.ClusterDNS[0]))
	}
	s.WriteString("\n</powershell>\n")
	return s.String(), nil
}

// kubeletFlags are the kubelet command-line flags for the Machine's labels, taints and kubelet
// configuration, in a fixed order so equal Machines render equal user data (and share a launch
// template).
func kubeletFlags(o BootstrapOptions) ([]string, error) {
	var flags []string
	if labels := nodeLabels(o.Labels); len(labels) > 0 {
		flags = append(flags, "--node-labels="+strings.Join(labels, ","))
	}
	if taints := taintStrings(o.Taints); len(taints) > 0 {
		flags = append(flags, "--register-with-taints="+strings.Join(taints, ","))
	}
	if k := o.Kubelet; k != nil {
		if k.MaxPods != nil {
			flags = append(flags, fmt.Sprintf("--max-pods=%d", *k.MaxPods))
		}
		if k.PodsPerCore != nil {
			flags = append(flags, fmt.Sprintf("--pods-per-core=%d", *k.PodsPerCore))
		}
		if len(k.SystemReserved) > 0 {
			flags = append(flags, "--system-reserved="+resourceFlag(k.SystemReserved))
		}
		if len(k.KubeReserved) > 0 {
			flags = append(flags, "--kube-reserved="+resourceFlag(k.KubeReserved))
		}
		if len(k.EvictionHard) > 0 {
			flags = append(flags, "--eviction-hard="+signalFlag(k.EvictionHard, "<"))
		}
		if len(k.EvictionSoft) > 0 {
			flags = append(flags, "--eviction-soft="+signalFlag(k.EvictionSoft, "<"))
			periods := map[string]string{}
			for sig, d := range k.EvictionSoftGracePeriod {
				periods[sig] = d.Duration.String()
			}
			flags = append(flags, "--eviction-soft-grace-period="+signalFlag(periods, "="))
		}
		if k.EvictionMaxPodGracePeriod != nil {
			flags = append(flags, fmt.Sprintf("--eviction-max-pod-grace-period=%d", *k.EvictionMaxPodGracePeriod))
		}
		if k.ImageGCHighThresholdPercent != nil {
			flags = append(flags, fmt.Sprintf("--image-gc-high-threshold=%d", *k.ImageGCHighThresholdPercent))
		}
		if k.ImageGCLowThresholdPercent != nil {
			flags = append(flags, fmt.Sprintf("--image-gc-low-threshold=%d", *k.ImageGCLowThresholdPercent))
		}
		if k.CPUCFSQuota != nil {
			flags = append(flags, fmt.Sprintf("--cpu-cfs-quota=%t", *k.CPUCFSQuota))
		}
	}
	for _, f := range flags {
		// The flags travel inside one quoted shell word; labels, taints and quantities never
		// hold these characters when valid, so finding one means bad input, not a quoting job.
		if strings.ContainsAny(f, " \t\n'\"`$\\") {
			return nil, fmt.Errorf("rendering kubelet flags, %q holds a space, quote or shell character", f)
		}
	}
	return flags, nil
}

// nodeLabels returns key=value pairs the kubelet may register itself with, sorted. The kubelet
// refuses labels in the kubernetes.io and k8s.io domains except its own node.kubernetes.io and
// kubelet.kubernetes.io ones; the well-known ones among them it sets itself.
func nodeLabels(labels map[string]string) []string {
	var out []string
	for k, v := range labels {
		if !kubeletMaySet(k) {
			continue
		}
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func kubeletMaySet(key string) bool {
	domain, _, hasDomain := strings.Cut(key, "/")
	if !hasDomain {
		return true
	}
	if key == v1alpha5.LabelInstanceType {
		return false
	}
	for _, allowed := range []string{"node.kubernetes.io", "kubelet.kubernetes.io"} {
		if domain == allowed || strings.HasSuffix(domain, "."+allowed) {
			return true
		}
	}
	for _, restricted := range []string{"kubernetes.io", "k8s.io"} {
		if domain == restricted || strings.HasSuffix(domain, "."+restricted) {
			return false
		}
	}
	return true
}

// taintStrings renders key=value:Effect, sorted, without duplicates.
func taintStrings(taints []corev1.Taint) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range taints {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		s += ":" + string(t.Effect)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func resourceFlag(list corev1.ResourceList) string {
	var out []string
	for name, q := range list {
		out = append(out, string(name)+"="+q.String())
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func signalFlag(m map[string]string, sep string) string {
	var out []string
	for k, v := range m {
		out = append(out, k+sep+v)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// shellQuote wraps s in single quotes for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// powerShellQuote wraps s in single quotes for PowerShell, which escapes a quote by doubling it.
func powerShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// mimePart is one part of a multi-part user data archive.
type mimePart struct {
	contentType string
	body        string
}

// mimeBoundary is fixed so equal inputs render byte-equal archives.
const mimeBoundary = "//kerf-boundary//"

// userParts splits the user's data into MIME parts: the parts of a MIME archive, or the whole
// text as one part of the given content type.
func userParts(userData *string, contentType string) ([]mimePart, error) {
	if userData == nil || strings.TrimSpace(*userData) == "" {
		return nil, nil
	}
	raw := strings.TrimSpace(*userData)
	if !strings.HasPrefix(raw, "MIME-Version:") && !strings.HasPrefix(raw, "Content-Type: multipart") {
		return []mimePart{{contentType: contentType, body: raw + "\n"}}, nil
	}
	msg, err := mail.ReadMessage(strings.NewReader(strings.ReplaceAll(raw, "\r\n", "\n") + "\n"))
	if err != nil {
		return nil, fmt.Errorf("reading MIME user data, %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") || params["boundary"] == "" {
		return nil, fmt.Errorf("reading MIME user data, not a multipart archive with a boundary")
	}
	var parts []mimePart
	reader := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := reader.NextPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading MIME user data part %d, %w", len(parts)+1, err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("reading MIME user data part %d, %w", len(parts)+1, err)
		}
		parts = append(parts, mimePart{contentType: part.Header.Get("Content-Type"), body: string(body)})
	}
}

// mimeArchive renders parts as a multipart/mixed archive cloud-init and nodeadm both read.
func mimeArchive(parts []mimePart) (string, error) {
	var buf bytes.Buffer
	buf.WriteString("MIME-Version: 1.0\n")
	fmt.Fprintf(&buf, "Content-Type: multipart/mixed; boundary=%q\n\n", mimeBoundary)
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary(mimeBoundary); err != nil {
		return "", fmt.Errorf("writing MIME user data, %w", err)
	}
	for _, p := range parts {
		if strings.Contains(p.body, "--"+mimeBoundary) {
			return "", fmt.Errorf("writing MIME user data, a part contains the boundary %q", mimeBoundary)
		}
		ct := p.contentType
		if ct == "" {
			ct = "text/x-shellscript"
		}
		pw, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {ct}})
		if err != nil {
			return "", fmt.Errorf("writing MIME user data, %w", err)
		}
		if _, err := io.WriteString(pw, p.body); err != nil {
			return "", fmt.Errorf("writing MIME user data, %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("writing MIME user data, %w", err)
	}
	return buf.String(), nil
}
