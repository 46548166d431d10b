// Package charts_test renders the Helm chart with the real helm binary and checks every object it
// produces, decoded into its typed Go struct.
package charts_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/kerf-autoscaler/kerf/pkg/apis"
	"github.com/kerf-autoscaler/kerf/pkg/apis/crds"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/operator"
)

const (
	chart = "kerf"
	// kubeVersion is what helm template assumes the cluster runs; it defaults to v1.20.
	kubeVersion = "v1.36.3"
)

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("helm"); err != nil {
		t.Fatal("helm is not on PATH: run `make test`, or put the directory `hack/tools.sh` prints on PATH")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("helm", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// rendered is a chart rendering, decoded.
type rendered struct {
	objects []runtime.Object
}

func render(t *testing.T, set ...string) rendered {
	t.Helper()
	return renderWith(t, "", set...)
}

// renderWith renders with a values file holding valuesYAML (none when empty) and the --set values.
func renderWith(t *testing.T, valuesYAML string, set ...string) rendered {
	t.Helper()
	return renderRelease(t, "kerf", "kerf-system", valuesYAML, set...)
}

// renderRelease renders as release in namespace, as renderWith does.
func renderRelease(t *testing.T, release, namespace, valuesYAML string, set ...string) rendered {
	t.Helper()
	args := []string{"template", release, chart, "--namespace", namespace, "--include-crds", "--kube-version", kubeVersion}
	if valuesYAML != "" {
		file := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(file, []byte(valuesYAML), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", file)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	scheme, err := apis.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	var r rendered
	reader := utilyaml.NewYAMLReader(bufioReader(out))
	for {
		doc, err := reader.Read()
		if err != nil {
			break
		}
		var fields map[string]any
		if err := yaml.Unmarshal(doc, &fields); err != nil {
			t.Fatalf("rendered invalid YAML: %v\n%s", err, doc)
		}
		if len(fields) == 0 { // only comments, e.g. a disabled template
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if runtime.IsNotRegisteredError(err) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatalf("decoding %s: %v", doc, err)
			}
			obj = u
		} else if err != nil {
			t.Fatalf("decoding rendered object: %v\n%s", err, doc)
		}
		r.objects = append(r.objects, obj)
	}
	return r
}

func find[T runtime.Object](r rendered) []T {
	var out []T
	for _, o := range r.objects {
		if typed, ok := o.(T); ok {
			out = append(out, typed)
		}
	}
	return out
}

func one[T runtime.Object](t *testing.T, r rendered) T {
	t.Helper()
	all := find[T](r)
	if len(all) != 1 {
		var zero T
		t.Fatalf("rendered %d objects of type %T, want 1", len(all), zero)
	}
	return all[0]
}

func TestChart_Lints(t *testing.T) {
	if out, err := helm(t, "lint", chart, "--strict", "--set", "settings.aws.clusterName=demo", "--set", demoEndpoint); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
}

// demoEndpoint sets the API server URL new nodes join, which the chart cannot discover.
const demoEndpoint = "settings.clusterEndpoint=https://ABCDEF.gr7.us-east-1.eks.amazonaws.com"

// The cluster's name is the one setting a user must give, under v0.31's key or Kerf's: the
// endpoint, CA and service CIDR new nodes need are read from EKS when not set.
func TestChart_RequiresClusterName(t *testing.T) {
	for _, key := range []string{"settings.aws.clusterName", "settings.clusterName"} {
		if _, err := helm(t, "template", "kerf", chart, "--kube-version", kubeVersion, "--set", key+"=demo"); err != nil {
			t.Errorf("rendering with only %s: %v", key, err)
		}
	}
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{set: []string{demoEndpoint}, want: "settings.aws.clusterName (or settings.clusterName) is required"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			args := []string{"template", "kerf", chart, "--kube-version", kubeVersion}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			out, err := helm(t, args...)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("rendering with only %v: err %v, output %q; want a refusal saying %q", tc.set, err, out, tc.want)
			}
		})
	}
}

func TestChart_CRDsEqualTheGeneratedOnes(t *testing.T) {
	generated, err := crds.Files()
	if err != nil {
		t.Fatal(err)
	}
	inChart, err := filepath.Glob(filepath.Join(chart, "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inChart) != len(generated) {
		t.Errorf("chart has %d CRDs, generated %d: run make generate", len(inChart), len(generated))
	}
	for name, want := range generated {
		got, err := os.ReadFile(filepath.Join(chart, "crds", name))
		if err != nil {
			t.Errorf("chart lacks %s: run make generate", name)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("chart's %s differs from pkg/apis/crds: run make generate", name)
		}
	}
	if n := len(find[*apiextensionsv1.CustomResourceDefinition](render(t, "settings.aws.clusterName=demo", demoEndpoint))); n != len(generated) {
		t.Errorf("helm installs %d CRDs, want %d", n, len(generated))
	}
}

// podEnv resolves the container's environment as the kubelet would for the fields the chart uses.
func podEnv(t *testing.T, c corev1.Container, namespace string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env[e.Name] = namespace
		default:
			t.Errorf("env %s comes from an unexpected source", e.Name)
		}
	}
	return env
}

