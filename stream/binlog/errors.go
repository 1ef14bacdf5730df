package binlog

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
)

// Sentinels for the conditions a caller (or a test) branches on. Every
// error Run reports to the meter wraps one of them where the cause is known.
var (
	ErrBinlogDisabled   = errors.New("binary log is disabled")
	ErrNotRowFormat     = errors.New("binlog_format is not ROW")
	ErrServerIDZero     = errors.New("server_id is 0")
	ErrServerIDConflict = errors.New("server_id is the sidecar's own")
	ErrAccessDenied     = errors.New("access denied")
	ErrMissingPrivilege = errors.New("missing privilege")
	ErrBinlogPurged     = errors.New("binlog purged")
	ErrDuplicateReplica = errors.New("another replica uses the sidecar's server_id")
	ErrBadPosition      = errors.New("start position not valid on the server")
	ErrUnreachable      = errors.New("server unreachable")
	ErrReadTimeout      = errors.New("no event or heartbeat within the read timeout")
)

// VariableError is a server setting the sidecar cannot work with.
type VariableError struct {
	Variable string // e.g. "binlog_format"
	Value    string // what the server has
	Want     string // what the sidecar needs
	Fix      string // how to change it
	Err      error  // the sentinel
}

func (e *VariableError) Error() string {
	return fmt.Sprintf("%s is %s; the sidecar needs %s", e.Variable, e.Value, e.Want)
}

// Unwrap returns the sentinel.
func (e *VariableError) Unwrap() error { return e.Err }

// Hint tells the operator how to fix it.
func (e *VariableError) Hint() string { return e.Fix }

// ServerIDInUseError is a registered replica that uses the sidecar's
// server_id: the sidecar does not register, since that would evict it.
type ServerIDInUseError struct {
	ServerID uint32
	Host     string // the replica's report_host; may be empty
	Port     int
}

func (e *ServerIDInUseError) Error() string {
	who := "a replica registered without report_host"
	if e.Host != "" {
		who = fmt.Sprintf("the replica %s", net.JoinHostPort(e.Host, fmt.Sprint(e.Port)))
	}
	return fmt.Sprintf("server_id %d is used by %s (SHOW SLAVE HOSTS); registering with it would throw that replica off", e.ServerID, who)
}

// Unwrap returns the sentinel.
func (e *ServerIDInUseError) Unwrap() error { return ErrDuplicateReplica }

// Hint tells the operator how to fix it.
func (e *ServerIDInUseError) Hint() string {
	return "set SIDECAR_SERVER_ID to an id no server or replica uses (unset, it is derived from SIDECAR_INSTANCE in 4000000000-4294967295); found after the stream ran, the conflict is waited out: the stream checks again with backoff and does not register"
}

// Error is a failure of one step of the stream with the operator's fix.
type Error struct {
	Op   string // "connect", "preflight", "dump", "stream"
	Err  error
	Fix  string
	Kind error // a sentinel, or nil when the cause is not known
}

func (e *Error) Error() string {
	if e.Kind != nil && !errors.Is(e.Err, e.Kind) {
		return e.Op + ": " + e.Kind.Error() + ": " + e.Err.Error()
	}
	return e.Op + ": " + e.Err.Error()
}

// Unwrap returns the cause and the sentinel.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Kind}
}

// Hint tells the operator how to fix it.
func (e *Error) Hint() string { return e.Fix }

// Hint returns the fix carried by err, or "".
func Hint(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}

// privilegeInMessage finds the privilege named by a 1227 message such as
// "Access denied; you need (at least one of) the BINLOG MONITOR privilege(s)".
var privilegeInMessage = regexp.MustCompile(`the ([A-Z ,]+?) privilege`)

