package mysqlserver

// Read names one thing the sidecar reads from a server. The health probe
// runs every read each poll (health.Read is this type); the stream's
// preflight and the canary run some of them. Each has one or more
// statements in the table below.
type Read string

// The reads, in the order the probe runs them.
const (
	ReadVariables    Read = "variables"      // identity and semi-sync configuration
	ReadStatus       Read = "status"         // semi-sync counters, Threads_connected
	ReadDumpThreads  Read = "dump_threads"   // the processlist's Binlog Dump rows
	ReadReplicaHosts Read = "replica_hosts"  // SHOW REPLICAS / SHOW SLAVE HOSTS
	ReadBinlogStatus Read = "binlog_status"  // SHOW MASTER STATUS and successors
	ReadBinlogFiles  Read = "binlog_files"   // SHOW BINARY LOGS
	ReadChannels     Read = "replica_status" // this server's own replication channels
)

// The SQL the sidecar sends, per flavor and version (replication-signals.md
// §1.4, §4, §5; each checked against MySQL's own test results in
// docs/mysql-checked.md). Which one runs where is the statements table
// below.
const (
	// SQLVariables reads identity and semi-sync configuration in one round
	// trip on every flavor: names a server lacks are simply absent.
	SQLVariables = `SHOW GLOBAL VARIABLES WHERE Variable_name IN ('version', 'version_comment', 'server_id', 'server_uuid', 'max_connections', 'performance_schema', 'log_bin', 'gtid_binlog_pos') OR Variable_name LIKE 'rpl_semi_sync%'`
	SQLStatus    = `SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Threads_running') OR Variable_name LIKE 'Rpl_semi_sync%'`

	// SQLDumpMariaDB: on MariaDB the dump threads come from SHOW
	// PROCESSLIST, filtered by the reader, on every version and with or
	// without performance_schema. MariaDB serves it straight from the
	// thread list, whereas information_schema.PROCESSLIST is materialised
	// into an Aria temporary table (its INFO columns are LONGTEXT/BLOB) on
	// every query, and 10.11.19 crashed (SIGSEGV in ha_maria::drop_table <-
	// free_tmp_table) dropping that table while other threads were being
	// killed, also within the performance_schema join that read the
	// replicas' user variables (MariaDB replicas set no UUID there; the
	// heartbeat period was evidence only). performance_schema.threads has
	// no client port.
	SQLDumpMariaDB = `SHOW PROCESSLIST`
	// SQLDumpMySQLPS (MySQL 8.0.22+): performance_schema.processlist takes
	// no global mutex, unlike information_schema.PROCESSLIST, and the user
	// variables carry the replica's UUID.
	SQLDumpMySQLPS = `SELECT p.ID, p.USER, p.HOST, p.COMMAND, p.TIME, p.STATE,
  MAX(CASE WHEN v.VARIABLE_NAME IN ('replica_uuid', 'slave_uuid') THEN v.VARIABLE_VALUE END) AS replica_uuid,
  MAX(CASE WHEN v.VARIABLE_NAME IN ('source_heartbeat_period', 'master_heartbeat_period') THEN v.VARIABLE_VALUE END) AS heartbeat_ns,
  MAX(CASE WHEN v.VARIABLE_NAME IN ('rpl_semi_sync_replica', 'rpl_semi_sync_slave') THEN v.VARIABLE_VALUE END) AS semisync
FROM performance_schema.processlist p
JOIN performance_schema.threads t ON t.PROCESSLIST_ID = p.ID
LEFT JOIN performance_schema.user_variables_by_thread v ON v.THREAD_ID = t.THREAD_ID
WHERE p.COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')
GROUP BY p.ID, p.USER, p.HOST, p.COMMAND, p.TIME, p.STATE`
	SQLDumpMySQL = `SELECT ID, USER, HOST, COMMAND, TIME, STATE FROM information_schema.PROCESSLIST WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')`

	SQLShowReplicas      = `SHOW REPLICAS`
	SQLShowSlaveHosts    = `SHOW SLAVE HOSTS`
	SQLBinaryLogStatus   = `SHOW BINARY LOG STATUS`
	SQLBinlogStatus      = `SHOW BINLOG STATUS`
	SQLMasterStatus      = `SHOW MASTER STATUS`
	SQLBinaryLogs        = `SHOW BINARY LOGS`
	SQLAllSlavesStatus   = `SHOW ALL SLAVES STATUS`
	SQLShowReplicaStatus = `SHOW REPLICA STATUS`
	SQLShowSlaveStatus   = `SHOW SLAVE STATUS`

	// SQLPrivileges lists the account's global privileges: without PROCESS
	// the processlist silently shows only the account's own threads, so
	// that gap cannot be told from an error.
	SQLPrivileges = `SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')`
	// SQLCurrentUser names the account the server authenticated, so
	// remediation can print the exact GRANT statement (QuoteAccount).
	SQLCurrentUser = `SELECT CURRENT_USER()`
	// SQLKill and SQLKillQuery take a connection id.
	SQLKill      = `KILL %d`
	SQLKillQuery = `KILL QUERY %d`

	// SQLVersion and SQLStreamVariables are the stream's preflight: the
	// version decides the flavor and the statements, the variables what
	// the binlog stream needs (log_bin, ROW format, a server_id).
	SQLVersion         = `SELECT VERSION()`
	SQLStreamVariables = `SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'binlog_row_image', 'server_id')`
	// SQLAllVariables is validate --live's read: every global variable, so
	// --live is tolerant of names a server version lacks (absent simply
	// means unset).
	SQLAllVariables = `SHOW GLOBAL VARIABLES`
)