// options are what the binary makes of the rendered chart: the container's environment over the
// karpenter-global-settings ConfigMap, as a pod would start.
func options(t *testing.T, r rendered) *operator.Options {
	t.Helper()
	d := one[*appsv1.Deployment](t, r)
	env := podEnv(t, d.Spec.Template.Spec.Containers[0], d.Namespace)
	settings := one[*corev1.ConfigMap](t, r)
	if settings.Name != operator.GlobalSettingsConfigMap || settings.Namespace != d.Namespace {
		t.Errorf("settings in ConfigMap %s/%s, want %s in the release namespace %s", settings.Namespace, settings.Name, operator.GlobalSettingsConfigMap, d.Namespace)
	}
	opts, err := operator.ParseOptionsWithSettings(nil, func(k string) string { return env[k] }, settings.Data)
	if err != nil {
		t.Fatalf("the binary refuses the chart's settings: %v", err)
	}
	return opts
}

func TestChart_DefaultValues(t *testing.T) {
	r := render(t, "settings.aws.clusterName=demo", demoEndpoint)
	d := one[*appsv1.Deployment](t, r)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]

	t.Run("two replicas, one leader", func(t *testing.T) {
		if *d.Spec.Replicas != 2 {
			t.Errorf("replicas %d, want 2", *d.Spec.Replicas)
		}
	})
	t.Run("every variable is an option the binary accepts", func(t *testing.T) {
		env := podEnv(t, c, d.Namespace)
		known := map[string]bool{}
		for _, name := range operator.EnvironmentVariables() {
			known[name] = true
		}
		for name := range env {
			if !known[name] {
				t.Errorf("chart sets %s, which no flag reads", name)
			}
		}
		opts := options(t, r)
		if opts.ClusterName != "demo" || opts.LeaderElectionNamespace != "kerf-system" || !opts.LeaderElection || !opts.ENILimitedPodDensity {
			t.Errorf("options from the chart: %+v", opts)
		}
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if int(ports["metrics"]) != opts.MetricsPort || int(ports["health"]) != opts.HealthProbePort {
			t.Errorf("container ports %v disagree with the binary's ports %d and %d", ports, opts.MetricsPort, opts.HealthProbePort)
		}
	})
	t.Run("non-root with a read-only root filesystem", func(t *testing.T) {
		if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
			t.Error("pod may run as root")
		}
		sc := c.SecurityContext
		if sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("container security context %+v, want read-only root, no privilege escalation, all capabilities dropped", sc)
		}
	})
	t.Run("stays off the nodes Kerf manages", func(t *testing.T) {
		want := corev1.NodeSelectorRequirement{Key: v1alpha5.ProvisionerNameLabelKey, Operator: corev1.NodeSelectorOpDoesNotExist}
		terms := pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || !slices.ContainsFunc(terms[0].MatchExpressions, func(r corev1.NodeSelectorRequirement) bool { return cmp.Equal(r, want) }) {
			t.Errorf("node affinity %+v does not keep Kerf off its own nodes", terms)
		}
	})
	t.Run("replicas spread over nodes and zones", func(t *testing.T) {
		podLabels := labels.Set(d.Spec.Template.Labels)
		keys := map[string]bool{}
		for _, tsc := range pod.TopologySpreadConstraints {
			selector := labels.SelectorFromSet(tsc.LabelSelector.MatchLabels)
			if !selector.Matches(podLabels) {
				t.Errorf("spread on %s selects other pods", tsc.TopologyKey)
			}
			keys[tsc.TopologyKey] = true
		}
		if !keys[corev1.LabelHostname] || !keys[corev1.LabelTopologyZone] {
			t.Errorf("spread keys %v, want hostname and zone", keys)
		}
	})
	t.Run("probes hit the health port", func(t *testing.T) {
		if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("probes %s and %s", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
		}
	})
	t.Run("a disruption budget covers the replicas", func(t *testing.T) {
		pdb := one[*policyv1.PodDisruptionBudget](t, r)
		selector := labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels)
		if !selector.Matches(labels.Set(d.Spec.Template.Labels)) || pdb.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("pdb %+v does not allow exactly one replica down", pdb.Spec)
		}
	})
	t.Run("metrics service selects the pods", func(t *testing.T) {
		svc := one[*corev1.Service](t, r)
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) || svc.Spec.Ports[0].Name != "metrics" {
			t.Errorf("service %+v", svc.Spec)
		}
	})
	t.Run("no ServiceMonitor unless asked", func(t *testing.T) {
		if n := len(find[*unstructured.Unstructured](r)); n != 0 {
			t.Errorf("rendered %d untyped objects, want none", n)
		}
	})
	t.Run("RBAC: no wildcards, no secrets, bound to the service account", func(t *testing.T) {
		sa := one[*corev1.ServiceAccount](t, r)
		if pod.ServiceAccountName != sa.Name {
			t.Errorf("pod runs as %q, chart creates %q", pod.ServiceAccountName, sa.Name)
		}
		var rules []rbacv1.PolicyRule
		for _, role := range find[*rbacv1.Role](r) {
			rules = append(rules, role.Rules...)
			if role.Namespace != "kerf-system" {
				t.Errorf("role %s in namespace %q, want the release namespace", role.Name, role.Namespace)
			}
		}
		for _, role := range find[*rbacv1.ClusterRole](r) {
			rules = append(rules, role.Rules...)
		}
		if len(rules) == 0 {
			t.Fatal("no RBAC rules rendered")
		}
		for _, rule := range rules {
			for _, field := range [][]string{rule.Verbs, rule.Resources, rule.APIGroups} {
				if slices.Contains(field, "*") {
					t.Errorf("rule %+v uses a wildcard", rule)
				}
			}
			if slices.Contains(rule.Resources, "secrets") {
				t.Errorf("rule %+v grants access to secrets", rule)
			}
		}
		leases := slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.Resources, "leases") && slices.Contains(r.Verbs, "update")
		})
		if !leases {
			t.Error("no rule lets the controller hold its leader-election lease")
		}
		var subjects [][]rbacv1.Subject
		for _, b := range find[*rbacv1.RoleBinding](r) {
			subjects = append(subjects, b.Subjects)
		}
		for _, b := range find[*rbacv1.ClusterRoleBinding](r) {
			subjects = append(subjects, b.Subjects)
		}
		if want := len(find[*rbacv1.Role](r)) + len(find[*rbacv1.ClusterRole](r)); len(subjects) != want {
			t.Fatalf("%d bindings for %d roles", len(subjects), want)
		}
		for _, s := range subjects {
			if len(s) != 1 || s[0].Name != sa.Name || s[0].Namespace != "kerf-system" {
				t.Errorf("binding subjects %+v, want the chart's service account", s)
			}
		}
	})
}

