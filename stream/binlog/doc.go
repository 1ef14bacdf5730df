// Package binlog tails a MySQL or MariaDB binary log as a pseudo-replica and
// feeds a stream.Meter. Its connections are mysqlserver/client's; it
// imports go-mysql's mysql package for the replication protocol's types
// (GTID sets, command bytes, the server's error) only.
//
// # Shape
//
// Source.Run connects, runs a preflight (preflight.go: version, log_bin,
// binlog_format, binlog_row_image, server_id, binlog end and files; the
// statements are mysqlserver's table, the same the health probe uses), opens the dump and hands every event to the translator
// (translate.go) on its own goroutine. On any failure it records the error
// and the operator's fix in the meter (Snapshot.LastError, Hint), backs off
// (capped, reset after progress) and reconnects. It never returns for a
// server-side problem, so the sidecar does not crash-loop while an operator
// fixes the server; it returns nil when its context ends, or at
// Config.StopAt.
//
// # The hot loop is the sidecar's own
//
// mysqlserver/client (go-mysql underneath) connects, authenticates and sets
// up TLS; dump.go registers as a
// replica and sends COM_BINLOG_DUMP (or COM_BINLOG_DUMP_GTID) over that
// connection with the session settings go-mysql's BinlogSyncer uses. From
// then on reader.go reads the stream itself from the connection (the TLS
// one when TLS is on) through one 1 MiB buffered reader: packet headers and
// sequence numbers, continuation packets of events over 16 MiB, the OK byte
// before each event, EOF and ERR packets. Each event is handed to the
// translator in place, in the buffer; nothing allocates and nothing crosses
// a channel per event. go-mysql's full decoder stays the test oracle
// (TestDump_matchesGoMySQL, TestPacketReader_matchesGoMySQL,
// TestRowWalker_matchesGoMySQL).
//
// While tailing, a reader that wakes for every event the server writes
// spends most of its CPU in the kernel. With Config.MaxDelay > 0 the TCP
// socket gets a receive low-water mark (SO_RCVLOWAT, 64 KiB), so the
// kernel wakes the reader once a batch has arrived, and a read deadline of
// half of MaxDelay bounds how long anything received may wait (the other
// half is for the event's way there: commit, network, scheduling): when it
// passes, the reader takes what is there, a lone heartbeat included
// (TestSource_idleBatching). MaxDelay is SIDECAR_STREAM_MAX_DELAY, below the
// heartbeat period, so heartbeats and stall detection keep their meaning.
//
// The sidecar registers with a replica UUID derived from its instance name
// (ReplicaUUID), not a fresh one per connection: a MySQL source matches a
// reconnecting replica by UUID (MariaDB by server_id) and ends its previous
// dump thread, so a sidecar never leaves zombie dump threads of its own
// behind (TestSource_oneDumpThread).
//
// # Why not canal, and not go-mysql's row decoding
//
// canal cannot set the dump flag MariaDB needs to send ANNOTATE_ROWS
// events (without it the counted bytes fall short of the binlog's, lab-notes
// 3.2), and it decodes every row value of every event. The translator
// decodes only the 19-byte header, the format description (checksum,
// post-header lengths), GTID, XID, QUERY (BEGIN/COMMIT/DDL), ROTATE and
// TABLE_MAP events (cached per table id and re-parsed only when their bytes
// change), and counts the rows of a rows event by stepping over each value
// with the table map's column types (rows.go) without decoding or
// allocating. Benchmarks on a real sysbench binlog are in
// translate_bench_test.go and replay_bench_test.go.
//
// A watchdog goroutine per session checks an event counter and ends a
// stream that went silent for Config.ReadTimeout; nothing re-arms a timer
// per event.
//
// # What is counted
//
// Per the contract: bytes are whole events as written (header, body,
// checksum), so the byte counter advances exactly with the binlog position
// across rotations; heartbeats and the artificial events of a dump (the
// fake ROTATE at its start, the FDE re-sent with log_pos 0, MariaDB's
// artificial GTID list, the opening events of the start file a GTID dump
// skips past) are not. Heartbeats count only as liveness (EventHeartbeat).
// An UPDATE row counts 1. A transaction is each event group the server
// commits to the binlog: ended by XID, by COMMIT/ROLLBACK/XA PREPARE, or a
// single statement such as DDL (one per GTID on MariaDB). Figures of a
// transaction are committed to the meter at its end, so a reconnect inside
// one drops the partial figures and the stream resumes after the last
// complete transaction: nothing is counted twice.
//
// If the binlog the stream would resume from was purged while it was away,
// it restarts at the oldest file the server has and records a stream.Gap.
// If a position the stream saved itself no longer exists at all (RESET
// MASTER restarted the files; a crash with sync_binlog=0 lost a file's
// tail, ERROR 1236 "impossible position"), it restarts at the server's
// binlog end and records a gap: older files are never re-read, which would
// count them twice. A SIDECAR_START position the server does not have
// fails (and is retried) with a hint instead.
//
// Inside a long transaction the translator touches the meter's liveness
// at least every 100 ms (or a quarter heartbeat) while events arrive,
// reading a monotonic clock once per 16 small events or per event when
// they are large, so the stream does not look stalled while data flows.
//
// # The sidecar as a replica
//
// The sidecar registers with its own server_id (Config.ServerID) and the
// host name RegisterHost, so the server's SHOW SLAVE HOSTS / SHOW REPLICAS
// lists it; IsOwnRegistration recognises that row, and through it the
// sidecar's own dump thread, which must never count as a replica. It never
// enables semi-sync (it would acknowledge commits for replicas that do not
// exist). On MariaDB it sets BINLOG_SEND_ANNOTATE_ROWS_EVENT so counted
// bytes equal binlog bytes.
//
// # Limits
//
// MySQL compressed transactions (TRANSACTION_PAYLOAD_EVENT) count as one
// event of type other and one transaction, their rows are not counted. MySQL
// GTID-tagged events count as GTID events; their GTID (tag included) and
// commit time are decoded with go-mysql, the only event read that way. MariaDB's
// compressed columns (table-map types 140 BLOB and 141 VARCHAR COMPRESSED)
// are stepped over like BLOB and VARCHAR. Tables with a
// column type the walker does not know (pre-5.0 DECIMAL, MariaDB's
// pre-10.1 microsecond temporal formats) have their bytes counted but not
// their rows; a warning names the table once.
package binlog
