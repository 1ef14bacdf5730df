// Package fleet is the fleet's model, apart from any I/O: the status
// document each sidecar puts into the bus's key-value bucket, the view of
// every primary built from those documents, and the findings that no single
// sidecar can make because they need two primaries' views at once (a
// replica expected by one primary and connected to another, a replica
// connected to two, a sidecar gone silent, a server_id used twice).
//
// It imports only the standard library; fleet/kv reads and writes the
// bucket, cmd/sidecar shows and publishes what this package computes.
package fleet
