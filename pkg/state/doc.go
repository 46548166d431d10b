// Package state builds the immutable Snapshot that every scheduling decision reads: pending pods,
// nodes with their bound pods, in-flight Machines, Provisioners with resolved instance types,
// DaemonSets and PDBs. It reads the controller-runtime cache, never the API server in a hot loop,
// and keeps the bookkeeping of capacity that is launching but not yet registered.
package state
