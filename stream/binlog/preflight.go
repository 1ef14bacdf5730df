package binlog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// The preflight's statements are mysqlserver's (one table for every
// reader). None of them needs more than the contract's grants: SELECT
// VERSION() and SHOW GLOBAL VARIABLES need none; the binlog status and SHOW
// BINARY LOGS need BINLOG MONITOR (MariaDB) or REPLICATION CLIENT (MySQL);
// SHOW SLAVE HOSTS needs REPLICATION MASTER ADMIN on MariaDB 10.5.1+ (the
// check is skipped with a warning without it).

// statementSQL is the statement a read runs first on the server the
// preflight found (the one the health probe runs too).
func statementSQL(read mysqlserver.Read, info serverInfo) (string, error) {
	st := mysqlserver.Statements(read, info.flavor, mysqlserver.ParseVersion(info.version), false)
	if len(st) == 0 {
		return "", fmt.Errorf("no statement for %s on %s %s", read, info.flavor, info.version)
	}
	return st[0].SQL, nil
}

// serverInfo is what the preflight learned.
type serverInfo struct {
	flavor   string
	version  string
	serverID uint32
	rowImage string
	end      stream.Position
	files    []string // SHOW BINARY LOGS, oldest first
	warnings []string
}

// checkVariables applies the sidecar's requirements to the server's
// variables: the pure half of the preflight.
func checkVariables(vars map[string]string, ownServerID uint32) (warnings []string, err error) {
	if v := strings.ToUpper(vars["log_bin"]); v != "ON" && v != "1" {
		return nil, &VariableError{
			Variable: "log_bin", Value: valueOr(vars["log_bin"], "OFF"), Want: "ON",
			Fix: "enable the binary log: log_bin=<basename> in my.cnf (with a unique server_id) and restart the server; it cannot be turned on at runtime",
			Err: ErrBinlogDisabled,
		}
	}
	if v := strings.ToUpper(vars["binlog_format"]); v != "ROW" {
		return nil, &VariableError{
			Variable: "binlog_format", Value: valueOr(vars["binlog_format"], "unknown"), Want: "ROW",
			Fix: "SET GLOBAL binlog_format=ROW and binlog_format=ROW in my.cnf (sessions already open keep their format until they reconnect)",
			Err: ErrNotRowFormat,
		}
	}
	id, _ := strconv.ParseUint(vars["server_id"], 10, 32)
	switch {
	case id == 0:
		return nil, &VariableError{
			Variable: "server_id", Value: valueOr(vars["server_id"], "0"), Want: "a unique non-zero id",
			Fix: "set server_id to a unique non-zero value: SET GLOBAL server_id=N and server_id=N in my.cnf",
			Err: ErrServerIDZero,
		}
	case uint32(id) == ownServerID:
		return nil, &VariableError{
			Variable: "server_id", Value: vars["server_id"], Want: "an id different from SIDECAR_SERVER_ID",
			Fix: "the server and the sidecar share a server_id; set SIDECAR_SERVER_ID to an id no server uses",
			Err: ErrServerIDConflict,
		}
	}
	if v := strings.ToUpper(vars["binlog_row_image"]); v != "" && v != "FULL" {
		warnings = append(warnings, fmt.Sprintf(
			"binlog_row_image is %s: rows are still counted exactly, but bytes per row are smaller than with FULL and replicas that need full images may differ; SET GLOBAL binlog_row_image=FULL to change it", v))
	}
	return warnings, nil
}

func valueOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// preflight runs the checks on an open connection.
func preflight(c *client.Conn, flavor string, ownServerID uint32) (serverInfo, error) {
	var info serverInfo
	r, err := c.Query(mysqlserver.SQLVersion)
	if err != nil {
		return info, fmt.Errorf("read version: %w", err)
	}
	info.version = r.Value(0, 0)
	info.flavor = mysqlserver.ResolveFlavor(flavor, info.version, "")

	r, err = c.Query(mysqlserver.SQLStreamVariables)
	if err != nil {
		return info, fmt.Errorf("read variables: %w", err)
	}
	vars := make(map[string]string, len(r.Rows))
	for i := range r.Rows {
		vars[strings.ToLower(r.Value(i, 0))] = r.Value(i, 1)
	}
	warnings, err := checkVariables(vars, ownServerID)
	if err != nil {
		return info, err
	}
	info.warnings = warnings
	if err := checkRegistrations(c, info, ownServerID); err != nil {
		var inUse *ServerIDInUseError
		if errors.As(err, &inUse) {
			return info, err
		}
		// Without the privilege (REPLICATION MASTER ADMIN on MariaDB
		// 10.5.2+) the check cannot run: say so, once, and stream anyway,
		// as before the check existed.
		info.warnings = append(info.warnings, fmt.Sprintf(
			"cannot check that no replica uses server_id %d (SIDECAR_SERVER_ID): %v", ownServerID, err))
	}
	id, _ := strconv.ParseUint(vars["server_id"], 10, 32)
	info.serverID = uint32(id)
	info.rowImage = vars["binlog_row_image"]

	status, err := statementSQL(mysqlserver.ReadBinlogStatus, info)
	if err != nil {
		return info, fmt.Errorf("read binlog end: %w", err)
	}
	r, err = c.Query(status)
	if err != nil {
		return info, fmt.Errorf("read binlog end (%s): %w", status, err)
	}
	if len(r.Rows) == 0 {
		return info, &VariableError{Variable: "log_bin", Value: "OFF", Want: "ON",
			Fix: "the server reports no binary log; enable log_bin in my.cnf and restart", Err: ErrBinlogDisabled}
	}
	info.end = stream.Position{File: r.Value(0, 0), Pos: uint32(r.Uint(0, 1))}

	r, err = c.Query(mysqlserver.SQLBinaryLogs)
	if err != nil {
		return info, fmt.Errorf("list binary logs: %w", err)
	}
	for i := range r.Rows {
		info.files = append(info.files, r.Value(i, 0))
	}
	if len(info.files) == 0 {
		return info, errors.New("list binary logs: the server lists no binlog file")
	}
	return info, nil
}

// registration is one row of SHOW SLAVE HOSTS / SHOW REPLICAS.
type registration struct {
	serverID uint32
	host     string
	port     int
}

// checkRegistrations refuses a server_id that a registered replica uses.
// Registering with it would make the server end that replica's dump
// thread (MariaDB keeps one registration per server_id), and the replica,
// reconnecting, would end the sidecar's: an eviction loop that throws a
// real replica off every few seconds. The sidecar's own earlier
// registration (RegisterHost, after a restart) is not a conflict.
func checkRegistrations(c *client.Conn, info serverInfo, own uint32) error {
	sql, err := statementSQL(mysqlserver.ReadReplicaHosts, info)
	if err != nil {
		return err
	}
	r, err := c.Query(sql)
	if err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	idCol, hostCol, portCol := r.Column("server_id"), r.Column("host"), r.Column("port")
	if idCol < 0 {
		return fmt.Errorf("%s: no Server_id column", sql)
	}
	var regs []registration
	for i := range r.Rows {
		regs = append(regs, registration{serverID: uint32(r.Uint(i, idCol)), host: r.Value(i, hostCol), port: int(r.Uint(i, portCol))})
	}
	return serverIDFree(regs, own)
}

// serverIDFree is the pure half of checkRegistrations.
func serverIDFree(regs []registration, own uint32) error {
	for _, r := range regs {
		if r.serverID == own && !IsOwnRegistration(r.serverID, r.host, own) {
			return &ServerIDInUseError{ServerID: own, Host: r.host, Port: r.port}
		}
	}
	return nil
}

// resumePoint decides where a file/position stream starts given the files
// the server has. A position in a file older than the oldest one left was
// purged: the stream restarts at the oldest file and the skipped stretch is
// reported as a gap. A file the server never had is an error.
func resumePoint(want stream.Position, files []string) (start stream.Position, gap bool, err error) {
	for _, f := range files {
		if f == want.File {
			return want, false, nil
		}
	}
	if len(files) > 0 && stream.CompareFiles(want.File, files[0]) < 0 {
		return stream.Position{File: files[0], Pos: 4}, true, nil
	}
	if len(files) == 0 {
		return stream.Position{}, false, fmt.Errorf("%w: the server lists no binlog file", ErrBadPosition)
	}
	return stream.Position{}, false, fmt.Errorf("%w: binlog file %s is not on the server (it has %s to %s)",
		ErrBadPosition, want.File, files[0], files[len(files)-1])
}