// Privileges the reads need, by flavor (replication-signals.md §6.1).
const (
	PrivProcess           = "PROCESS"
	PrivReplicationSlave  = "REPLICATION SLAVE"
	PrivReplicationClient = "REPLICATION CLIENT"
	PrivMasterAdmin       = "REPLICATION MASTER ADMIN"
	PrivBinlogMonitor     = "BINLOG MONITOR"
	PrivSlaveMonitor      = "SLAVE MONITOR"
)

// Statement is one way to perform a read on some servers. For each read
// the first statement whose flavor, version range and performance_schema
// need match runs; if it fails with a server error, the next matching one
// runs instead (e.g. information_schema when performance_schema is not
// readable).
type Statement struct {
	Read   Read
	Flavor string  // "" for any
	Min    Version // inclusive; zero: no lower bound
	Max    Version // exclusive; zero: no upper bound
	PS     bool    // needs performance_schema=ON
	SQL    string
	Priv   string // the privilege it needs, named when it is missing
	// Silent means a missing Priv shows as fewer rows, not as an error;
	// the reader checks the account's privileges instead.
	Silent bool
	Cols   Columns // where its result holds each value
}

const (
	mysql   = FlavorMySQL
	mariadb = FlavorMariaDB
)

var statements = []Statement{
	{Read: ReadVariables, SQL: SQLVariables, Cols: NameValueColumns},
	{Read: ReadStatus, SQL: SQLStatus, Cols: NameValueColumns},

	{Read: ReadDumpThreads, Flavor: mariadb, SQL: SQLDumpMariaDB, Priv: PrivProcess, Silent: true, Cols: DumpThreadColumns},
	{Read: ReadDumpThreads, Flavor: mysql, Min: MySQL8022, PS: true, SQL: SQLDumpMySQLPS, Priv: PrivProcess, Silent: true, Cols: DumpThreadColumns},
	{Read: ReadDumpThreads, Flavor: mysql, SQL: SQLDumpMySQL, Priv: PrivProcess, Silent: true, Cols: DumpThreadColumns},

	{Read: ReadReplicaHosts, Flavor: mariadb, Min: MariaDB1051, SQL: SQLShowSlaveHosts, Priv: PrivMasterAdmin, Cols: ReplicaHostColumns},
	{Read: ReadReplicaHosts, Flavor: mariadb, Max: MariaDB1051, SQL: SQLShowSlaveHosts, Priv: PrivReplicationSlave, Cols: ReplicaHostColumns},
	{Read: ReadReplicaHosts, Flavor: mysql, Min: MySQL8022, SQL: SQLShowReplicas, Priv: PrivReplicationSlave, Cols: ReplicaHostColumns},
	{Read: ReadReplicaHosts, Flavor: mysql, Max: MySQL840, SQL: SQLShowSlaveHosts, Priv: PrivReplicationSlave, Cols: ReplicaHostColumns},

	{Read: ReadBinlogStatus, Flavor: mariadb, Min: MariaDB1052, SQL: SQLBinlogStatus, Priv: PrivBinlogMonitor, Cols: BinlogStatusColumns},
	{Read: ReadBinlogStatus, Flavor: mariadb, SQL: SQLMasterStatus, Priv: PrivReplicationClient, Cols: BinlogStatusColumns},
	{Read: ReadBinlogStatus, Flavor: mysql, Min: MySQL820, SQL: SQLBinaryLogStatus, Priv: PrivReplicationClient, Cols: BinlogStatusColumns},
	{Read: ReadBinlogStatus, Flavor: mysql, Max: MySQL840, SQL: SQLMasterStatus, Priv: PrivReplicationClient, Cols: BinlogStatusColumns},

	{Read: ReadBinlogFiles, Flavor: mariadb, Min: MariaDB1052, SQL: SQLBinaryLogs, Priv: PrivBinlogMonitor, Cols: BinlogFileColumns},
	{Read: ReadBinlogFiles, Flavor: mariadb, SQL: SQLBinaryLogs, Priv: PrivReplicationClient, Cols: BinlogFileColumns},
	{Read: ReadBinlogFiles, Flavor: mysql, SQL: SQLBinaryLogs, Priv: PrivReplicationClient, Cols: BinlogFileColumns},

	{Read: ReadChannels, Flavor: mariadb, Min: MariaDB1059, SQL: SQLAllSlavesStatus, Priv: PrivSlaveMonitor, Cols: ChannelColumns},
	{Read: ReadChannels, Flavor: mariadb, SQL: SQLAllSlavesStatus, Priv: PrivReplicationClient, Cols: ChannelColumns},
	{Read: ReadChannels, Flavor: mysql, Min: MySQL8022, SQL: SQLShowReplicaStatus, Priv: PrivReplicationClient, Cols: ChannelColumns},
	{Read: ReadChannels, Flavor: mysql, Max: MySQL840, SQL: SQLShowSlaveStatus, Priv: PrivReplicationClient, Cols: ChannelColumns},
}

