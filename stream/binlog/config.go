package binlog

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// RegisterHost is the host name the sidecar sends when it registers as a
// replica (COM_REGISTER_SLAVE). The server shows it in the Host column of
// the sidecar's SHOW SLAVE HOSTS / SHOW REPLICAS row; see IsOwnRegistration.
const RegisterHost = "binlog-sidecar"

// IsOwnRegistration reports whether a SHOW SLAVE HOSTS / SHOW REPLICAS row
// (its Server_id and Host) is the sidecar's own registration, given the
// sidecar's server_id (Config.ServerID). Both must match: a real replica
// that shares the sidecar's server_id is a misconfiguration to report, not
// the sidecar. The sidecar's dump thread is the Binlog Dump thread of the
// account Config.User whose registration this is; the server keeps at most
// one registration per server_id.
func IsOwnRegistration(serverID uint32, host string, ownServerID uint32) bool {
	return serverID == ownServerID && host == RegisterHost
}

// Defaults for zero Config fields.
const (
	DefaultHeartbeatPeriod = time.Second
	// DefaultReadTimeoutPeriods is ReadTimeout in heartbeat periods. It
	// must exceed the 3 periods after which a quiet stream counts as
	// stalled, so that a frozen server shows as stalled (connected, nothing
	// arriving) before the read times out and the stream counts as down.
	DefaultReadTimeoutPeriods = 5
	DefaultDialTimeout        = 5 * time.Second
	// DefaultMaxDelay is SIDECAR_STREAM_MAX_DELAY's default.
	DefaultMaxDelay = 100 * time.Millisecond
)

// Config configures a Source.
type Config struct {
	// Addr is host:port, or a unix socket path starting with "/".
	Addr     string
	User     string
	Password string
	// Flavor is mysqlserver.FlavorAuto (from SELECT VERSION()),
	// mysqlserver.FlavorMySQL or mysqlserver.FlavorMariaDB.
	Flavor string
	// TLS, when set, is used for every connection to the server.
	TLS *tls.Config
	// TLSPreferred connects without TLS when the server offers none
	// (SIDECAR_MYSQL_TLS=preferred).
	TLSPreferred bool
	// ServerID is the pseudo-replica's server_id: non-zero and unique in
	// the topology (a duplicate evicts the real replica that has it).
	ServerID uint32
	// HeartbeatPeriod is the heartbeat period asked of the server
	// (DefaultHeartbeatPeriod when zero).
	HeartbeatPeriod time.Duration
	// ReadTimeout ends a stream that received nothing, not even a
	// heartbeat, for this long (DefaultReadTimeoutPeriods heartbeat
	// periods when zero).
	ReadTimeout time.Duration
	// DialTimeout bounds connecting to the server (DefaultDialTimeout).
	DialTimeout time.Duration
	// Start says where the stream starts; see ParseStart. Empty is "end".
	Start string
	// BackoffMin and BackoffMax bound the wait between reconnect attempts
	// (stream.DefaultBackoffMin/Max when zero).
	BackoffMin, BackoffMax time.Duration
	// StopAt, when set, makes Run return nil once the stream's position
	// reaches it (for benchmarks and tests).
	StopAt *stream.Position
	// MaxDelay is the longest a received event may wait before it is
	// counted, so that the stream can read in batches and wake up less
	// (DefaultMaxDelay is the daemon's default). 0 counts each event as it
	// arrives.
	MaxDelay time.Duration
	// ReplicaUUID is the UUID the sidecar registers with (@slave_uuid);
	// see ReplicaUUID. Empty: derived from ServerID.
	ReplicaUUID string
	// OnCommit, when set, is called on the stream's goroutine right after
	// the meter counted a transaction, with its GTID (the zero GTID when
	// the server has none). It must return quickly: the stream waits. It
	// lets a caller time when a row it wrote was counted (bench/replay's
	// latency probe).
	OnCommit func(stream.GTID)
	// OnCanary, when set, is called on the stream's goroutine for each
	// row written to the canary table (CanarySchema.CanaryTable) with the
	// row's sequence number and write time in microseconds, as the rows
	// event arrives. Rows of other tables never reach it, and cost nothing
	// more. It must return quickly: the stream waits.
	OnCanary func(seq uint64, writtenUS int64)
}

// The canary's table, whose rows the stream hands to Config.OnCanary. Its
// first two columns are BIGINTs: the sequence number and the write time in
// microseconds (see the canary package for the whole DDL).
const (
	CanarySchema = "binlog_sidecar"
	CanaryTable  = "heartbeat"
)

