package aws_test

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
	"github.com/kerf-autoscaler/kerf/test/awsim/simkubelet"
)

// bootstrapFixture has a label the kubelet may not set, a startup taint without a value and
// every reserved-resource knob the node model reads.
func bootstrapFixture(userData *string) aws.BootstrapOptions {
	return aws.BootstrapOptions{
		ClusterName: "kerf-test", ClusterEndpoint: "https://kerf-test.example.com", CABundle: "Q0EK", ClusterCIDR: "10.100.0.0/16",
		Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: "default", "team": "ml", v1alpha5.LabelArch: "amd64",
			"node.kubernetes.io/lifecycle": "normal"},
		Taints: []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule},
			{Key: "node.cilium.io/agent-not-ready", Effect: corev1.TaintEffectNoExecute}},
		Kubelet: &v1alpha5.KubeletConfiguration{
			MaxPods:        awssdk.Int32(42),
			ClusterDNS:     []string{"10.100.0.10"},
			KubeReserved:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("300Mi")},
			SystemReserved: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")},
			EvictionHard:   map[string]string{"memory.available": "5%"},
		},
		CustomUserData: userData,
	}
}

func render(t *testing.T, family string, opts aws.BootstrapOptions) string {
	t.Helper()
	b, err := aws.NewBootstrapper(family, opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.UserData()
	if err != nil {
		t.Fatalf("%s user data: %v", family, err)
	}
	again, _ := b.UserData()
	if again != out {
		t.Errorf("%s user data differs between renders; equal Machines would not share a launch template", family)
	}
	return out
}

func TestUserData_NodeModelReadsLabelsTaintsAndKubeletSettings(t *testing.T) {
	for _, family := range []string{v1alpha1.AMIFamilyAL2, v1alpha1.AMIFamilyAL2023, v1alpha1.AMIFamilyBottlerocket, v1alpha1.AMIFamilyUbuntu} {
		t.Run(family, func(t *testing.T) {
			ud := render(t, family, bootstrapFixture(nil))
			s, err := simkubelet.ParseUserData([]byte(ud))
			if err != nil {
				t.Fatalf("node model cannot read it: %v\n%s", err, ud)
			}
			if s.Labels["team"] != "ml" || s.Labels[v1alpha5.ProvisionerNameLabelKey] != "default" || s.Labels["node.kubernetes.io/lifecycle"] != "normal" {
				t.Errorf("labels %v, want team, provisioner-name and node.kubernetes.io/lifecycle", s.Labels)
			}
			if _, ok := s.Labels[v1alpha5.LabelArch]; ok {
				t.Errorf("labels %v include %s, which the kubelet refuses to set", s.Labels, v1alpha5.LabelArch)
			}
			taints := map[string]bool{}
			for _, tn := range s.Taints {
				taints[tn.ToString()] = true
			}
			if len(s.Taints) != 2 || !taints["dedicated=gpu:NoSchedule"] || !taints["node.cilium.io/agent-not-ready:NoExecute"] {
				t.Errorf("taints %v, want the taint and the startup taint", s.Taints)
			}
			if s.MaxPods == nil || *s.MaxPods != 42 {
				t.Errorf("max pods %v, want 42", s.MaxPods)
			}
			if q := s.KubeReserved[corev1.ResourceMemory]; q.Cmp(resource.MustParse("300Mi")) != 0 {
				t.Errorf("kube-reserved %v, want memory 300Mi", s.KubeReserved)
			}
			if q := s.SystemReserved[corev1.ResourceMemory]; q.Cmp(resource.MustParse("100Mi")) != 0 {
				t.Errorf("system-reserved %v, want memory 100Mi", s.SystemReserved)
			}
			if s.EvictionHard["memory.available"] != "5%" {
				t.Errorf("eviction-hard %v, want memory.available 5%%", s.EvictionHard)
			}
		})
	}
}

func TestUserData_AL2GoldenBootstrap(t *testing.T) {
	opts := aws.BootstrapOptions{ClusterName: "kerf-test", ClusterEndpoint: "https://kerf-test.example.com", CABundle: "Q0EK",
		Labels: map[string]string{v1alpha5.ProvisionerNameLabelKey: "default"},
		Taints: []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}}
	want := "MIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"//kerf-boundary//\"\n\n" +
		"--//kerf-boundary//\r\nContent-Type: text/x-shellscript\r\n\r\n" +
		"#!/bin/bash -xe\n" +
		"exec > >(tee /var/log/user-data.log|logger -t user-data -s 2>/dev/console) 2>&1\n" +
		"/etc/eks/bootstrap.sh 'kerf-test' --apiserver-endpoint 'https://kerf-test.example.com' --b64-cluster-ca 'Q0EK' \\\n" +
		"--container-runtime 'containerd' \\\n" +
		"--kubelet-extra-args '--node-labels=karpenter.sh/provisioner-name=default --register-with-taints=dedicated=gpu:NoSchedule'\n" +
		"\r\n--//kerf-boundary//--\r\n"
	if got := render(t, v1alpha1.AMIFamilyAL2, opts); got != want {
		t.Errorf("AL2 user data:\n%s\nwant:\n%s", got, want)
	}
}

