package charts_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kerf-autoscaler/kerf/pkg/operator"
)

// Karpenter v0.31's getting-started command installs Kerf's chart as it is, and the controller
// gets what it said.
func TestChart_KarpenterV031GettingStartedInstall(t *testing.T) {
	r := renderRelease(t, "karpenter", "karpenter", "",
		`serviceAccount.annotations.eks\.amazonaws\.com/role-arn=arn:aws:iam::111122223333:role/KarpenterControllerRole-demo`,
		"settings.aws.clusterName=demo",
		"settings.aws.defaultInstanceProfile=KarpenterNodeInstanceProfile-demo",
		"settings.aws.interruptionQueueName=demo",
		"controller.resources.requests.cpu=1",
		"controller.resources.requests.memory=1Gi",
		"controller.resources.limits.cpu=1",
		"controller.resources.limits.memory=1Gi",
	)
	settings := settingsData(t, r)
	for key, want := range map[string]string{
		"aws.clusterName":            "demo",
		"aws.defaultInstanceProfile": "KarpenterNodeInstanceProfile-demo",
		"aws.interruptionQueueName":  "demo",
	} {
		if settings[key] != want {
			t.Errorf("karpenter-global-settings %s = %q, want %q", key, settings[key], want)
		}
	}
	env := controllerEnv(t, r)
	for _, name := range []string{"CLUSTER_NAME", "DEFAULT_INSTANCE_PROFILE", "INTERRUPTION_QUEUE"} {
		if v, ok := env[name]; ok {
			t.Errorf("the container sets %s=%q, which would hide the ConfigMap's value from a kubectl edit", name, v)
		}
	}
	opts := options(t, r)
	if opts.ClusterName != "demo" || opts.DefaultInstanceProfile != "KarpenterNodeInstanceProfile-demo" || opts.InterruptionQueue != "demo" {
		t.Errorf("the controller would run for cluster %q, profile %q, queue %q", opts.ClusterName, opts.DefaultInstanceProfile, opts.InterruptionQueue)
	}
	c := one[*appsv1.Deployment](t, r).Spec.Template.Spec.Containers[0]
	want := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	if !equalResources(c.Resources.Requests, want) || !equalResources(c.Resources.Limits, want) {
		t.Errorf("resources %+v, want 1 CPU and 1Gi requested and limited", c.Resources)
	}
	// The guide's IAM role trusts system:serviceaccount:karpenter:karpenter.
	sa := one[*corev1.ServiceAccount](t, r)
	if role := sa.Annotations["eks.amazonaws.com/role-arn"]; role != "arn:aws:iam::111122223333:role/KarpenterControllerRole-demo" {
		t.Errorf("service account role %q", role)
	}
	if sa.Namespace != "karpenter" || sa.Name != "karpenter" {
		t.Errorf("service account %s/%s; the IAM role's trust policy names karpenter/karpenter", sa.Namespace, sa.Name)
	}
	if name := one[*appsv1.Deployment](t, r).Spec.Template.Spec.ServiceAccountName; name != "karpenter" {
		t.Errorf("the controller runs as %q", name)
	}
	for _, b := range find[*rbacv1.ClusterRoleBinding](r) {
		if s := b.Subjects[0]; s.Name != "karpenter" || s.Namespace != "karpenter" {
			t.Errorf("cluster role bound to %s/%s", s.Namespace, s.Name)
		}
	}
}

