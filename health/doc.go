// Package health decides the replication health of the server the sidecar
// watches: whether expected replicas are connected, whether dump threads
// serve replicas that are gone (zombies) or reconnect in a loop, whether
// semi-sync makes commits wait, whether this server's own source is
// reachable, and whether the sidecar's binlog stream is up.
//
// The package has three layers:
//
//   - Observation (observation.go): the raw server state of one poll,
//     normalised across MySQL and MariaDB versions, with the SQL used and
//     the poll times. health/probe fills it; this package never talks SQL.
//   - Rules (rules.go, topology.go): a pure function of (memory, input,
//     now) returning the new memory and an Outcome: the problems that
//     fired or resolved, the Report, and the zombie threads that may be
//     killed, as typed values (problem evidence is for people; no decision
//     reads it back). identify (topology.go) maps dump threads to replicas
//     and inventory entries and sets the sidecar's own stream aside. Each
//     rule family has its file, with its prose: stream.go, replicas.go,
//     zombie.go, flapping.go, semisync.go, source.go, commitslow.go and
//     unavailable.go; memory.go is what the rules carry between polls and
//     reconcile.go turns findings into problems with stable IDs.
//   - Monitor (monitor.go): the loop. Each poll observes the server,
//     resolves host names, handshake-probes each replica's own server,
//     evaluates, publishes the Report (an atomic snapshot), calls the
//     transition callbacks and, when enabled, kills zombie threads.
//
// Problem types, severities and timing follow docs/contract.md; the
// detection signals follow docs/replication-signals.md §8.
package health