func TestUserData_MergesTheUsersData(t *testing.T) {
	tests := []struct {
		name, family, user string
		check              func(t *testing.T, ud string)
	}{
		{"AL2 runs the user's script before bootstrap.sh", v1alpha1.AMIFamilyAL2, "#!/bin/bash\necho user-setup\n",
			func(t *testing.T, ud string) {
				user, boot := strings.Index(ud, "echo user-setup"), strings.Index(ud, "/etc/eks/bootstrap.sh")
				if user < 0 || boot < 0 || user > boot {
					t.Errorf("user script at %d, bootstrap at %d:\n%s", user, boot, ud)
				}
			}},
		{"AL2 keeps every part of the user's MIME archive", v1alpha1.AMIFamilyAL2,
			"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\n\n--BOUNDARY\nContent-Type: text/cloud-config\n\npackages: [jq]\n--BOUNDARY\nContent-Type: text/x-shellscript\n\n#!/bin/bash\necho two\n--BOUNDARY--\n",
			func(t *testing.T, ud string) {
				if !strings.Contains(ud, "Content-Type: text/cloud-config") || !strings.Contains(ud, "packages: [jq]") || !strings.Contains(ud, "echo two") {
					t.Errorf("user parts lost:\n%s", ud)
				}
			}},
		{"AL2023 puts the user's NodeConfig first so Kerf's settings win", v1alpha1.AMIFamilyAL2023,
			"apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    config:\n      maxPods: 7\n      shutdownGracePeriod: 30s\n",
			func(t *testing.T, ud string) {
				if !strings.Contains(ud, "shutdownGracePeriod: 30s") || strings.Count(ud, "Content-Type: application/node.eks.aws") != 2 {
					t.Errorf("want two NodeConfig parts, the user's kept:\n%s", ud)
				}
				s, err := simkubelet.ParseUserData([]byte(ud))
				if err != nil || s.MaxPods == nil || *s.MaxPods != 42 {
					t.Errorf("max pods %v (%v), want Kerf's 42 over the user's 7", s.MaxPods, err)
				}
			}},
		{"Bottlerocket keeps the user's settings and merges labels", v1alpha1.AMIFamilyBottlerocket,
			"[settings]\nmotd = \"hello\"\n[settings.kubernetes]\nmax-pods = 7\n[settings.kubernetes.node-labels]\n\"from-user\" = \"yes\"\n",
			func(t *testing.T, ud string) {
				var doc struct {
					Settings struct {
						Motd       string `toml:"motd"`
						Kubernetes struct {
							ClusterName string            `toml:"cluster-name"`
							APIServer   string            `toml:"api-server"`
							MaxPods     int               `toml:"max-pods"`
							Labels      map[string]string `toml:"node-labels"`
							Taints      map[string][]any  `toml:"node-taints"`
						} `toml:"kubernetes"`
					} `toml:"settings"`
				}
				if _, err := toml.Decode(ud, &doc); err != nil {
					t.Fatalf("not TOML: %v\n%s", err, ud)
				}
				k := doc.Settings.Kubernetes
				if doc.Settings.Motd != "hello" || k.MaxPods != 42 || k.Labels["from-user"] != "yes" || k.Labels["team"] != "ml" ||
					k.ClusterName != "kerf-test" || k.APIServer != "https://kerf-test.example.com" || len(k.Taints["dedicated"]) != 1 {
					t.Errorf("merged settings %+v", doc.Settings)
				}
			}},
		{"Custom passes the user's data through untouched", v1alpha1.AMIFamilyCustom, "#!/bin/bash\n/opt/my-bootstrap --fancy\n",
			func(t *testing.T, ud string) {
				if ud != "#!/bin/bash\n/opt/my-bootstrap --fancy\n" {
					t.Errorf("Custom user data changed:\n%s", ud)
				}
			}},
		{"Windows runs the user's PowerShell before the EKS bootstrap", v1alpha1.AMIFamilyWindows2022, "<powershell>\nWrite-Host user\n</powershell>",
			func(t *testing.T, ud string) {
				user, boot := strings.Index(ud, "Write-Host user"), strings.Index(ud, "Start-EKSBootstrap.ps1")
				if user < 0 || boot < user || strings.Count(ud, "<powershell>") != 1 || !strings.Contains(ud, "--node-labels=") {
					t.Errorf("windows user data:\n%s", ud)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, render(t, tc.family, bootstrapFixture(awssdk.String(tc.user))))
		})
	}
}