// Every key of Karpenter v0.31's values layout lands where a v0.31 user expects it.
func TestChart_KarpenterV031ValuesRenderWhereTheyShould(t *testing.T) {
	deployment := func(r rendered, t *testing.T) *appsv1.Deployment { return one[*appsv1.Deployment](t, r) }
	pod := func(r rendered, t *testing.T) corev1.PodSpec { return deployment(r, t).Spec.Template.Spec }
	for _, tc := range []struct {
		name  string
		set   []string
		check func(t *testing.T, r rendered)
	}{
		{"fullnameOverride names the objects", []string{"fullnameOverride=karpenter"}, func(t *testing.T, r rendered) {
			if d := deployment(r, t); d.Name != "karpenter" || one[*corev1.Service](t, r).Name != "karpenter" {
				t.Errorf("deployment %s", d.Name)
			}
		}},
		{"nameOverride names the app label", []string{"nameOverride=karpenter"}, func(t *testing.T, r rendered) {
			if l := deployment(r, t).Spec.Template.Labels["app.kubernetes.io/name"]; l != "karpenter" {
				t.Errorf("app label %q", l)
			}
		}},
		{"additionalLabels and additionalAnnotations on every object", []string{"additionalLabels.team=platform", "additionalAnnotations.owner=sre"}, func(t *testing.T, r rendered) {
			for _, o := range r.objects {
				u, ok := o.(interface {
					GetLabels() map[string]string
					GetAnnotations() map[string]string
					GetName() string
				})
				if !ok {
					continue
				}
				if _, crd := o.(interface{ GetGeneration() int64 }); crd && strings.Contains(u.GetName(), ".") {
					continue // the CRDs are the API's, not the release's
				}
				if u.GetLabels()["team"] != "platform" || u.GetAnnotations()["owner"] != "sre" {
					t.Errorf("%T %s: labels %v, annotations %v", o, u.GetName(), u.GetLabels(), u.GetAnnotations())
				}
			}
		}},
		{"image by digest, with v0.31's pull policy", []string{"controller.image.repository=example.com/kerf", "controller.image.digest=sha256:" + strings.Repeat("ab", 32), "imagePullPolicy=Always"}, func(t *testing.T, r rendered) {
			c := pod(r, t).Containers[0]
			if c.Image != "example.com/kerf@sha256:"+strings.Repeat("ab", 32) || c.ImagePullPolicy != corev1.PullAlways {
				t.Errorf("image %s, pull policy %s", c.Image, c.ImagePullPolicy)
			}
		}},
		{"controller env, envFrom, volumes and a sidecar", []string{"controller.env[0].name=HTTPS_PROXY", "controller.env[0].value=http://proxy:3128",
			"controller.envFrom[0].configMapRef.name=proxy", "extraVolumes[0].name=token", "extraVolumes[0].emptyDir.medium=Memory",
			"controller.extraVolumeMounts[0].name=token", "controller.extraVolumeMounts[0].mountPath=/var/run/token",
			"controller.sidecarContainer[0].name=proxy", "controller.sidecarContainer[0].image=example.com/proxy",
			"controller.sidecarVolumeMounts[0].name=cache", "controller.sidecarVolumeMounts[0].mountPath=/cache"}, func(t *testing.T, r rendered) {
			p := pod(r, t)
			c := p.Containers[0]
			if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "HTTPS_PROXY" }) || len(c.EnvFrom) != 1 ||
				len(c.VolumeMounts) != 1 || len(p.Volumes) != 1 {
				t.Errorf("controller container %+v, volumes %+v", c, p.Volumes)
			}
			if len(p.Containers) != 2 || p.Containers[1].Name != "proxy" || len(p.Containers[1].VolumeMounts) != 2 {
				t.Errorf("sidecar %+v, want it with the extra and its own volume mounts", p.Containers[1:])
			}
		}},
		{"pod-level settings", []string{"podSecurityContext.fsGroup=65536", "terminationGracePeriodSeconds=90", "hostNetwork=true",
			"dnsPolicy=ClusterFirstWithHostNet", "dnsConfig.nameservers[0]=169.254.20.10", "revisionHistoryLimit=3",
			"strategy.type=Recreate", "strategy.rollingUpdate=null"}, func(t *testing.T, r rendered) {
			d := deployment(r, t)
			p := d.Spec.Template.Spec
			if *p.SecurityContext.FSGroup != 65536 || !*p.SecurityContext.RunAsNonRoot || *p.TerminationGracePeriodSeconds != 90 || !p.HostNetwork ||
				p.DNSPolicy != corev1.DNSClusterFirstWithHostNet || p.DNSConfig == nil || *d.Spec.RevisionHistoryLimit != 3 ||
				d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("pod %+v, deployment %+v", p, d.Spec)
			}
		}},
		{"ports", []string{"controller.metrics.port=8080", "controller.healthProbe.port=8082"}, func(t *testing.T, r rendered) {
			opts := options(t, r)
			if opts.MetricsPort != 8080 || opts.HealthProbePort != 8082 || one[*corev1.Service](t, r).Spec.Ports[0].Port != 8080 {
				t.Errorf("ports %d and %d", opts.MetricsPort, opts.HealthProbePort)
			}
		}},
		{"PodDisruptionBudget name", []string{"podDisruptionBudget.name=karpenter"}, func(t *testing.T, r rendered) {
			if pdb := one[*policyv1.PodDisruptionBudget](t, r); pdb.Name != "karpenter" || pdb.Spec.MaxUnavailable.IntValue() != 1 {
				t.Errorf("pdb %s %+v", pdb.Name, pdb.Spec)
			}
		}},
		{"additionalClusterRoleRules", []string{"additionalClusterRoleRules[0].apiGroups[0]=example.com", "additionalClusterRoleRules[0].resources[0]=widgets",
			"additionalClusterRoleRules[0].verbs[0]=get"}, func(t *testing.T, r rendered) {
			role := one[*rbacv1.ClusterRole](t, r)
			if !slices.ContainsFunc(role.Rules, func(rule rbacv1.PolicyRule) bool { return slices.Contains(rule.Resources, "widgets") }) {
				t.Errorf("cluster role rules %+v lack the additional rule", role.Rules)
			}
		}},
		{"ServiceMonitor endpointConfig", []string{"serviceMonitor.enabled=true", "serviceMonitor.endpointConfig.interval=15s"}, func(t *testing.T, r rendered) {
			monitor := one[*unstructured.Unstructured](t, r)
			endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
			if len(endpoints) != 1 || endpoints[0].(map[string]any)["interval"] != "15s" || endpoints[0].(map[string]any)["port"] != "metrics" {
				t.Errorf("endpoints %v", endpoints)
			}
		}},
		{"the controller image's tag", []string{"controller.image.tag=v1.2.3"}, func(t *testing.T, r rendered) {
			if c := pod(r, t).Containers[0]; c.Image != "ghcr.io/kerf-autoscaler/kerf-controller:v1.2.3" {
				t.Errorf("image %s", c.Image)
			}
		}},
		{"imagePullSecrets", []string{"imagePullSecrets[0].name=registry"}, func(t *testing.T, r rendered) {
			if s := pod(r, t).ImagePullSecrets; len(s) != 1 || s[0].Name != "registry" {
				t.Errorf("image pull secrets %+v", s)
			}
		}},
		{"replicas", []string{"replicas=3"}, func(t *testing.T, r rendered) {
			if n := *deployment(r, t).Spec.Replicas; n != 3 {
				t.Errorf("replicas %d", n)
			}
		}},
		{"podLabels and podAnnotations on the pods", []string{"podLabels.team=platform", "podAnnotations.example\\.com/owner=sre"}, func(t *testing.T, r rendered) {
			meta := deployment(r, t).Spec.Template.ObjectMeta
			if meta.Labels["team"] != "platform" || meta.Annotations["example.com/owner"] != "sre" {
				t.Errorf("pod labels %v, annotations %v", meta.Labels, meta.Annotations)
			}
		}},
		{"scheduling: priority class, node selector, affinity, tolerations, spread", []string{"priorityClassName=high",
			"nodeSelector.pool=system", "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey=kubernetes.io/hostname",
			"tolerations[0].key=dedicated", "tolerations[0].operator=Exists",
			"topologySpreadConstraints[0].maxSkew=2", "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
			"topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule", "topologySpreadConstraints[0].labelSelector.matchLabels.app=karpenter"}, func(t *testing.T, r rendered) {
			p := pod(r, t)
			// Helm merges maps with the defaults: the anti-affinity comes beside the rule that keeps
			// Kerf off its own nodes.
			if p.PriorityClassName != "high" || p.NodeSelector["pool"] != "system" || p.Affinity.PodAntiAffinity == nil || p.Affinity.NodeAffinity == nil {
				t.Errorf("priority class %q, node selector %v, affinity %+v", p.PriorityClassName, p.NodeSelector, p.Affinity)
			}
			if len(p.Tolerations) != 1 || p.Tolerations[0].Key != "dedicated" {
				t.Errorf("tolerations %+v, want only the given one", p.Tolerations)
			}
			if tsc := p.TopologySpreadConstraints; len(tsc) != 1 || tsc[0].MaxSkew != 2 || tsc[0].LabelSelector.MatchLabels["app"] != "karpenter" {
				t.Errorf("spread %+v, want the given constraint with its own selector", tsc)
			}
		}},
		{"controller securityContext merged over Kerf's", []string{"controller.securityContext.runAsUser=1000"}, func(t *testing.T, r rendered) {
			sc := pod(r, t).Containers[0].SecurityContext
			if *sc.RunAsUser != 1000 || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
				t.Errorf("security context %+v", sc)
			}
		}},
		{"an existing service account", []string{"serviceAccount.create=false", "serviceAccount.name=karpenter"}, func(t *testing.T, r rendered) {
			if n := len(find[*corev1.ServiceAccount](r)); n != 0 || pod(r, t).ServiceAccountName != "karpenter" {
				t.Errorf("%d service accounts rendered, pod runs as %q", n, pod(r, t).ServiceAccountName)
			}
			for _, b := range find[*rbacv1.ClusterRoleBinding](r) {
				if b.Subjects[0].Name != "karpenter" {
					t.Errorf("cluster role bound to %s", b.Subjects[0].Name)
				}
			}
		}},
		{"PodDisruptionBudget maxUnavailable", []string{"podDisruptionBudget.maxUnavailable=50%"}, func(t *testing.T, r rendered) {
			if pdb := one[*policyv1.PodDisruptionBudget](t, r); pdb.Spec.MaxUnavailable.String() != "50%" || pdb.Spec.MinAvailable != nil {
				t.Errorf("pdb %+v", pdb.Spec)
			}
		}},
		{"PodDisruptionBudget minAvailable replaces maxUnavailable", []string{"podDisruptionBudget.minAvailable=1"}, func(t *testing.T, r rendered) {
			if pdb := one[*policyv1.PodDisruptionBudget](t, r); pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Spec.MaxUnavailable != nil {
				t.Errorf("pdb %+v, want minAvailable only (the API refuses both)", pdb.Spec)
			}
		}},
		{"no PodDisruptionBudget", []string{"podDisruptionBudget=null"}, func(t *testing.T, r rendered) {
			if n := len(find[*policyv1.PodDisruptionBudget](r)); n != 0 {
				t.Errorf("%d budgets rendered", n)
			}
		}},
		{"ServiceMonitor additionalLabels", []string{"serviceMonitor.enabled=true", "serviceMonitor.additionalLabels.release=prometheus"}, func(t *testing.T, r rendered) {
			if l := one[*unstructured.Unstructured](t, r).GetLabels(); l["release"] != "prometheus" {
				t.Errorf("ServiceMonitor labels %v", l)
			}
		}},
		{"the settings v0.31's getting-started guide sets", []string{"settings.aws.defaultInstanceProfile=KarpenterNodeInstanceProfile-demo",
			"settings.aws.interruptionQueueName=demo", "settings.batchIdleDuration=2s"}, func(t *testing.T, r rendered) {
			o := options(t, r)
			if o.ClusterName != "demo" || o.DefaultInstanceProfile != "KarpenterNodeInstanceProfile-demo" || o.InterruptionQueue != "demo" || o.BatchIdleDuration != 2*time.Second {
				t.Errorf("options %+v", o)
			}
		}},
		{"every settings.aws key", []string{"settings.aws.enablePodENI=true", "settings.aws.enableENILimitedPodDensity=false", "settings.aws.reservedENIs=1",
			"settings.aws.tags.team=payments", "settings.aws.assumeRoleARN=arn:aws:iam::111122223333:role/Kerf", "settings.aws.assumeRoleDuration=1h",
			"settings.aws.nodeNameConvention=resource-name", "settings.aws.isolatedVPC=true", "settings.aws.vmMemoryOverheadPercent=0.05",
			"settings.aws.clusterEndpoint=https://demo.example", "settings.featureGates.driftEnabled=true", "settings.batchMaxDuration=20s"}, func(t *testing.T, r rendered) {
			o := options(t, r)
			if !o.EnablePodENI || o.ENILimitedPodDensity || o.ReservedENIs != 1 || o.Tags["team"] != "payments" || o.AssumeRoleARN == "" ||
				o.AssumeRoleDuration != time.Hour || o.NodeNameConvention != "resource-name" || !o.IsolatedVPC || o.VMMemoryOverheadPercent != 0.05 ||
				o.ClusterEndpoint != "https://demo.example" || !o.DriftEnabled || o.BatchMaxDuration != 20*time.Second {
				t.Errorf("options %+v", o)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, render(t, append([]string{"settings.aws.clusterName=demo"}, tc.set...)...))
		})
	}
}

