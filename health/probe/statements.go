package probe

import (
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
)

// The SQL of every read, per flavor and version (replication-signals.md
// §1.4, §4, §5). Which one runs where is the statements table below.
const (
	// sqlVariables reads identity and semi-sync configuration in one round
	// trip on every flavor: names a server lacks are simply absent.
	sqlVariables = `SHOW GLOBAL VARIABLES WHERE Variable_name IN ('version', 'version_comment', 'server_id', 'server_uuid', 'max_connections', 'performance_schema', 'log_bin', 'gtid_binlog_pos') OR Variable_name LIKE 'rpl_semi_sync%'`
	sqlStatus    = `SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Threads_running') OR Variable_name LIKE 'Rpl_semi_sync%'`

	// MariaDB: the dump threads come from SHOW PROCESSLIST, filtered here
	// (mapDumpThreads), on every version and with or without
	// performance_schema. MariaDB serves it straight from the thread list,
	// whereas information_schema.PROCESSLIST is materialised into an Aria
	// temporary table (its INFO columns are LONGTEXT/BLOB) on every query,
	// and 10.11.19 crashed (SIGSEGV in ha_maria::drop_table <- free_tmp_table)
	// dropping that table while other threads were being killed, also
	// within the performance_schema join that read the replicas' user
	// variables (MariaDB replicas set no UUID there; the heartbeat period
	// was evidence only). performance_schema.threads has no client port.
	sqlDumpMariaDB = `SHOW PROCESSLIST`
	// MySQL 8.0.22+: performance_schema.processlist takes no global mutex,
	// unlike information_schema.PROCESSLIST, and the user variables carry
	// the replica's UUID.
	sqlDumpMySQLPS = `SELECT p.ID, p.USER, p.HOST, p.COMMAND, p.TIME, p.STATE,
  MAX(CASE WHEN v.VARIABLE_NAME IN ('replica_uuid', 'slave_uuid') THEN v.VARIABLE_VALUE END) AS replica_uuid,
  MAX(CASE WHEN v.VARIABLE_NAME IN ('source_heartbeat_period', 'master_heartbeat_period') THEN v.VARIABLE_VALUE END) AS heartbeat_ns,
  MAX(CASE WHEN v.VARIABLE_NAME IN ('rpl_semi_sync_replica', 'rpl_semi_sync_slave') THEN v.VARIABLE_VALUE END) AS semisync
FROM performance_schema.processlist p
JOIN performance_schema.threads t ON t.PROCESSLIST_ID = p.ID
LEFT JOIN performance_schema.user_variables_by_thread v ON v.THREAD_ID = t.THREAD_ID
WHERE p.COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')
GROUP BY p.ID, p.USER, p.HOST, p.COMMAND, p.TIME, p.STATE`
	sqlDumpMySQL = `SELECT ID, USER, HOST, COMMAND, TIME, STATE FROM information_schema.PROCESSLIST WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')`

	sqlShowReplicas      = `SHOW REPLICAS`
	sqlShowSlaveHosts    = `SHOW SLAVE HOSTS`
	sqlBinaryLogStatus   = `SHOW BINARY LOG STATUS`
	sqlBinlogStatus      = `SHOW BINLOG STATUS`
	sqlMasterStatus      = `SHOW MASTER STATUS`
	sqlBinaryLogs        = `SHOW BINARY LOGS`
	sqlAllSlavesStatus   = `SHOW ALL SLAVES STATUS`
	sqlShowReplicaStatus = `SHOW REPLICA STATUS`
	sqlShowSlaveStatus   = `SHOW SLAVE STATUS`

	// sqlPrivileges lists the account's global privileges once per
	// connection: without PROCESS the processlist silently shows only the
	// account's own threads, so that gap cannot be told from an error.
	sqlPrivileges = `SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')`
	sqlKill       = `KILL %d`
	// sqlCurrentUser names the account the server authenticated, once per
	// connection, so remediation can print the exact GRANT statement.
	sqlCurrentUser = `SELECT CURRENT_USER()`
)

// Privileges the reads need, by flavor (replication-signals.md §6.1).
const (
	privProcess           = "PROCESS"
	privReplicationSlave  = "REPLICATION SLAVE"
	privReplicationClient = "REPLICATION CLIENT"
	privMasterAdmin       = "REPLICATION MASTER ADMIN"
	privBinlogMonitor     = "BINLOG MONITOR"
	privSlaveMonitor      = "SLAVE MONITOR"
)