// No value from a manifest reaches the kubelet's flags or config unless it is a valid label or
// taint: "a,team=admin" would add a label of its own, a quote or a space would end the flag.
func TestUserData_RefusesLabelsAndTaintsThatAreNotValidLabels(t *testing.T) {
	for name, change := range map[string]func(*aws.BootstrapOptions){
		"a label value with a space":              func(o *aws.BootstrapOptions) { o.Labels["bad"] = "two words" },
		"a label value that adds a label":         func(o *aws.BootstrapOptions) { o.Labels["team"] = "a,team=admin" },
		"a label value with a quote":              func(o *aws.BootstrapOptions) { o.Labels["team"] = `a"` },
		"a label key with a space":                func(o *aws.BootstrapOptions) { o.Labels["my team"] = "a" },
		"a taint value that adds a taint":         func(o *aws.BootstrapOptions) { o.Taints[0].Value = "gpu,x=y:NoExecute" },
		"a taint key that is not a label key":     func(o *aws.BootstrapOptions) { o.Taints[0].Key = "dedicated=gpu" },
		"a label value longer than 63 characters": func(o *aws.BootstrapOptions) { o.Labels["team"] = strings.Repeat("a", 64) },
	} {
		for _, family := range []string{v1alpha1.AMIFamilyAL2, v1alpha1.AMIFamilyAL2023, v1alpha1.AMIFamilyBottlerocket} {
			opts := bootstrapFixture(nil)
			change(&opts)
			if _, err := aws.NewBootstrapper(family, opts); err == nil || !strings.Contains(err.Error(), "must be valid Kubernetes labels") {
				t.Errorf("%s, %s: %v, want it refused", name, family, err)
			}
		}
	}
	opts := bootstrapFixture(nil)
	if _, err := aws.NewBootstrapper("Gentoo", opts); err == nil {
		t.Errorf("an unknown family rendered")
	}
	bad := bootstrapFixture(awssdk.String("[settings\nnot toml"))
	b, _ := aws.NewBootstrapper(v1alpha1.AMIFamilyBottlerocket, bad)
	if _, err := b.UserData(); err == nil || !strings.Contains(err.Error(), "parsing Bottlerocket user data as TOML") {
		t.Errorf("err = %v, want a TOML error", err)
	}
}

// nodeadm will not start an AL2023 node without the cluster's service CIDR: Kerf refuses to
// render such a node rather than launch one that never joins. The other families do not need it.
func TestUserData_AL2023WithoutTheServiceCIDRIsRefused(t *testing.T) {
	opts := bootstrapFixture(nil)
	opts.ClusterCIDR = ""
	for _, family := range []string{v1alpha1.AMIFamilyAL2023, v1alpha1.AMIFamilyAL2, v1alpha1.AMIFamilyBottlerocket} {
		_, err := aws.NewBootstrapper(family, opts)
		if refused := err != nil && strings.Contains(err.Error(), "--cluster-cidr"); refused != (family == v1alpha1.AMIFamilyAL2023) {
			t.Errorf("%s without a service CIDR: %v", family, err)
		}
	}
}

// A Provisioner's soft-eviction settings reach Bottlerocket nodes as Bottlerocket's own settings,
// as they reach the kubelet flags of the other families: none is accepted and dropped.
func TestUserData_BottlerocketCarriesSoftEviction(t *testing.T) {
	opts := bootstrapFixture(nil)
	opts.Kubelet.EvictionSoft = map[string]string{"memory.available": "10%"}
	opts.Kubelet.EvictionSoftGracePeriod = map[string]metav1.Duration{"memory.available": {Duration: 90 * time.Second}}
	opts.Kubelet.EvictionMaxPodGracePeriod = awssdk.Int32(60)
	b, err := aws.NewBootstrapper(v1alpha1.AMIFamilyBottlerocket, opts)
	if err != nil {
		t.Fatal(err)
	}
	ud, err := b.UserData()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Settings struct {
			Kubernetes struct {
				EvictionSoft      map[string]string `toml:"eviction-soft"`
				EvictionSoftGrace map[string]string `toml:"eviction-soft-grace-period"`
				EvictionMaxGrace  int64             `toml:"eviction-max-pod-grace-period"`
			} `toml:"kubernetes"`
		} `toml:"settings"`
	}
	if _, err := toml.Decode(ud, &doc); err != nil {
		t.Fatal(err)
	}
	k := doc.Settings.Kubernetes
	if k.EvictionSoft["memory.available"] != "10%" || k.EvictionSoftGrace["memory.available"] != "1m30s" || k.EvictionMaxGrace != 60 {
		t.Errorf("Bottlerocket settings %+v, want soft eviction at 10%% after 1m30s with a 60 s grace:\n%s", k, ud)
	}
}