// extraObjects are rendered with the release, templates and all.
func TestChart_ExtraObjects(t *testing.T) {
	r := renderWith(t, `
extraObjects:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: "{{ .Release.Name }}-extra"
`, "settings.aws.clusterName=demo")
	if !slices.ContainsFunc(find[*corev1.ConfigMap](r), func(cm *corev1.ConfigMap) bool { return cm.Name == "kerf-extra" }) {
		t.Error("no kerf-extra ConfigMap rendered")
	}
}

// Where Kerf's own key and v0.31's name the same thing, Kerf's wins when both are set, as the
// README's "Which key wins" says.
func TestChart_KerfsKeyWinsOverV031s(t *testing.T) {
	for _, tc := range []struct {
		kerf, v031 string
		check      func(t *testing.T, r rendered)
	}{
		{"settings.clusterName=kerf", "settings.aws.clusterName=v031", func(t *testing.T, r rendered) {
			if o := options(t, r); o.ClusterName != "kerf" {
				t.Errorf("cluster %q", o.ClusterName)
			}
		}},
		{"settings.clusterEndpoint=https://kerf.example", "settings.aws.clusterEndpoint=https://v031.example", func(t *testing.T, r rendered) {
			if o := options(t, r); o.ClusterEndpoint != "https://kerf.example" {
				t.Errorf("endpoint %q", o.ClusterEndpoint)
			}
		}},
		{"settings.defaultInstanceProfile=kerf-profile", "settings.aws.defaultInstanceProfile=v031-profile", func(t *testing.T, r rendered) {
			if o := options(t, r); o.DefaultInstanceProfile != "kerf-profile" {
				t.Errorf("instance profile %q", o.DefaultInstanceProfile)
			}
		}},
		{"settings.interruptionQueue=kerf-queue", "settings.aws.interruptionQueueName=v031-queue", func(t *testing.T, r rendered) {
			if o := options(t, r); o.InterruptionQueue != "kerf-queue" {
				t.Errorf("queue %q", o.InterruptionQueue)
			}
		}},
		{"settings.isolatedVPC=false", "settings.aws.isolatedVPC=true", func(t *testing.T, r rendered) {
			if o := options(t, r); o.IsolatedVPC {
				t.Error("isolated VPC on; Kerf's false should win")
			}
		}},
		{"settings.vmMemoryOverheadPercent=0.1", "settings.aws.vmMemoryOverheadPercent=0.05", func(t *testing.T, r rendered) {
			if o := options(t, r); o.VMMemoryOverheadPercent != 0.1 {
				t.Errorf("overhead %v", o.VMMemoryOverheadPercent)
			}
		}},
		{"image.repository=kerf.example/kerf", "controller.image.repository=v031.example/kerf", func(t *testing.T, r rendered) {
			if c := controller(t, r); !strings.HasPrefix(c.Image, "kerf.example/kerf:") {
				t.Errorf("image %s", c.Image)
			}
		}},
		{"image.tag=kerf", "controller.image.digest=sha256:" + strings.Repeat("ab", 32), func(t *testing.T, r rendered) {
			if c := controller(t, r); !strings.HasSuffix(c.Image, ":kerf") {
				t.Errorf("image %s, want Kerf's tag over v0.31's digest", c.Image)
			}
		}},
		{"image.pullPolicy=Never", "imagePullPolicy=Always", func(t *testing.T, r rendered) {
			if c := controller(t, r); c.ImagePullPolicy != corev1.PullNever {
				t.Errorf("pull policy %s", c.ImagePullPolicy)
			}
		}},
		{"resources.requests.cpu=2", "controller.resources.requests.cpu=1", func(t *testing.T, r rendered) {
			c := controller(t, r)
			if cpu := c.Resources.Requests[corev1.ResourceCPU]; cpu.String() != "2" || len(c.Resources.Limits) != 0 {
				t.Errorf("resources %+v, want Kerf's whole object in place of v0.31's", c.Resources)
			}
		}},
		{"ports.metrics=9000", "controller.metrics.port=8080", func(t *testing.T, r rendered) {
			if o := options(t, r); o.MetricsPort != 9000 || one[*corev1.Service](t, r).Spec.Ports[0].Port != 9000 {
				t.Errorf("metrics port %d", o.MetricsPort)
			}
		}},
		{"ports.health=9001", "controller.healthProbe.port=8082", func(t *testing.T, r rendered) {
			if o := options(t, r); o.HealthProbePort != 9001 {
				t.Errorf("health port %d", o.HealthProbePort)
			}
		}},
		{"extraEnv[0].name=HTTPS_PROXY,extraEnv[0].value=http://kerf:3128", "controller.env[0].name=HTTPS_PROXY,controller.env[0].value=http://v031:3128", func(t *testing.T, r rendered) {
			if v := controllerEnv(t, r)["HTTPS_PROXY"]; v != "http://kerf:3128" {
				t.Errorf("HTTPS_PROXY %q, want extraEnv's (it comes later)", v)
			}
		}},
		{"settings.logLevel=error", "controller.logLevel=debug", func(t *testing.T, r rendered) {
			if o := options(t, r); o.LogLevel != "error" {
				t.Errorf("log level %q", o.LogLevel)
			}
		}},
	} {
		t.Run(tc.kerf, func(t *testing.T) {
			tc.check(t, render(t, "settings.aws.clusterName=demo", tc.v031, tc.kerf))
		})
	}
}

