package health

import (
	"net"
	"strings"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
)

// Read names one query the probe runs each poll. Checks name the reads
// they depend on, so a failed read makes exactly those checks unknown.
// The reads and their statements are mysqlserver's table.
type Read = mysqlserver.Read

// The reads of one poll, in the order the probe runs them.
const (
	ReadVariables    = mysqlserver.ReadVariables
	ReadStatus       = mysqlserver.ReadStatus
	ReadDumpThreads  = mysqlserver.ReadDumpThreads
	ReadReplicaHosts = mysqlserver.ReadReplicaHosts
	ReadBinlogStatus = mysqlserver.ReadBinlogStatus
	ReadBinlogFiles  = mysqlserver.ReadBinlogFiles
	ReadChannels     = mysqlserver.ReadChannels
)

// Reads lists every read in poll order.
func Reads() []Read {
	return []Read{ReadVariables, ReadStatus, ReadDumpThreads, ReadReplicaHosts,
		ReadBinlogStatus, ReadBinlogFiles, ReadChannels}
}

// ReadResult is the evidence of one read: what ran, when, and how it went.
type ReadResult struct {
	SQL  string        `json:"sql"`
	At   time.Time     `json:"at"`
	Took time.Duration `json:"took_ns"`
	Rows int           `json:"rows"`
	// Queries is the number of statements run (a fallback makes two).
	Queries int `json:"queries"`
	// Err is set when the read failed; its checks are then unknown.
	Err string `json:"error,omitempty"`
	// MissingPrivilege names the grant the read lacks; its checks are then
	// unavailable rather than unknown.
	MissingPrivilege string `json:"missing_privilege,omitempty"`
	// Grant is the privilege that lets the read run on this flavor and
	// version (what to GRANT when MissingPrivilege is set): the server's
	// message may name several, e.g. SUPER or BINLOG MONITOR.
	Grant string `json:"grant,omitempty"`
	// Code is the server's error number when the server answered the read
	// with an error (e.g. 1146, a missing table); 0 for a network failure.
	Code uint16 `json:"code,omitempty"`
	// Skipped is set when the read was not tried on its own: an earlier
	// read of the poll lost the connection, or the server's version (which
	// picks the statement) is unknown. It is evidence of nothing.
	Skipped bool `json:"skipped,omitempty"`
	// FallbackFrom is the error of the preferred statement when a fallback ran.
	FallbackFrom string `json:"fallback_from,omitempty"`
}

// OK reports whether the read ran and succeeded.
func (r ReadResult) OK() bool { return !r.At.IsZero() && r.Err == "" && r.MissingPrivilege == "" }

// answered reports whether the server answered the read, with rows or
// with an error of its own.
func (r ReadResult) answered() bool { return r.OK() || r.Code != 0 || r.MissingPrivilege != "" }

// Observation is one poll of the server's replication state: raw values as
// read, normalised across flavors and versions, with the SQL that produced
// them. The probe fills it; the rules only read it.
type Observation struct {
	At   time.Time     `json:"at"`
	Took time.Duration `json:"took_ns"`
	// Server is the identity read in this poll (or the last known one).
	Server Server `json:"server"`
	// User is the account the probe logged in as: the sidecar's own, which
	// its binlog stream uses too.
	User string `json:"user"`
	// Account is the account the server authenticated, as CURRENT_USER()
	// names it ('sidecar'@'%'); empty when not known. GRANT statements in
	// remediation name it.
	Account           string `json:"account,omitempty"`
	PerformanceSchema bool   `json:"performance_schema"`

	Variables   map[string]string `json:"variables,omitempty"` // raw, as read
	Status      map[string]string `json:"status,omitempty"`    // raw, as read
	DumpThreads []DumpThread      `json:"dump_threads"`
	Replicas    []Registration    `json:"replica_hosts"`
	SemiSync    SemiSync          `json:"semisync"`
	Binlog      BinlogStatus      `json:"binlog"`
	BinlogFiles []BinlogFile      `json:"binlog_files,omitempty"`
	Channels    []Channel         `json:"channels,omitempty"`
	Connections Connections       `json:"connections"`

	Reads map[Read]ReadResult `json:"reads"`
}

// Read returns the result of one read; the zero value when it did not run.
func (o Observation) Read(r Read) ReadResult { return o.Reads[r] }

// Up reports whether the sidecar could query the server in this poll (any
// read succeeded): binlog_sidecar_mysql_up.
func (o Observation) Up() bool {
	for _, r := range o.Reads {
		if r.OK() {
			return true
		}
	}
	return false
}

// answered reports whether the server answered any read of the poll, with
// rows or with an error of its own.
func (o Observation) answered() bool {
	for _, r := range o.Reads {
		if r.answered() {
			return true
		}
	}
	return false
}

// Queries is the number of statements the poll ran on the server.
func (o Observation) Queries() int {
	n := 0
	for _, r := range o.Reads {
		n += r.Queries
	}
	return n
}

// RowsRead is the number of rows the poll's reads returned.
func (o Observation) RowsRead() int {
	n := 0
	for _, r := range o.Reads {
		n += r.Rows
	}
	return n
}