// version is major, minor, patch.
type version = mysqlserver.Version

// statement is one way to perform a read on some servers. For each read
// the first statement whose flavor, version range and performance_schema
// need match runs; if it fails with a server error, the next matching one
// runs instead (e.g. information_schema when performance_schema is not
// readable).
type statement struct {
	read   health.Read
	flavor string  // "" for any
	min    version // inclusive; zero: no lower bound
	max    version // exclusive; zero: no upper bound
	ps     bool    // needs performance_schema=ON
	sql    string
	priv   string // the privilege it needs, named when it is missing
	// silent means a missing priv shows as fewer rows, not as an error;
	// the probe checks the account's privileges instead.
	silent bool
	cols   columns // how its result maps to values
}

var (
	mysql8022 = mysqlserver.MySQL8022
	mysql820  = mysqlserver.MySQL820
	mysql840  = mysqlserver.MySQL840
	maria1052 = mysqlserver.MariaDB1052
	maria1059 = mysqlserver.MariaDB1059
	maria1051 = mysqlserver.MariaDB1051
)

const (
	mysql   = mysqlserver.FlavorMySQL
	mariadb = mysqlserver.FlavorMariaDB
)

var statements = []statement{
	{read: health.ReadVariables, sql: sqlVariables, cols: nameValueCols},
	{read: health.ReadStatus, sql: sqlStatus, cols: nameValueCols},

	{read: health.ReadDumpThreads, flavor: mariadb, sql: sqlDumpMariaDB, priv: privProcess, silent: true, cols: dumpCols},
	{read: health.ReadDumpThreads, flavor: mysql, min: mysql8022, ps: true, sql: sqlDumpMySQLPS, priv: privProcess, silent: true, cols: dumpCols},
	{read: health.ReadDumpThreads, flavor: mysql, sql: sqlDumpMySQL, priv: privProcess, silent: true, cols: dumpCols},

	{read: health.ReadReplicaHosts, flavor: mariadb, min: maria1051, sql: sqlShowSlaveHosts, priv: privMasterAdmin, cols: hostCols},
	{read: health.ReadReplicaHosts, flavor: mariadb, max: maria1051, sql: sqlShowSlaveHosts, priv: privReplicationSlave, cols: hostCols},
	{read: health.ReadReplicaHosts, flavor: mysql, min: mysql8022, sql: sqlShowReplicas, priv: privReplicationSlave, cols: hostCols},
	{read: health.ReadReplicaHosts, flavor: mysql, max: mysql840, sql: sqlShowSlaveHosts, priv: privReplicationSlave, cols: hostCols},

	{read: health.ReadBinlogStatus, flavor: mariadb, min: maria1052, sql: sqlBinlogStatus, priv: privBinlogMonitor, cols: binlogStatusCols},
	{read: health.ReadBinlogStatus, flavor: mariadb, sql: sqlMasterStatus, priv: privReplicationClient, cols: binlogStatusCols},
	{read: health.ReadBinlogStatus, flavor: mysql, min: mysql820, sql: sqlBinaryLogStatus, priv: privReplicationClient, cols: binlogStatusCols},
	{read: health.ReadBinlogStatus, flavor: mysql, max: mysql840, sql: sqlMasterStatus, priv: privReplicationClient, cols: binlogStatusCols},

	{read: health.ReadBinlogFiles, flavor: mariadb, min: maria1052, sql: sqlBinaryLogs, priv: privBinlogMonitor, cols: binlogFileCols},
	{read: health.ReadBinlogFiles, flavor: mariadb, sql: sqlBinaryLogs, priv: privReplicationClient, cols: binlogFileCols},
	{read: health.ReadBinlogFiles, flavor: mysql, sql: sqlBinaryLogs, priv: privReplicationClient, cols: binlogFileCols},

	{read: health.ReadChannels, flavor: mariadb, min: maria1059, sql: sqlAllSlavesStatus, priv: privSlaveMonitor, cols: channelCols},
	{read: health.ReadChannels, flavor: mariadb, sql: sqlAllSlavesStatus, priv: privReplicationClient, cols: channelCols},
	{read: health.ReadChannels, flavor: mysql, min: mysql8022, sql: sqlShowReplicaStatus, priv: privReplicationClient, cols: channelCols},
	{read: health.ReadChannels, flavor: mysql, max: mysql840, sql: sqlShowSlaveStatus, priv: privReplicationClient, cols: channelCols},
}

