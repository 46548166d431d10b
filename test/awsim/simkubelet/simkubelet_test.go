package simkubelet

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const al2 = `MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="//"

--//
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/bash -xe
exec > >(tee /var/log/user-data.log|logger -t user-data -s 2>/dev/console) 2>&1
/etc/eks/bootstrap.sh 'kerf' --apiserver-endpoint 'https://example' --b64-cluster-ca 'Y2E=' \
--container-runtime containerd \
--use-max-pods false \
--kubelet-extra-args '--node-labels="karpenter.sh/capacity-type=spot,karpenter.sh/provisioner-name=default" --register-with-taints="gpu=true:NoSchedule,dedicated:NoExecute" --max-pods=58 --kube-reserved=cpu=80m,memory=893Mi,ephemeral-storage=1Gi --system-reserved=memory=100Mi --eviction-hard=memory.available<5%,nodefs.available<10%'
--//--
`

const al2023 = `MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="BOUNDARY"

--BOUNDARY
Content-Type: application/node.eks.aws

apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    name: kerf
    apiServerEndpoint: https://example
    certificateAuthority: Y2E=
    cidr: 10.100.0.0/16
  kubelet:
    config:
      maxPods: 58
      kubeReserved:
        cpu: 80m
        memory: 893Mi
        ephemeral-storage: 1Gi
      systemReserved:
        memory: 100Mi
      evictionHard:
        memory.available: 5%
        nodefs.available: 10%
      registerWithTaints:
      - key: gpu
        value: "true"
        effect: NoSchedule
      - key: dedicated
        effect: NoExecute
    flags:
    - --node-labels=karpenter.sh/capacity-type=spot,karpenter.sh/provisioner-name=default

--BOUNDARY--
`

const bottlerocket = `[settings.kubernetes]
api-server = 'https://example'
cluster-name = 'kerf'
max-pods = 58 # from the provisioner

[settings.kubernetes.node-labels]
'karpenter.sh/capacity-type' = 'spot'
'karpenter.sh/provisioner-name' = 'default'

[settings.kubernetes.node-taints]
gpu = ['true:NoSchedule']
dedicated = [':NoExecute']

[settings.kubernetes.kube-reserved]
cpu = '80m'
memory = '893Mi'
ephemeral-storage = '1Gi'

[settings.kubernetes.system-reserved]
memory = '100Mi'

[settings.kubernetes.eviction-hard]
'memory.available' = '5%'
'nodefs.available' = '10%'
`

