// Package simkubelet decides what Node a simulated EC2 instance becomes, the way the kubelet
// and the AWS cloud controller manager would: its name, provider ID and well-known labels come
// from the instance, while labels, taints, max pods and reserved resources come from the user
// data that launched it (AL2 bootstrap.sh arguments, AL2023 nodeadm NodeConfig, Bottlerocket
// TOML), so the user data Kerf writes is what decides the node.
//
// It is pure: no client, no clock. Registering these Nodes against an API server (and deleting
// them when instances terminate) is the job of a loop not built yet. It must not import Kerf's
// other packages.
package simkubelet
