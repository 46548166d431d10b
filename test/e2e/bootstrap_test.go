//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// familyProvisioner is a Provisioner whose nodes boot the given AMI family and carry the label
// family=<family>.
const familyProvisioner = `
apiVersion: karpenter.k8s.aws/v1alpha1
kind: AWSNodeTemplate
metadata:
  name: %[1]s
spec:
  amiFamily: %[2]s
  subnetSelector:
    karpenter.sh/discovery: kerf-e2e
  securityGroupSelector:
    karpenter.sh/discovery: kerf-e2e
---
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata:
  name: %[1]s
spec:
  providerRef:
    name: %[1]s
  labels:
    family: %[1]s
  requirements:
    - key: karpenter.sh/capacity-type
      operator: In
      values: [on-demand]
`

// Every node family joins the cluster: its user data is what the real bootstrap accepts (awsim's
// kubelet refuses what nodeadm, bootstrap.sh or Bottlerocket would), with the instance profile the
// chart's default names and, for AL2023, the service CIDR Kerf read from EKS.
func TestBootstrap_EveryAMIFamilyJoins(t *testing.T) {
	families := map[string]string{"al2023": "AL2023", "bottlerocket": "Bottlerocket", "al2": "AL2"}
	var manifests []string
	for name, family := range families {
		manifests = append(manifests, fmt.Sprintf(familyProvisioner, name, family))
	}
	s := start(t, 2*time.Second, strings.Join(manifests, "---\n"))
	for name := range families {
		deploy(t, s, workload{name: "on-" + name, replicas: 2, cpu: "500m", memory: "512Mi", nodeSelector: map[string]string{"family": name}})
	}
	for name := range families {
		for _, p := range waitRunning(t, s, "on-"+name, 2, 3*time.Minute) {
			if n := node(t, s, p); n.Labels["karpenter.sh/provisioner-name"] != name {
				t.Errorf("pod %s runs on node %s of provisioner %q, want %s", p.Name, n.Name, n.Labels["karpenter.sh/provisioner-name"], name)
			}
		}
	}
}
