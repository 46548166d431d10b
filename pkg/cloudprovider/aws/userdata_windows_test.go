package aws_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha1"
	"github.com/kerf-autoscaler/kerf/pkg/apis/v1alpha5"
)

// eksBootstrapCall reads the Start-EKSBootstrap.ps1 call out of Windows user data the way
// PowerShell would: the script path, then -Name 'value' pairs with ” standing for one quote. It
// also returns the PowerShell lines that run before the call.
func eksBootstrapCall(t *testing.T, userData string) (args map[string]string, before []string) {
	t.Helper()
	body, ok := strings.CutPrefix(userData, "<powershell>\n")
	if !ok || !strings.HasSuffix(body, "\n</powershell>\n") || strings.Count(userData, "<powershell>") != 1 {
		t.Fatalf("user data is not one <powershell> block:\n%s", userData)
	}
	body = strings.TrimSuffix(body, "\n</powershell>\n")
	lines := strings.Split(body, "\n")
	var script, call string
	for i, line := range lines {
		if rest, ok := strings.CutPrefix(line, "[string]$EKSBootstrapScriptFile = "); ok {
			script = rest
			before = lines[:i]
		}
		if rest, ok := strings.CutPrefix(line, "& $EKSBootstrapScriptFile "); ok {
			call = rest
		}
	}
	if script != `"$env:ProgramFiles\Amazon\EKS\Start-EKSBootstrap.ps1"` || call == "" {
		t.Fatalf("no call of the EKS bootstrap script in:\n%s", userData)
	}
	args, err := powerShellArgs(call)
	if err != nil {
		t.Fatalf("reading %q: %v", call, err)
	}
	return args, before
}

func powerShellArgs(s string) (map[string]string, error) {
	args := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		name, rest, ok := strings.Cut(s, " ")
		if !ok || !strings.HasPrefix(name, "-") || !strings.HasPrefix(rest, "'") {
			return nil, fmt.Errorf("want -Name 'value' at %q", s)
		}
		var value strings.Builder
		i := 1
		for ; i < len(rest); i++ {
			if rest[i] == '\'' {
				if i+1 < len(rest) && rest[i+1] == '\'' {
					value.WriteByte('\'')
					i++
					continue
				}
				break
			}
			value.WriteByte(rest[i])
		}
		if i == len(rest) {
			return nil, fmt.Errorf("unterminated quote in %q", rest)
		}
		args[name] = value.String()
		s = rest[i+1:]
	}
	return args, nil
}

func TestUserData_WindowsCallsTheEKSBootstrapWithLabelsTaintsAndKubelet(t *testing.T) {
	for _, tc := range []struct {
		name       string
		family     string
		userData   *string
		wantBefore []string
	}{
		{name: "2019", family: v1alpha1.AMIFamilyWindows2019},
		{name: "2022 with the user's PowerShell first", family: v1alpha1.AMIFamilyWindows2022,
			userData: awssdk.String("<powershell>\nWrite-Host 'it''s mine'\n</powershell>"), wantBefore: []string{"Write-Host 'it''s mine'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, before := eksBootstrapCall(t, render(t, tc.family, bootstrapFixture(tc.userData)))
			if strings.Join(before, "\n") != strings.Join(tc.wantBefore, "\n") {
				t.Errorf("PowerShell before the bootstrap %q, want %q", before, tc.wantBefore)
			}
			for name, want := range map[string]string{"-EKSClusterName": "kerf-test", "-APIServerEndpoint": "https://kerf-test.example.com",
				"-Base64ClusterCA": "Q0EK", "-DNSClusterIP": "10.100.0.10"} {
				if args[name] != want {
					t.Errorf("%s = %q, want %q", name, args[name], want)
				}
			}
			flags := strings.Fields(args["-KubeletExtraArgs"])
			for _, want := range []string{
				"--node-labels=karpenter.sh/provisioner-name=default,node.kubernetes.io/lifecycle=normal,team=ml",
				"--register-with-taints=dedicated=gpu:NoSchedule,node.cilium.io/agent-not-ready:NoExecute",
				"--max-pods=42", "--kube-reserved=cpu=100m,memory=300Mi", "--system-reserved=memory=100Mi",
				"--eviction-hard=memory.available<5%",
			} {
				if !slices.Contains(flags, want) {
					t.Errorf("-KubeletExtraArgs %q lacks %s", flags, want)
				}
			}
			for _, f := range flags {
				if strings.Contains(f, v1alpha5.LabelArch) {
					t.Errorf("-KubeletExtraArgs sets %s, a label the kubelet may not set itself", f)
				}
			}
		})
	}
}

func TestCreate_WindowsInstanceBootstrapsIntoTheCluster(t *testing.T) {
	nt := defaultNodeTemplate(v1alpha1.AMIFamilyWindows2022)
	nt.Spec.AMISelector = map[string]string{"aws-ids": "placeholder"}
	e := newLaunchEnv(t, nt, map[string]float64{"c5.large": 0.085})
	// awsim publishes no Windows images; any amd64 image carries the user data as well.
	nt.Spec.AMISelector["aws-ids"] = e.param("/aws/service/eks/optimized-ami/1.30/amazon-linux-2023/x86_64/standard/recommended/image_id")
	e.cp = e.newCloudProvider()
	m := newMachine("default-win", onDemand())
	m.Spec.Kubelet = &v1alpha5.KubeletConfiguration{MaxPods: awssdk.Int32(30)}
	launched := e.create(m)
	raw, err := base64.StdEncoding.DecodeString(e.instance(launched.Status.ProviderID).UserData)
	if err != nil {
		t.Fatal(err)
	}
	args, _ := eksBootstrapCall(t, string(raw))
	if args["-EKSClusterName"] != testCluster || args["-APIServerEndpoint"] != "https://kerf-test.example.com" {
		t.Errorf("bootstrap arguments %v, want this cluster's", args)
	}
	flags := strings.Fields(args["-KubeletExtraArgs"])
	if !slices.Contains(flags, "--max-pods=30") || !slices.Contains(flags, "--node-labels=karpenter.sh/provisioner-name=default") {
		t.Errorf("-KubeletExtraArgs %q, want the Machine's max pods and provisioner label", flags)
	}
}