// The log level comes from v0.31's keys as v0.31 chose among them, mapped onto Kerf's three levels.
func TestChart_LogLevelFromV031sKeys(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{nil, "info"},
		{[]string{"logLevel=debug"}, "debug"},
		{[]string{"logLevel=warn"}, "info"},
		{[]string{"logLevel=fatal"}, "error"},
		{[]string{"logLevel=dpanic"}, "error"},
		{[]string{"logLevel=error", "controller.logLevel=debug"}, "debug"},
		{[]string{"logLevel=debug", "logConfig.logLevel.controller=error"}, "debug"},
		{[]string{"logConfig.enabled=true", "logConfig.logLevel.controller=error", "controller.logLevel=debug"}, "error"},
		{[]string{"logConfig.enabled=true", "logConfig.logLevel.global=debug"}, "debug"},
		{[]string{"logConfig.enabled=true"}, "info"},
	} {
		t.Run(strings.Join(tc.set, ","), func(t *testing.T) {
			r := render(t, append([]string{"settings.aws.clusterName=demo"}, tc.set...)...)
			if got := controllerEnv(t, r)["LOG_LEVEL"]; got != tc.want {
				t.Errorf("LOG_LEVEL %q, want %q", got, tc.want)
			}
			if o := options(t, r); o.LogLevel != tc.want {
				t.Errorf("the controller would log at %q, want %q", o.LogLevel, tc.want)
			}
		})
	}
	t.Run("a level Kerf cannot map is refused saying how levels map", func(t *testing.T) {
		out, err := helm(t, "template", "kerf", chart, "--kube-version", kubeVersion, "--skip-schema-validation",
			"--set", "settings.aws.clusterName=demo", "--set", "logLevel=trace")
		if err == nil || !strings.Contains(out, `log level "trace": Kerf logs at debug, info or error`) {
			t.Errorf("err %v, output %q", err, out)
		}
	})
}