// Statements returns the statements for a read on a server of flavor and
// version v (ps: performance_schema is on), in the order to try them.
func Statements(read Read, flavor string, v Version, ps bool) []Statement {
	var out []Statement
	for _, s := range statements {
		if s.Read != read || s.Flavor != "" && s.Flavor != flavor || s.PS && !ps {
			continue
		}
		if !s.Min.IsZero() && !v.AtLeast(s.Min) || !s.Max.IsZero() && v.AtLeast(s.Max) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// Columns names, for each value a read maps, the result columns that may
// hold it across flavors and versions (old and new names; matched without
// regard to case).
type Columns map[string][]string

// The columns of each read's statements.
var (
	NameValueColumns  = Columns{"name": {"Variable_name"}, "value": {"Value"}}
	DumpThreadColumns = Columns{
		"id": {"ID", "PROCESSLIST_ID"}, "user": {"USER", "PROCESSLIST_USER"}, "host": {"HOST", "PROCESSLIST_HOST"},
		"command": {"COMMAND", "PROCESSLIST_COMMAND"}, "time": {"TIME", "PROCESSLIST_TIME"}, "state": {"STATE", "PROCESSLIST_STATE"},
		"replica_uuid": {"replica_uuid"}, "heartbeat_ns": {"heartbeat_ns"}, "semisync": {"semisync"},
	}
	ReplicaHostColumns = Columns{
		"server_id": {"Server_id", "Server_Id"}, "host": {"Host"}, "port": {"Port"},
		"source_id": {"Source_Id", "Master_id"}, "uuid": {"Replica_UUID", "Slave_UUID"},
	}
	BinlogStatusColumns = Columns{"file": {"File"}, "position": {"Position"}, "gtid": {"Executed_Gtid_Set", "Gtid_Binlog_Pos"}}
	BinlogFileColumns   = Columns{"name": {"Log_name"}, "size": {"File_size"}}
	ChannelColumns      = Columns{
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

// DumpCommands are the processlist commands of binlog dump threads
// (MariaDB's, then MySQL's GTID-based one).
var DumpCommands = []string{"Binlog Dump", "Binlog Dump GTID"}

// SemiSyncNames are the semi-sync variable and status names: MySQL's new
// source/replica plugin, then the old master/slave plugin that MariaDB
// builds in (replication-signals.md §3.1). A server has one family only
// (the two source plugins cannot be installed together), so a reader may
// take the first name found.
var SemiSyncNames = struct {
	Enabled, Timeout, WaitNo, Count, WaitPoint          []string
	Status, Clients, WaitSessions, YesTx, NoTx, NoTimes []string
}{
	Enabled:      []string{"rpl_semi_sync_source_enabled", "rpl_semi_sync_master_enabled"},
	Timeout:      []string{"rpl_semi_sync_source_timeout", "rpl_semi_sync_master_timeout"},
	WaitNo:       []string{"rpl_semi_sync_source_wait_no_replica", "rpl_semi_sync_master_wait_no_slave"},
	Count:        []string{"rpl_semi_sync_source_wait_for_replica_count", "rpl_semi_sync_master_wait_for_slave_count"},
	WaitPoint:    []string{"rpl_semi_sync_source_wait_point", "rpl_semi_sync_master_wait_point"},
	Status:       []string{"Rpl_semi_sync_source_status", "Rpl_semi_sync_master_status"},
	Clients:      []string{"Rpl_semi_sync_source_clients", "Rpl_semi_sync_master_clients"},
	WaitSessions: []string{"Rpl_semi_sync_source_wait_sessions", "Rpl_semi_sync_master_wait_sessions"},
	YesTx:        []string{"Rpl_semi_sync_source_yes_tx", "Rpl_semi_sync_master_yes_tx"},
	NoTx:         []string{"Rpl_semi_sync_source_no_tx", "Rpl_semi_sync_master_no_tx"},
	NoTimes:      []string{"Rpl_semi_sync_source_no_times", "Rpl_semi_sync_master_no_times"},
}