func (c Config) withDefaults() Config {
	if c.Flavor == "" {
		c.Flavor = mysqlserver.FlavorAuto
	}
	if c.HeartbeatPeriod <= 0 {
		c.HeartbeatPeriod = DefaultHeartbeatPeriod
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeoutPeriods * c.HeartbeatPeriod
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ReplicaUUID == "" {
		c.ReplicaUUID = ReplicaUUID("server_id " + strconv.FormatUint(uint64(c.ServerID), 10))
	}
	return c
}

// ErrConfig marks a configuration the Source cannot run with; Run returns
// it at once instead of retrying.
var ErrConfig = errors.New("invalid binlog stream configuration")

// Validate reports every invalid field of c.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, fmt.Errorf("%w: Addr is empty", ErrConfig))
	}
	if c.ServerID == 0 {
		errs = append(errs, fmt.Errorf("%w: ServerID must be non-zero (0 makes the server end the dump at the binlog's end)", ErrConfig))
	}
	switch c.Flavor {
	case "", mysqlserver.FlavorAuto, mysqlserver.FlavorMySQL, mysqlserver.FlavorMariaDB:
	default:
		errs = append(errs, fmt.Errorf("%w: Flavor %q is not auto, mysql or mariadb", ErrConfig, c.Flavor))
	}
	if _, err := ParseStart(c.Start); err != nil {
		errs = append(errs, err)
	}
	if c.MaxDelay < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxDelay %v is negative", ErrConfig, c.MaxDelay))
	}
	if c.HeartbeatPeriod > 0 && c.MaxDelay >= c.HeartbeatPeriod {
		// Heartbeats held back that long would make a healthy stream
		// look stalled.
		errs = append(errs, fmt.Errorf("%w: MaxDelay %v must be below the heartbeat period (%v)", ErrConfig, c.MaxDelay, c.HeartbeatPeriod))
	}
	if c.ReplicaUUID != "" && !isUUID(c.ReplicaUUID) {
		errs = append(errs, fmt.Errorf("%w: ReplicaUUID %q is not a UUID (8-4-4-4-12 hex digits)", ErrConfig, c.ReplicaUUID))
	}
	if c.HeartbeatPeriod > 0 && c.ReadTimeout > 0 && c.ReadTimeout <= 3*c.HeartbeatPeriod {
		errs = append(errs, fmt.Errorf("%w: ReadTimeout %v must exceed 3 heartbeat periods (%v)", ErrConfig, c.ReadTimeout, 3*c.HeartbeatPeriod))
	}
	return errors.Join(errs...)
}

// StartKind says how a stream starts.
type StartKind uint8

// Start kinds.
const (
	StartEnd      StartKind = iota // the server's current binlog end
	StartEarliest                  // the first binlog file the server still has
	StartPosition                  // a file and offset
	StartGTID                      // after a GTID set
)

// Start is a parsed Config.Start.
type Start struct {
	Kind     StartKind
	Position stream.Position // StartPosition
	GTIDSet  string          // StartGTID
}

// StartError is a Start value ParseStart refuses; Reason says what was
// expected, without the value (the configuration names the variable).
type StartError struct {
	Value, Reason string
}

func (e *StartError) Error() string {
	return fmt.Sprintf("%v: start %q: %s", ErrConfig, e.Value, e.Reason)
}

// Unwrap makes errors.Is(err, ErrConfig) hold.
func (e *StartError) Unwrap() error { return ErrConfig }

// ParseStart parses "end", "earliest", "FILE:POS" or "gtid:SET" (empty is
// "end"). It is the one parser of SIDECAR_START: the configuration checks
// the value with it, so the daemon never starts with a value the stream
// would refuse. A refusal is a *StartError.
func ParseStart(s string) (Start, error) {
	bad := func(reason string) (Start, error) { return Start{}, &StartError{Value: s, Reason: reason} }
	switch {
	case s == "" || s == "end":
		return Start{Kind: StartEnd}, nil
	case s == "earliest":
		return Start{Kind: StartEarliest}, nil
	case strings.HasPrefix(s, "gtid:"):
		set := strings.TrimSpace(strings.TrimPrefix(s, "gtid:"))
		if set == "" {
			return bad("empty GTID set; want gtid:0-1-100 (MariaDB) or gtid:uuid:1-100 (MySQL)")
		}
		return Start{Kind: StartGTID, GTIDSet: set}, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return bad("want end, earliest, FILE:POS or gtid:SET")
	}
	pos, err := strconv.ParseUint(s[i+1:], 10, 32)
	if err != nil || pos < 4 {
		return bad(fmt.Sprintf("position %q: want a number of at least 4", s[i+1:]))
	}
	return Start{Kind: StartPosition, Position: stream.Position{File: s[:i], Pos: uint32(pos)}}, nil
}

// isUUID reports whether s has the textual form of a UUID.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range []byte(s) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
