// Package probe is the SQL adapter of package health: the only health code
// that talks SQL, through mysqlserver/client. It reads, per poll, the server's
// identity, binlog dump threads, registered replicas, semi-sync variables
// and counters, binary log status and files, its own replication channels
// and its connection load, and it handshake-probes replicas and kills
// zombie threads on request.
//
// Which statement runs on which server is data, not code: mysqlserver's
// statement table (mysqlserver/statements.go) lists, per read, the SQL and the flavor, version
// range and privilege it applies to, in order of preference; the columns
// tables name every value's column under its old and new names. Result
// sets become Rowsets and are mapped by pure functions (rows.go), so the
// MySQL 8.0, 8.4 and 9.x result shapes are tested over recorded result
// sets in testdata/ with the same code the live path runs.
//
// Each read has its own timeout; the probe keeps one connection and opens
// it again after an error. A failed read is recorded with its error, and a
// missing privilege is named (from the server's message, or from the
// table), so the checks that need it say "unavailable" instead of passing.
package probe
