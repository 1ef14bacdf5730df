// Package validate checks the replication configuration of a MySQL or
// MariaDB topology before it is deployed: option files (one per server),
// the expected-replica inventory and the sidecar's own settings. It is the
// pre-deploy half of the incident's corrective actions: Puppet runs it as
// validate_cmd so a bad my.cnf is never written, and `sidecar audit` runs
// the same checks on values read from a live server.
//
// The checks are the V-numbered ones of docs/replication-signals.md §7; the
// ones an option file cannot express (V2, V9, V12, V16) are left out, see
// docs/validate.md. Everything here is pure: files are read by package
// mycnf, live values by the caller, and rendering writes to an io.Writer.
package validate