// classify wraps err from step op with a sentinel and the operator's fix.
// user is the account, for GRANT statements in hints.
func classify(op string, err error, user, addr string, serverID uint32) error {
	if err == nil {
		return nil
	}
	var ve *VariableError
	if errors.As(err, &ve) {
		return err
	}
	var inUse *ServerIDInUseError
	if errors.As(err, &inUse) {
		return &Error{Op: op, Err: err, Kind: ErrDuplicateReplica, Fix: inUse.Hint()}
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	e := &Error{Op: op, Err: err}
	my, serverErr := client.AsServerError(err)
	switch {
	case errors.Is(err, ErrReadTimeout):
		e.Kind = ErrReadTimeout
		e.Fix = "the server stopped sending (frozen, overloaded, or the network stalled); reconnecting"
	case errors.Is(err, ErrBadPosition):
		e.Kind = ErrBadPosition
		e.Fix = "the server does not have the position in SIDECAR_START; check SIDECAR_START against SHOW BINARY LOGS, or use earliest or end"
	case serverErr:
		switch my.Code {
		case mysqlserver.ErrAccessDenied, mysqlserver.ErrDBAccessDenied:
			if op == "connect" {
				e.Kind = ErrAccessDenied
				e.Fix = fmt.Sprintf("the server refused user %q: check SIDECAR_MYSQL_USER and SIDECAR_MYSQL_PASSWORD, and that the account may connect from this host", user)
			} else {
				// MariaDB answers COM_REGISTER_SLAVE/COM_BINLOG_DUMP
				// from an account without REPLICATION SLAVE with 1045.
				e.Kind = ErrMissingPrivilege
				e.Fix = fmt.Sprintf("the account lacks REPLICATION SLAVE: GRANT REPLICATION SLAVE ON *.* TO %s", grantee(user))
			}
		case mysqlserver.ErrSpecificAccessDenied:
			e.Kind = ErrMissingPrivilege
			priv := "the privilege named in the error"
			if m := privilegeInMessage.FindStringSubmatch(my.Message); m != nil {
				priv = m[1]
			}
			e.Fix = fmt.Sprintf("the account lacks %s: GRANT %s ON *.* TO %s", priv, firstPrivilege(priv), grantee(user))
		case mysqlserver.ErrFatalReadingBinlog:
			msg := strings.ToLower(my.Message)
			switch {
			case strings.Contains(msg, "could not find first log file"), strings.Contains(msg, "purged"):
				e.Kind = ErrBinlogPurged
				e.Fix = "the binlog file to resume from is gone (purged); the stream restarts at the earliest file and records a gap"
			case strings.Contains(msg, "same server_uuid/server_id"), strings.Contains(msg, "same server_id"):
				e.Kind = ErrDuplicateReplica
				e.Fix = fmt.Sprintf("server_id %d is also used by another replica; set SIDECAR_SERVER_ID to an id no server uses", serverID)
			default:
				e.Kind = ErrBadPosition
				e.Fix = "the server cannot stream from the requested position; check SIDECAR_START"
			}
		case mysqlserver.ErrMariaDBSameID:
			e.Kind = ErrDuplicateReplica
			e.Fix = fmt.Sprintf("server_id %d is also used by another replica; set SIDECAR_SERVER_ID to an id no server uses", serverID)
		}
	case isNetError(err):
		if op == "connect" {
			e.Kind = ErrUnreachable
			e.Fix = fmt.Sprintf("cannot reach the server at %s: check SIDECAR_MYSQL_ADDR and that the server is up", addr)
		} else {
			e.Fix = "the connection to the server broke (restart, network, or no heartbeat within the read timeout); reconnecting"
		}
	}
	return e
}

func isNetError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) ||
		strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "broken pipe") || strings.Contains(err.Error(), "connection reset")
}

func grantee(user string) string {
	if user == "" {
		return "'<user>'@'<host>'"
	}
	return "'" + user + "'@'<host>'"
}

// firstPrivilege picks one privilege from "A, B" lists of alternatives.
func firstPrivilege(p string) string {
	if i := strings.IndexByte(p, ','); i > 0 {
		return strings.TrimSpace(p[:i])
	}
	return p
}