// The karpenter-global-settings ConfigMap holds v0.31's keys as strings, leaves out the empty
// ones, and a change to it rolls the controller's pods.
func TestChart_SettingsConfigMap(t *testing.T) {
	t.Run("strings, tags as JSON, empty keys left out", func(t *testing.T) {
		data := settingsData(t, render(t, "settings.aws.clusterName=demo", "settings.aws.tags.team=payments",
			"settings.aws.reservedENIs=2", "settings.batchMaxDuration=null", "settings.aws.assumeRoleDuration="))
		want := map[string]string{
			"aws.clusterName":                "demo",
			"aws.enableENILimitedPodDensity": "true",
			"aws.enablePodENI":               "false",
			"aws.isolatedVPC":                "false",
			"aws.nodeNameConvention":         "ip-name",
			"aws.reservedENIs":               "2",
			"aws.tags":                       `{"team":"payments"}`,
			"aws.vmMemoryOverheadPercent":    "0.075",
			"batchIdleDuration":              "1s",
			"featureGates.driftEnabled":      "false",
		}
		if diff := cmp.Diff(want, data); diff != "" {
			t.Errorf("karpenter-global-settings data (-want +got):\n%s", diff)
		}
	})
	checksum := func(set ...string) string {
		t.Helper()
		d := one[*appsv1.Deployment](t, render(t, append([]string{"settings.aws.clusterName=demo"}, set...)...))
		sum := d.Spec.Template.Annotations["checksum/settings"]
		if sum == "" {
			t.Fatal("the pod template has no checksum/settings annotation")
		}
		return sum
	}
	base := checksum()
	if checksum("settings.aws.tags.team=payments") == base || checksum("settings.featureGates.driftEnabled=true") == base {
		t.Error("changing a setting leaves the pod template as it was: helm upgrade would not restart the controller")
	}
	if checksum("replicas=3") != base {
		t.Error("the settings checksum changes with a value that is not a setting")
	}
}