func TestChart_NonDefaultValues(t *testing.T) {
	r := render(t,
		"settings.clusterName=prod",
		"settings.clusterEndpoint=https://PROD.yl4.eu-west-1.eks.amazonaws.com",
		"settings.interruptionQueue=prod-interruptions",
		"settings.leaderElection=false",
		"logLevel=debug",
		"settings.isolatedVPC=true",
		"replicas=1",
		"serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::111122223333:role/kerf",
		"serviceMonitor.enabled=true",
	)
	d := one[*appsv1.Deployment](t, r)
	opts := options(t, r)
	if opts.ClusterEndpoint != "https://PROD.yl4.eu-west-1.eks.amazonaws.com" || opts.InterruptionQueue != "prod-interruptions" || opts.LeaderElection || opts.LogLevel != "debug" || !opts.IsolatedVPC {
		t.Errorf("settings did not reach the binary: %+v", opts)
	}
	if *d.Spec.Replicas != 1 {
		t.Errorf("replicas %d, want 1", *d.Spec.Replicas)
	}
	sa := one[*corev1.ServiceAccount](t, r)
	if got := sa.Annotations["eks.amazonaws.com/role-arn"]; got != "arn:aws:iam::111122223333:role/kerf" {
		t.Errorf("IRSA annotation %q", got)
	}
	monitors := find[*unstructured.Unstructured](r)
	if len(monitors) != 1 || monitors[0].GetKind() != "ServiceMonitor" {
		t.Fatalf("want one ServiceMonitor, got %d untyped objects", len(monitors))
	}
	port, _, _ := unstructured.NestedSlice(monitors[0].Object, "spec", "endpoints")
	if len(port) != 1 || port[0].(map[string]any)["port"] != "metrics" {
		t.Errorf("ServiceMonitor endpoints %v, want the metrics port", port)
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
