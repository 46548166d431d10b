// Package consolidation decides which nodes to remove or replace: empty, expired, drifted, or
// cheaper to run elsewhere. Decisions are pure functions of a Snapshot and a clock; acting on them
// is left to pkg/termination.
package consolidation
