package charts_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Karpenter v0.31's getting-started command installs Kerf's chart as it is, and the controller
// gets what it said.
func TestChart_KarpenterV031GettingStartedInstall(t *testing.T) {
	r := render(t,
		`serviceAccount.annotations.eks\.amazonaws\.com/role-arn=arn:aws:iam::111122223333:role/KarpenterControllerRole-demo`,
		"settings.aws.clusterName=demo",
		"settings.aws.defaultInstanceProfile=KarpenterNodeInstanceProfile-demo",
		"settings.aws.interruptionQueueName=demo",
		"controller.resources.requests.cpu=1",
		"controller.resources.requests.memory=1Gi",
		"controller.resources.limits.cpu=1",
		"controller.resources.limits.memory=1Gi",
	)
	opts := options(t, r)
	if opts.ClusterName != "demo" || opts.DefaultInstanceProfile != "KarpenterNodeInstanceProfile-demo" || opts.InterruptionQueue != "demo" {
		t.Errorf("the controller would run for cluster %q, profile %q, queue %q", opts.ClusterName, opts.DefaultInstanceProfile, opts.InterruptionQueue)
	}
	c := one[*appsv1.Deployment](t, r).Spec.Template.Spec.Containers[0]
	if cpu := c.Resources.Limits.Cpu(); cpu.String() != "1" {
		t.Errorf("cpu limit %s, want 1", cpu)
	}
	if role := one[*corev1.ServiceAccount](t, r).Annotations["eks.amazonaws.com/role-arn"]; !strings.HasSuffix(role, "KarpenterControllerRole-demo") {
		t.Errorf("service account role %q", role)
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
		{"log levels: v0.31's warn logs as info", []string{"logLevel=warn"}, func(t *testing.T, r rendered) {
			if opts := options(t, r); opts.LogLevel != "info" {
				t.Errorf("log level %q", opts.LogLevel)
			}
		}},
		{"log levels: logConfig's controller level", []string{"logLevel=", "logConfig.logLevel.controller=debug"}, func(t *testing.T, r rendered) {
			if opts := options(t, r); opts.LogLevel != "debug" {
				t.Errorf("log level %q", opts.LogLevel)
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

// Where Kerf's own key and v0.31's name the same setting, Kerf's wins when set.
func TestChart_KerfsKeyWinsOverV031s(t *testing.T) {
	o := options(t, render(t, "settings.aws.clusterName=v031", "settings.clusterName=kerf",
		"settings.aws.interruptionQueueName=v031-queue", "settings.interruptionQueue=kerf-queue",
		"settings.aws.isolatedVPC=true", "settings.isolatedVPC=false"))
	if o.ClusterName != "kerf" || o.InterruptionQueue != "kerf-queue" || o.IsolatedVPC {
		t.Errorf("cluster %q, queue %q, isolated %v; want Kerf's keys", o.ClusterName, o.InterruptionQueue, o.IsolatedVPC)
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