// values.schema.json refuses what the chart would otherwise ignore, naming it.
func TestChart_RefusesMisspeltAndBadValuesNamingThem(t *testing.T) {
	for _, tc := range []struct {
		set  string
		want string
	}{
		{"settings.aws.clusterNme=demo", "clusterNme"},
		{"controller.resouces.requests.cpu=1", "resouces"},
		{"settings.aws.nodeNameConvention=instance-id", "nodeNameConvention"},
		{"settings.batchIdleDuration=soon", "batchIdleDuration"},
		{"logLevel=verbose", "logLevel"},
		{"controller.image.digest=latest", "digest"},
		{"settings.featureGates.driftEnbled=true", "driftEnbled"},
		{"podDisruptionBudget.maxUnavailble=1", "maxUnavailble"},
		{"webhook.prot=8443", "prot"},
		{"logConfig.logLevel.controler=debug", "controler"},
		{"serviceAccount.anotations.a=b", "anotations"},
		{"image.tga=v1", "tga"},
		{"ports.helth=9000", "helth"},
		{"logLevel=trace", "logLevel"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			out, err := helm(t, "template", "kerf", chart, "--kube-version", kubeVersion, "--set", "settings.aws.clusterName=demo", "--set", tc.set)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("err %v, output %q; want a refusal naming %s", err, out, tc.want)
			}
		})
	}
}

