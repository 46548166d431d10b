// Package lifecycle owns a Machine from creation to deletion: it launches the instance through the
// CloudProvider, links the Node that registers for it, marks the Node initialized when it can take
// pods, deletes Machines whose Node never came, and terminates the instance when the Machine is
// deleted. It also remembers offerings that just failed for lack of capacity (UnavailableOfferings),
// so the next scheduling decision plans around them.
//
// It must not import pkg/scheduling's solver entry points, pkg/state, pkg/consolidation or
// pkg/termination: planning decides which Machines exist, this package only carries them out.
package lifecycle
