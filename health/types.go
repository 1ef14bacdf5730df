package health

import (
	"strconv"
	"strings"
)

// Problem types: the short event types of the problems the rules raise.
const (
	TypeStreamDown         = "stream.down"
	TypeStreamStalled      = "stream.stalled"
	TypeReplicaMissing     = "replica.missing"
	TypeReplicaUnknown     = "replica.unknown"
	TypeDumpThreadZombie   = "dump_thread.zombie"
	TypeDumpThreadFlapping = "dump_thread.flapping"
	TypeSemiSyncDegraded   = "semisync.degraded"
	TypeSourceUnreachable  = "source.unreachable"
)

// TypeDumpThreadKilled is the event type of a kill of a zombie thread; it
// is an event, not a problem.
const TypeDumpThreadKilled = "dump_thread.killed"

// ProblemTypes lists every problem type, for metrics that expose each label
// value from the start.
func ProblemTypes() []string {
	return []string{TypeStreamDown, TypeStreamStalled, TypeReplicaMissing, TypeReplicaUnknown,
		TypeDumpThreadZombie, TypeDumpThreadFlapping, TypeSemiSyncDegraded, TypeSourceUnreachable, TypeCheckUnavailable, TypeCommitSlow}
}

// The evidence.reason values of semisync.degraded.
const (
	ReasonClientsBelowRequired = "clients_below_required"
	ReasonCommitsWaiting       = "commits_waiting"
	ReasonFellBackToAsync      = "fell_back_to_async"
	ReasonFlapping             = "flapping"
)

// Replica statuses, the `status` label of binlog_sidecar_replicas.
const (
	ReplicaExpected  = "expected"
	ReplicaConnected = "connected"
	ReplicaMissing   = "missing"
	ReplicaUnknown   = "unknown"
	ReplicaZombie    = "zombie"
)

// ReplicaStatuses lists every replica status label value.
func ReplicaStatuses() []string {
	return []string{ReplicaExpected, ReplicaConnected, ReplicaMissing, ReplicaUnknown, ReplicaZombie}
}

// Dump thread states, the `state` label of binlog_sidecar_dump_threads.
const (
	DumpIdle        = "idle"
	DumpSending     = "sending"
	DumpWriting     = "writing"
	DumpSwitching   = "switching"
	DumpTerminating = "terminating"
	DumpOther       = "other"
)

// DumpThreadStates lists every dump thread state label value.
func DumpThreadStates() []string {
	return []string{DumpIdle, DumpSending, DumpWriting, DumpSwitching, DumpTerminating, DumpOther}
}

// dumpStates maps the processlist State of a dump thread, in every flavor
// and version (replication-signals.md §1.2, lab-notes §2.1), to its class.
var dumpStates = map[string]string{
	"Has sent all binlog to slave; waiting for binlog to be updated":        DumpIdle, // MySQL 5.1
	"Master has sent all binlog to slave; waiting for binlog to be updated": DumpIdle, // 5.5/5.6, MariaDB manual
	"Master has sent all binlog to slave; waiting for more updates":         DumpIdle, // 5.7-8.0.25, MariaDB 10.11 live
	"Source has sent all binlog to replica; waiting for more updates":       DumpIdle, // 8.0.26+
	"Sending binlog event to slave":                                         DumpSending,
	"Sending binlog event to replica":                                       DumpSending,
	"Writing to net":                                                        DumpWriting,
	"Finished reading one binlog; switching to next binlog":                 DumpSwitching,
	"Waiting to finalize termination":                                       DumpTerminating,
}

// DumpStateClass returns the label class of a dump thread State; unknown
// strings are "other" (and show verbatim in /status).
func DumpStateClass(state string) string {
	if c, ok := dumpStates[strings.TrimSpace(state)]; ok {
		return c
	}
	return DumpOther
}

// Check states in the report's `checks`.
const (
	CheckOK           = "ok"
	CheckFiring       = "firing"
	CheckUnknown      = "unknown"       // a read it needs failed
	CheckUnavailable  = "unavailable"   // a read it needs lacks a privilege
	CheckNotEvaluated = "not_evaluated" // e.g. no inventory configured
)

// CheckStates lists every check state, the `state` label of
// binlog_sidecar_check_state.
func CheckStates() []string {
	return []string{CheckOK, CheckFiring, CheckUnknown, CheckUnavailable, CheckNotEvaluated}
}

// CheckNames lists every check a report can carry: each rule (by problem
// type, and the replica-side half of flapping) and each read. The `check`
// label of binlog_sidecar_check_state; bounded.
func CheckNames() []string {
	out := append(ProblemTypes(), TypeDumpThreadFlapping+channelCheck)
	for _, r := range Reads() {
		out = append(out, string(r))
	}
	return out
}

// severityOf is the contract's default severity of each problem type;
// semisync.degraded is critical only for commits_waiting.
func severityOf(typ, reason string) Severity {
	switch {
	case typ == TypeStreamDown, typ == TypeDumpThreadZombie, typ == TypeSourceUnreachable, typ == TypeCommitSlow:
		return SeverityCritical
	case typ == TypeSemiSyncDegraded && reason == ReasonCommitsWaiting:
		return SeverityCritical
	}
	return SeverityWarning
}

func itoa(i int) string { return strconv.Itoa(i) }