// A whole values file written for Karpenter v0.31's chart (as `helm get values` prints it)
// installs unchanged.
func TestChart_AKarpenterV031ValuesFileInstalls(t *testing.T) {
	r := renderWith(t, `
additionalAnnotations: {}
additionalClusterRoleRules: []
additionalLabels: {}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: karpenter.sh/provisioner-name, operator: DoesNotExist}
controller:
  env: []
  envFrom: []
  errorOutputPaths: [stderr]
  extraVolumeMounts: []
  healthProbe: {port: 8081}
  image:
    repository: public.ecr.aws/karpenter/controller
    tag: v0.31.4
    digest: ""
  logEncoding: ""
  logLevel: ""
  metrics: {port: 8080}
  outputPaths: [stdout]
  resources: {}
  securityContext: {}
  sidecarContainer: []
  sidecarVolumeMounts: []
dnsConfig: {}
dnsPolicy: Default
extraVolumes: []
fullnameOverride: ""
hostNetwork: false
imagePullPolicy: IfNotPresent
imagePullSecrets: []
logConfig:
  enabled: false
  errorOutputPaths: [stderr]
  logEncoding: console
  logLevel: {controller: debug, global: info, webhook: error}
  outputPaths: [stdout]
logEncoding: console
logLevel: debug
nameOverride: ""
nodeSelector: {kubernetes.io/os: linux}
podAnnotations: {}
podDisruptionBudget: {maxUnavailable: 1, name: karpenter}
podLabels: {}
podSecurityContext: {fsGroup: 1000}
priorityClassName: system-cluster-critical
replicas: 2
revisionHistoryLimit: 10
serviceAccount:
  annotations: {eks.amazonaws.com/role-arn: "arn:aws:iam::111122223333:role/karpenter"}
  create: true
  name: karpenter
serviceMonitor: {additionalLabels: {}, enabled: false, endpointConfig: {}}
settings:
  aws:
    clusterEndpoint: https://ABCDEF.gr7.us-east-2.eks.amazonaws.com
    clusterName: prod
    defaultInstanceProfile: KarpenterNodeInstanceProfile-prod
    enableENILimitedPodDensity: true
    enablePodENI: false
    interruptionQueueName: prod
    isolatedVPC: false
    nodeNameConvention: ip-name
    reservedENIs: "0"
    tags: null
    vmMemoryOverheadPercent: 0.075
  batchIdleDuration: 1s
  batchMaxDuration: 10s
  featureGates: {driftEnabled: false}
strategy: {rollingUpdate: {maxUnavailable: 1}}
terminationGracePeriodSeconds: null
tolerations:
- {key: CriticalAddonsOnly, operator: Exists}
topologySpreadConstraints:
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
webhook: {enabled: true, logLevel: error, metrics: {port: 8001}, port: 8443}
`)
	o := options(t, r)
	if o.ClusterName != "prod" || o.InterruptionQueue != "prod" || o.MetricsPort != 8080 || o.LogLevel != "debug" {
		t.Errorf("options %+v", o)
	}
	if sa := one[*corev1.ServiceAccount](t, r); sa.Name != "karpenter" {
		t.Errorf("service account %s, want karpenter", sa.Name)
	}
	if c := controller(t, r); c.Image != "ghcr.io/kerf-autoscaler/kerf-controller:dev" {
		t.Errorf("image %s: the file names Karpenter's image, and installing Kerf's chart must run Kerf", c.Image)
	}
}

