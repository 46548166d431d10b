// Package state builds the immutable Snapshot that every scheduling decision reads: pending pods,
// nodes with their bound pods, in-flight Machines, Provisioners with resolved instance types and
// the cloud's defaults, DaemonSets and namespaces. It reads through a controller-runtime client
// backed by the manager's cache, never the API server in a hot loop, and converts Kerf's API
// objects into pkg/scheduling's plain values. It must not import cloud SDKs.
package state