func TestParseUserData_EveryFormatMeansTheSameNode(t *testing.T) {
	want := Settings{
		Labels:         map[string]string{"karpenter.sh/capacity-type": "spot", "karpenter.sh/provisioner-name": "default"},
		Taints:         []corev1.Taint{{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}, {Key: "dedicated", Effect: corev1.TaintEffectNoExecute}},
		MaxPods:        ptr(int32(58)),
		KubeReserved:   corev1.ResourceList{"cpu": resource.MustParse("80m"), "memory": resource.MustParse("893Mi"), "ephemeral-storage": resource.MustParse("1Gi")},
		SystemReserved: corev1.ResourceList{"memory": resource.MustParse("100Mi")},
		EvictionHard:   map[string]string{"memory.available": "5%", "nodefs.available": "10%"},
	}
	for name, doc := range map[string]string{"AL2 bootstrap.sh": al2, "AL2023 NodeConfig": al2023, "Bottlerocket TOML": bottlerocket} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseUserData([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 }), cmpopts.IgnoreUnexported(Settings{})); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseUserData_RefusesWhatAKubeletWouldRefuse(t *testing.T) {
	for name, doc := range map[string]string{
		"taint without effect":  "#!/bin/bash\n/etc/eks/bootstrap.sh kerf --kubelet-extra-args '--register-with-taints=a=b'\n",
		"unknown taint effect":  "#!/bin/bash\n/etc/eks/bootstrap.sh kerf --kubelet-extra-args '--register-with-taints=a=b:Sometimes'\n",
		"bad reserved quantity": "#!/bin/bash\n/etc/eks/bootstrap.sh kerf --kubelet-extra-args '--kube-reserved=cpu=lots'\n",
		"unterminated quote":    "#!/bin/bash\n/etc/eks/bootstrap.sh kerf --kubelet-extra-args '--max-pods=3\n",
		"max pods not a number": "[settings.kubernetes]\nmax-pods = 'many'\n",
		"not user data at all":  "hello",
		// nodeadm refuses to start the kubelet without the cluster's service CIDR.
		"NodeConfig without cidr": "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: kerf\n" +
			"    apiServerEndpoint: https://example\n    certificateAuthority: Y2E=\n",
		"NodeConfig with a bad cidr": "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: kerf\n" +
			"    apiServerEndpoint: https://example\n    certificateAuthority: Y2E=\n    cidr: 10.100.0.0\n",
	} {
		if _, err := ParseUserData([]byte(doc)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
	if s, err := ParseUserData(nil); err != nil || len(s.Labels) != 0 {
		t.Errorf("empty user data: %v %+v", err, s)
	}
}

func TestNode_LabelsProviderIDAndAllocatableFollowTheKubelet(t *testing.T) {
	s, err := ParseUserData([]byte(al2))
	if err != nil {
		t.Fatal(err)
	}
	s.Labels["topology.kubernetes.io/zone"] = "us-west-2a" // user data cannot move a node
	inst := Instance{ID: "i-0123456789abcdef0", Zone: "us-east-1a", Region: "us-east-1", InstanceType: "m5.large",
		PrivateDNS: "ip-10-0-0-4.ec2.internal", PrivateIP: "10.0.0.4", Arch: "amd64", VCPU: 2, MemoryMiB: 8192, ENIs: 3, IPv4PerENI: 10}
	n := Node(inst, s, time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC))
	if n.Name != "ip-10-0-0-4.ec2.internal" || n.Spec.ProviderID != "aws:///us-east-1a/i-0123456789abcdef0" {
		t.Errorf("name %s providerID %s", n.Name, n.Spec.ProviderID)
	}
	for k, v := range map[string]string{"topology.kubernetes.io/zone": "us-east-1a", "node.kubernetes.io/instance-type": "m5.large",
		"kubernetes.io/arch": "amd64", "karpenter.sh/capacity-type": "spot", "kubernetes.io/hostname": n.Name} {
		if n.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, n.Labels[k], v)
		}
	}
	if len(n.Spec.Taints) != 2 {
		t.Errorf("taints %v", n.Spec.Taints)
	}
	memCap := int64(8192-614) * 1024 * 1024 // 7.5% kept by the hypervisor
	wantCap := corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": *resource.NewQuantity(memCap, resource.BinarySI),
		"ephemeral-storage": resource.MustParse("20Gi"), "pods": resource.MustParse("58")}
	memAlloc := memCap - 893*1024*1024 - 100*1024*1024 - memCap*5/100
	disk := resource.MustParse("20Gi")
	wantAlloc := corev1.ResourceList{"cpu": resource.MustParse("1920m"), "memory": *resource.NewQuantity(memAlloc, resource.BinarySI),
		"ephemeral-storage": *resource.NewQuantity(disk.Value()-1<<30-disk.Value()/10, resource.BinarySI), "pods": resource.MustParse("58")}
	eq := cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })
	if diff := cmp.Diff(wantCap, n.Status.Capacity, eq); diff != "" {
		t.Errorf("capacity (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAlloc, n.Status.Allocatable, eq); diff != "" {
		t.Errorf("allocatable (-want +got):\n%s", diff)
	}
}

func TestCapacity_DefaultMaxPodsFromENILimits(t *testing.T) {
	inst := Instance{VCPU: 2, MemoryMiB: 8192, ENIs: 3, IPv4PerENI: 10}
	pods := Capacity(inst, newSettings())[corev1.ResourcePods]
	if pods.Value() != 29 {
		t.Errorf("m5.large max pods %d, want 3*(10-1)+2 = 29", pods.Value())
	}
	alloc := Allocatable(Capacity(inst, newSettings()), newSettings())
	mem := alloc[corev1.ResourceMemory]
	if want := int64(8192-614-100) * 1024 * 1024; mem.Value() != want {
		t.Errorf("default eviction leaves %d bytes, want %d (100Mi kept)", mem.Value(), want)
	}
}