// candidates returns the statements for a read on a server, in order.
func candidates(read health.Read, flavor string, v version, ps bool) []statement {
	var out []statement
	for _, s := range statements {
		if s.read != read || s.flavor != "" && s.flavor != flavor || s.ps && !ps {
			continue
		}
		if !s.min.IsZero() && !v.AtLeast(s.min) || !s.max.IsZero() && v.AtLeast(s.max) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// columns names, for each value a read maps, the result columns that may
// hold it across flavors and versions (old and new names; matched without
// regard to case).
type columns map[string][]string

var (
	nameValueCols = columns{"name": {"Variable_name"}, "value": {"Value"}}
	dumpCols      = columns{
		"id": {"ID", "PROCESSLIST_ID"}, "user": {"USER", "PROCESSLIST_USER"}, "host": {"HOST", "PROCESSLIST_HOST"},
		"command": {"COMMAND", "PROCESSLIST_COMMAND"}, "time": {"TIME", "PROCESSLIST_TIME"}, "state": {"STATE", "PROCESSLIST_STATE"},
		"replica_uuid": {"replica_uuid"}, "heartbeat_ns": {"heartbeat_ns"}, "semisync": {"semisync"},
	}
	hostCols = columns{
		"server_id": {"Server_id", "Server_Id"}, "host": {"Host"}, "port": {"Port"},
		"source_id": {"Source_Id", "Master_id"}, "uuid": {"Replica_UUID", "Slave_UUID"},
	}
	binlogStatusCols = columns{"file": {"File"}, "position": {"Position"}, "gtid": {"Executed_Gtid_Set", "Gtid_Binlog_Pos"}}
	binlogFileCols   = columns{"name": {"Log_name"}, "size": {"File_size"}}
	channelCols      = columns{
		"name":          {"Connection_name", "Channel_Name", "Channel_name"},
		"source_host":   {"Source_Host", "Master_Host"},
		"source_port":   {"Source_Port", "Master_Port"},
		"source_user":   {"Source_User", "Master_User"},
		"io_running":    {"Replica_IO_Running", "Slave_IO_Running"},
		"sql_running":   {"Replica_SQL_Running", "Slave_SQL_Running"},
		"io_state":      {"Replica_IO_State", "Slave_IO_State"},
		"last_io_errno": {"Last_IO_Errno"},
		"last_io_error": {"Last_IO_Error"},
		"behind":        {"Seconds_Behind_Source", "Seconds_Behind_Master"},
	}
)

// Semi-sync variable and status names: MySQL's new source/replica plugin,
// then the old master/slave plugin that MariaDB builds in (§3.1).
var semiSyncNames = struct {
	prefixes                                            []string
	enabled, timeout, waitNo, count, waitPoint          []string
	status, clients, waitSessions, yesTx, noTx, noTimes []string
}{
	prefixes:     []string{"rpl_semi_sync_source", "rpl_semi_sync_master"},
	enabled:      []string{"rpl_semi_sync_source_enabled", "rpl_semi_sync_master_enabled"},
	timeout:      []string{"rpl_semi_sync_source_timeout", "rpl_semi_sync_master_timeout"},
	waitNo:       []string{"rpl_semi_sync_source_wait_no_replica", "rpl_semi_sync_master_wait_no_slave"},
	count:        []string{"rpl_semi_sync_source_wait_for_replica_count", "rpl_semi_sync_master_wait_for_slave_count"},
	waitPoint:    []string{"rpl_semi_sync_source_wait_point", "rpl_semi_sync_master_wait_point"},
	status:       []string{"Rpl_semi_sync_source_status", "Rpl_semi_sync_master_status"},
	clients:      []string{"Rpl_semi_sync_source_clients", "Rpl_semi_sync_master_clients"},
	waitSessions: []string{"Rpl_semi_sync_source_wait_sessions", "Rpl_semi_sync_master_wait_sessions"},
	yesTx:        []string{"Rpl_semi_sync_source_yes_tx", "Rpl_semi_sync_master_yes_tx"},
	noTx:         []string{"Rpl_semi_sync_source_no_tx", "Rpl_semi_sync_master_no_tx"},
	noTimes:      []string{"Rpl_semi_sync_source_no_times", "Rpl_semi_sync_master_no_times"},
}