// Kerf's earlier keys (before the chart took v0.31's layout) still work and win when set.
func TestChart_KerfsEarlierKeysStillWork(t *testing.T) {
	r := render(t, "settings.aws.clusterName=demo", "image.repository=example.com/kerf", "image.tag=v1", "image.pullPolicy=Always",
		"resources.requests.cpu=2", "extraEnv[0].name=HTTPS_PROXY", "extraEnv[0].value=http://proxy:3128", "ports.metrics=9000",
		"settings.logLevel=debug")
	c := one[*appsv1.Deployment](t, r).Spec.Template.Spec.Containers[0]
	o := options(t, r)
	if c.Image != "example.com/kerf:v1" || c.ImagePullPolicy != corev1.PullAlways || c.Resources.Requests.Cpu().String() != "2" ||
		!slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "HTTPS_PROXY" }) || o.MetricsPort != 9000 || o.LogLevel != "debug" {
		t.Errorf("container %+v, options %+v", c, o)
	}
}

// controller is the rendered controller container.
func controller(t *testing.T, r rendered) corev1.Container {
	t.Helper()
	return one[*appsv1.Deployment](t, r).Spec.Template.Spec.Containers[0]
}

// controllerEnv is the controller container's environment as the kubelet resolves it.
func controllerEnv(t *testing.T, r rendered) map[string]string {
	t.Helper()
	d := one[*appsv1.Deployment](t, r)
	return podEnv(t, d.Spec.Template.Spec.Containers[0], d.Namespace)
}

// settingsData is the data of the rendered karpenter-global-settings ConfigMap.
func settingsData(t *testing.T, r rendered) map[string]string {
	t.Helper()
	for _, cm := range find[*corev1.ConfigMap](r) {
		if cm.Name == operator.GlobalSettingsConfigMap {
			return cm.Data
		}
	}
	t.Fatalf("no %s ConfigMap rendered", operator.GlobalSettingsConfigMap)
	return nil
}

func equalResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, q := range a {
		if other, ok := b[name]; !ok || q.Cmp(other) != 0 {
			return false
		}
	}
	return true
}