// DumpThread is one binlog dump thread on the server (a replica's, or the
// sidecar's own stream).
type DumpThread struct {
	ID      uint64 `json:"id"`
	User    string `json:"user"`
	Host    string `json:"host"` // ip:port as the processlist shows it
	Command string `json:"command"`
	State   string `json:"state"`
	Time    int64  `json:"time_seconds"`
	// From performance_schema.user_variables_by_thread where readable:
	ReplicaUUID string `json:"replica_uuid,omitempty"`
	HeartbeatNS string `json:"heartbeat_ns,omitempty"`
	SemiSync    string `json:"semisync,omitempty"`
	// ResolvedIP is the address of Host's name when the server shows host
	// names (skip_name_resolve=OFF), filled in by the rules from the poll's
	// look-ups so that threads match replicas by address.
	ResolvedIP string `json:"resolved_ip,omitempty"`
}

// IP is the connection's address without the client port, normalised
// (IPv4-mapped IPv6 as plain IPv4); "localhost" for a socket. Where the
// server showed a host name that resolved, it is that name's address.
func (d DumpThread) IP() string {
	if d.ResolvedIP != "" {
		return d.ResolvedIP
	}
	return normalIP(d.hostPart())
}

// hostPart is Host without the client port.
func (d DumpThread) hostPart() string {
	h := d.Host
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	} else if i := strings.LastIndexByte(h, ':'); i > 0 && strings.Count(h, ":") > 1 && net.ParseIP(h[:i]) != nil {
		h = h[:i] // the processlist appends the port to a bare IPv6 address
	}
	return h
}

func normalIP(s string) string {
	if ip := net.ParseIP(s); ip != nil {
		return ip.String()
	}
	return s
}

// Registration is one row of SHOW REPLICAS / SHOW SLAVE HOSTS: what a
// replica reported when it registered. The server removes it when that
// replica's dump thread ends.
type Registration struct {
	ServerID uint32 `json:"server_id"`
	Host     string `json:"host"` // report_host, or (MariaDB 10.5+) the connection address
	Port     int    `json:"port"` // report_port, or the replica's own port
	SourceID uint32 `json:"source_id"`
	UUID     string `json:"replica_uuid,omitempty"` // MySQL only
}

// Addr is host:port as registered; the host alone when the port is unknown.
func (r Registration) Addr() string {
	if r.Port == 0 {
		return r.Host
	}
	return net.JoinHostPort(r.Host, itoa(r.Port))
}

// SemiSync is the source side of semi-synchronous replication, normalised
// over the master/slave and source/replica names.
type SemiSync struct {
	// Available is false when the server has no semi-sync variables (MySQL
	// without the plugin).
	Available bool `json:"available"`
	// Prefix is the variable prefix in use, e.g. "rpl_semi_sync_master",
	// so remediation names the variable this server has.
	Prefix        string `json:"prefix,omitempty"`
	Enabled       bool   `json:"enabled"`
	TimeoutMS     uint64 `json:"timeout_ms"`
	WaitNoReplica bool   `json:"wait_no_replica"`
	// Required is the number of acknowledgements a commit waits for
	// (MySQL wait_for_replica_count; MariaDB has no such variable: 1).
	Required  uint64 `json:"required"`
	WaitPoint string `json:"wait_point,omitempty"`

	StatusOn     bool   `json:"status_on"`
	Clients      uint64 `json:"clients"`
	WaitSessions uint64 `json:"wait_sessions"`
	YesTx        uint64 `json:"yes_tx"`
	NoTx         uint64 `json:"no_tx"`
	NoTimes      uint64 `json:"no_times"`
}

// BinlogStatus is the server's current binlog end.
type BinlogStatus struct {
	File     string `json:"file"`
	Position uint64 `json:"position"`
	GTID     string `json:"gtid,omitempty"`
}

// BinlogFile is one row of SHOW BINARY LOGS.
type BinlogFile struct {
	Name string `json:"name"`
	Size uint64 `json:"size"`
}

// Channel is one of this server's own replication connections (it is a
// replica of some source).
type Channel struct {
	Name          string `json:"name"`
	SourceHost    string `json:"source_host"`
	SourcePort    int    `json:"source_port"`
	SourceUser    string `json:"source_user"`
	IORunning     string `json:"io_running"` // Yes, No, Connecting
	SQLRunning    string `json:"sql_running"`
	IOState       string `json:"io_state"`
	LastIOErrno   int    `json:"last_io_errno"`
	LastIOError   string `json:"last_io_error,omitempty"`
	SecondsBehind string `json:"seconds_behind,omitempty"` // raw; empty is NULL
}

// SourceAddr is the configured source as host:port.
func (c Channel) SourceAddr() string { return net.JoinHostPort(c.SourceHost, itoa(c.SourcePort)) }

// Connections is the server's connection load.
type Connections struct {
	ThreadsConnected uint64 `json:"threads_connected"`
	ThreadsRunning   uint64 `json:"threads_running"`
	MaxConnections   uint64 `json:"max_connections"`
}

// ProbeResult is the outcome of a handshake probe of a replica's address:
// OK when the server sent its greeting within the probe timeout.
type ProbeResult struct {
	Addr    string        `json:"addr"`
	At      time.Time     `json:"at"`
	Took    time.Duration `json:"took_ns"`
	OK      bool          `json:"ok"`
	Version string        `json:"version,omitempty"` // from the greeting
	Err     string        `json:"error,omitempty"`
	// Connected is true when TCP connected but no greeting came: a live
	// kernel in front of a frozen or hung mysqld, not a firewall.
	Connected bool `json:"connected,omitempty"`
	// Unresolved is true when the replica's host name did not resolve:
	// no evidence about the replica either way.
	Unresolved bool `json:"unresolved,omitempty"`
}
