package probe

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
)

// Rowset is a result set as text: column names and rows, nil for NULL.
// Live results and recorded ones (testdata) both become Rowsets, so the
// mapping below is the same code for both.
type Rowset client.Rows

// row is one row with its columns found by value name.
type row struct {
	idx  map[string]int // value name -> column index
	vals []*string
}

// str is the value's text, "" when NULL or absent.
func (r row) str(name string) string {
	i, ok := r.idx[name]
	if !ok || i >= len(r.vals) || r.vals[i] == nil {
		return ""
	}
	return *r.vals[i]
}

func (r row) uint(name string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSpace(r.str(name)), 10, 64)
	return n
}

func (r row) int(name string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(r.str(name)), 10, 64)
	return n
}

// rows finds the columns of cols in rs and calls fn for each row. The
// required value names must each have a column, else the result is not
// what the statement table expects and mapping it would guess.
func (rs Rowset) rows(cols mysqlserver.Columns, required []string, fn func(row)) error {
	idx := map[string]int{}
	for name, aliases := range cols {
		for i, c := range rs.Columns {
			if slices.ContainsFunc(aliases, func(a string) bool { return strings.EqualFold(a, c) }) {
				idx[name] = i
				break
			}
		}
	}
	var missing []string
	for _, name := range required {
		if _, ok := idx[name]; !ok {
			missing = append(missing, strings.Join(cols[name], "/"))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("map result: no column %s among %v", strings.Join(missing, ", "), rs.Columns)
	}
	for _, vals := range rs.Rows {
		fn(row{idx: idx, vals: vals})
	}
	return nil
}

// mapNameValues maps SHOW VARIABLES / SHOW STATUS rows to a map.
func mapNameValues(rs Rowset) (map[string]string, error) {
	out := map[string]string{}
	err := rs.rows(mysqlserver.NameValueColumns, []string{"name", "value"}, func(r row) { out[r.str("name")] = r.str("value") })
	return out, err
}

// mapDumpThreads maps the dump-thread query of any flavor. Rows of other
// commands are dropped: SHOW PROCESSLIST (MariaDB without
// performance_schema) lists every thread.
func mapDumpThreads(rs Rowset) ([]health.DumpThread, error) {
	out := []health.DumpThread{}
	err := rs.rows(mysqlserver.DumpThreadColumns, []string{"id", "user", "host", "command", "time", "state"}, func(r row) {
		if !slices.Contains(mysqlserver.DumpCommands, r.str("command")) {
			return
		}
		out = append(out, health.DumpThread{ID: r.uint("id"), User: r.str("user"), Host: r.str("host"),
			Command: r.str("command"), State: r.str("state"), Time: r.int("time"),
			ReplicaUUID: r.str("replica_uuid"), HeartbeatNS: r.str("heartbeat_ns"), SemiSync: r.str("semisync")})
	})
	return out, err
}

// mapRegistrations maps SHOW REPLICAS / SHOW SLAVE HOSTS.
func mapRegistrations(rs Rowset) ([]health.Registration, error) {
	out := []health.Registration{}
	err := rs.rows(mysqlserver.ReplicaHostColumns, []string{"server_id", "host", "port"}, func(r row) {
		out = append(out, health.Registration{ServerID: uint32(r.uint("server_id")), Host: r.str("host"),
			Port: int(r.int("port")), SourceID: uint32(r.uint("source_id")), UUID: r.str("uuid")})
	})
	return out, err
}

// mapBinlogStatus maps SHOW MASTER STATUS and its successors; no row
// means the binlog is off.
func mapBinlogStatus(rs Rowset) (health.BinlogStatus, error) {
	var out health.BinlogStatus
	err := rs.rows(mysqlserver.BinlogStatusColumns, []string{"file", "position"}, func(r row) {
		out = health.BinlogStatus{File: r.str("file"), Position: r.uint("position"), GTID: strings.TrimSpace(r.str("gtid"))}
	})
	return out, err
}

// mapBinlogFiles maps SHOW BINARY LOGS.
func mapBinlogFiles(rs Rowset) ([]health.BinlogFile, error) {
	out := []health.BinlogFile{}
	err := rs.rows(mysqlserver.BinlogFileColumns, []string{"name", "size"}, func(r row) {
		out = append(out, health.BinlogFile{Name: r.str("name"), Size: r.uint("size")})
	})
	return out, err
}

// mapChannels maps SHOW ALL SLAVES STATUS / SHOW REPLICA STATUS.
func mapChannels(rs Rowset) ([]health.Channel, error) {
	out := []health.Channel{}
	err := rs.rows(mysqlserver.ChannelColumns, []string{"source_host", "io_running", "last_io_errno"}, func(r row) {
		out = append(out, health.Channel{Name: r.str("name"), SourceHost: r.str("source_host"),
			SourcePort: int(r.int("source_port")), SourceUser: r.str("source_user"), IORunning: r.str("io_running"),
			SQLRunning: r.str("sql_running"), IOState: r.str("io_state"), LastIOErrno: int(r.int("last_io_errno")),
			LastIOError: r.str("last_io_error"), SecondsBehind: r.str("behind")})
	})
	return out, err
}

// first returns the value of the first name vars has, and that name.
func first(vars map[string]string, names []string) (string, string) {
	for _, n := range names {
		if v, ok := vars[n]; ok {
			return v, n
		}
	}
	return "", ""
}

func on(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "ON", "1", "YES", "TRUE":
		return true
	}
	return false
}

func num(v string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	return n
}

// semiSync normalises the semi-sync variables and counters of any flavor.
func semiSync(vars, status map[string]string) health.SemiSync {
	n := mysqlserver.SemiSyncNames
	enabled, name := first(vars, n.Enabled)
	if name == "" {
		return health.SemiSync{}
	}
	s := health.SemiSync{Available: true, Prefix: strings.TrimSuffix(name, "_enabled"), Enabled: on(enabled), Required: 1}
	v := func(names []string) string { x, _ := first(vars, names); return x }
	st := func(names []string) string { x, _ := first(status, names); return x }
	s.TimeoutMS = num(v(n.Timeout))
	s.WaitNoReplica = on(v(n.WaitNo))
	if c, _ := first(vars, n.Count); c != "" { // MariaDB has no count: one ACK suffices
		s.Required = num(c)
	}
	s.WaitPoint = v(n.WaitPoint)
	s.StatusOn = on(st(n.Status))
	s.Clients, s.WaitSessions = num(st(n.Clients)), num(st(n.WaitSessions))
	s.YesTx, s.NoTx, s.NoTimes = num(st(n.YesTx)), num(st(n.NoTx)), num(st(n.NoTimes))
	return s
}

// server reads identity from the variables; flavor "mysql" or "mariadb"
// overrides detection (SIDECAR_MYSQL_FLAVOR), anything else detects.
func server(vars map[string]string, flavor string) health.Server {
	s := health.Server{Version: vars["version"], ServerUUID: vars["server_uuid"]}
	id, _ := strconv.ParseUint(vars["server_id"], 10, 32)
	s.ServerID = uint32(id)
	s.Flavor = mysqlserver.ResolveFlavor(flavor, vars["version"], vars["version_comment"])
	return s
}

// connections reads the connection load.
func connections(vars, status map[string]string) health.Connections {
	return health.Connections{ThreadsConnected: num(status["Threads_connected"]),
		ThreadsRunning: num(status["Threads_running"]), MaxConnections: num(vars["max_connections"])}
}
