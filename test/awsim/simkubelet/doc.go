// Package simkubelet decides what Node a simulated EC2 instance becomes, the way the kubelet
// and the AWS cloud controller manager would: its name, provider ID and well-known labels come
// from the instance, while labels, taints, max pods and reserved resources come from the user
// data that launched it (AL2 bootstrap.sh arguments, AL2023 nodeadm NodeConfig, Bottlerocket
// TOML), so the user data Kerf writes is what decides the node.
//
// ParseUserData and Node are pure; Registrar applies them to a cluster through client-go,
// creating Nodes for running instances and deleting them when instances stop. It must not
// import Kerf's packages other than awsim.
package simkubelet
