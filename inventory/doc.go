// Package inventory parses the expected-replica inventory: the replicas an
// operator says should be replicating from this server. The same format
// serves SIDECAR_EXPECTED_REPLICAS (comma-separated), the file named by
// SIDECAR_EXPECTED_REPLICAS_FILE (one entry a line) and `validate --inventory`.
//
// An entry is `host[:port]`, port 3306 by default, optionally followed by
// white space and the word `semisync` (the replica is expected to
// acknowledge semi-sync). IPv6 addresses are written in brackets: `[::1]:3307`.
package inventory
