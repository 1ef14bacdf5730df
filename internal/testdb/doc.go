// Package testdb starts throwaway MariaDB servers (primaries and real GTID
// replicas) for integration tests of any package in this module.
//
// Each server is a real mariadbd child of the test process, listening on
// 127.0.0.1 (or Options.BindAddress) on a free port, with its own datadir
// under t.TempDir(); with Options.NetNS it runs inside a network namespace
// (see internal/netns), e.g. a replica that a test cuts off. It is
// stopped by t.Cleanup, even when the test left it SIGSTOPped, and the
// kernel kills it if the test binary dies without running cleanups. The
// system MariaDB on port 3306 is never touched.
//
// Servers are copies of a template datadir, built once per `mariadbd
// --version` under os.TempDir()/binlog-sidecar-testdb and shared by all
// test binaries (a file lock serializes the build). The template's users
// were created with no binlog, so a GTID replica that replays the primary's
// binlog from the start never collides with them:
//
//	repl/repl        REPLICATION SLAVE, REPLICATION CLIENT, PROCESS,
//	                 REPLICATION MASTER ADMIN, SELECT (replicas, general reader)
//	sidecar/sidecar  the sidecar's minimal grants: REPLICATION SLAVE,
//	                 BINLOG MONITOR, REPLICATION MASTER ADMIN, SLAVE MONITOR, PROCESS
//	norepl/norepl    PROCESS, BINLOG MONITOR (missing-privilege tests)
//	bench/bench      ALL WITH GRANT OPTION (what Exec, Query and Conn use)
//
// plus the empty database sbtest. The recipe and its timings are in
// docs/lab-notes.md, sections 1.2 to 1.4.
//
// Typical use:
//
//	p := testdb.StartPrimary(t, testdb.Options{})
//	r := testdb.StartReplica(t, p, testdb.Options{})
//	p.Exec(t, "CREATE TABLE sbtest.t (id INT PRIMARY KEY)")
//
// Without mariadbd the tests skip, unless the environment variable CI is
// set: then they fail, so CI can never pass by skipping them.
package testdb
