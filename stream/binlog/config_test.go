package binlog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

func TestParseStart(t *testing.T) {
	tests := []struct {
		give    string
		want    Start
		wantErr bool
	}{
		{"", Start{Kind: StartEnd}, false},
		{"end", Start{Kind: StartEnd}, false},
		{"earliest", Start{Kind: StartEarliest}, false},
		{"mysql-bin.000003:379", Start{Kind: StartPosition, Position: stream.Position{File: "mysql-bin.000003", Pos: 379}}, false},
		{"gtid:0-1-100,1-2-5", Start{Kind: StartGTID, GTIDSet: "0-1-100,1-2-5"}, false},
		{"gtid:3e11fa47-71ca-11e1-9e33-c80aa9429562:1-23", Start{Kind: StartGTID, GTIDSet: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-23"}, false},
		{"gtid:", Start{}, true},
		{"mysql-bin.000003:2", Start{}, true},
		{"mysql-bin.000003:x", Start{}, true},
		{"mysql-bin.000003", Start{}, true},
		{"latest", Start{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := ParseStart(tt.give)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
			if got != tt.want {
				t.Errorf("ParseStart = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := Config{Addr: "127.0.0.1:3306", ServerID: 4000000000}
	tests := []struct {
		name     string
		give     func(c Config) Config
		wantErrs []string
	}{
		{"valid", func(c Config) Config { return c }, nil},
		{"unix socket", func(c Config) Config { c.Addr = "/run/mysqld/mysqld.sock"; return c }, nil},
		{"everything wrong", func(c Config) Config {
			c.Addr, c.ServerID, c.Flavor, c.Start = "", 0, "oracle", "tomorrow"
			c.HeartbeatPeriod, c.ReadTimeout = time.Second, 2*time.Second
			return c
		}, []string{"Addr", "ServerID", "Flavor", "tomorrow", "ReadTimeout"}},
		{"max delay negative", func(c Config) Config { c.MaxDelay = -time.Millisecond; return c }, []string{"MaxDelay -1ms is negative"}},
		{"max delay of a heartbeat period", func(c Config) Config {
			c.HeartbeatPeriod, c.MaxDelay = time.Second, time.Second
			return c
		}, []string{"MaxDelay 1s must be below the heartbeat period"}},
		{"replica UUID not a UUID", func(c Config) Config { c.ReplicaUUID = "x'; DROP TABLE t; --"; return c }, []string{"ReplicaUUID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.give(ok).Validate()
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate = %v, want ErrConfig", err)
			}
			for _, w := range tt.wantErrs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q, want it to name %q", err, w)
				}
			}
		})
	}
}

func TestConfig_withDefaults(t *testing.T) {
	c := Config{HeartbeatPeriod: 200 * time.Millisecond}.withDefaults()
	if c.ReadTimeout != time.Second || c.Flavor != mysqlserver.FlavorAuto || c.DialTimeout != DefaultDialTimeout {
		t.Errorf("defaults: read timeout %v, flavor %q, dial %v", c.ReadTimeout, c.Flavor, c.DialTimeout)
	}
	c.Addr, c.ServerID = "127.0.0.1:3306", 4000000000
	if err := c.Validate(); err != nil {
		t.Errorf("Validate with defaults = %v, want nil (the default read timeout exceeds 3 periods)", err)
	}
}

func TestIsOwnRegistration(t *testing.T) {
	tests := []struct {
		name     string
		serverID uint32
		host     string
		want     bool
	}{
		{"the sidecar", 4000000001, RegisterHost, true},
		{"a replica sharing the id", 4000000001, "db-2", false},
		{"another sidecar", 4000000002, RegisterHost, false},
	}
	for _, tt := range tests {
		if got := IsOwnRegistration(tt.serverID, tt.host, 4000000001); got != tt.want {
			t.Errorf("%s: IsOwnRegistration = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSplitAddr(t *testing.T) {
	tests := []struct {
		give     string
		wantHost string
		wantPort uint16
	}{
		{"127.0.0.1:3307", "127.0.0.1", 3307},
		{"[::1]:3306", "::1", 3306},
		{"/run/mysqld/mysqld.sock", "/run/mysqld/mysqld.sock", 0},
		{"db", "db", 3306},
	}
	for _, tt := range tests {
		h, p := splitAddr(tt.give)
		if h != tt.wantHost || p != tt.wantPort {
			t.Errorf("splitAddr(%q) = %q, %d; want %q, %d", tt.give, h, p, tt.wantHost, tt.wantPort)
		}
	}
}

func TestCheckVariables(t *testing.T) {
	good := map[string]string{"log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL", "server_id": "1"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name        string
		give        map[string]string
		wantErr     error
		wantMsg     string
		wantHint    string
		wantWarning string
	}{
		{name: "good", give: good},
		{name: "binlog off", give: with("log_bin", "OFF"), wantErr: ErrBinlogDisabled,
			wantMsg: "log_bin is OFF; the sidecar needs ON", wantHint: "restart"},
		{name: "statement", give: with("binlog_format", "STATEMENT"), wantErr: ErrNotRowFormat,
			wantMsg: "binlog_format is STATEMENT; the sidecar needs ROW", wantHint: "SET GLOBAL binlog_format=ROW and binlog_format=ROW in my.cnf"},
		{name: "mixed", give: with("binlog_format", "MIXED"), wantErr: ErrNotRowFormat,
			wantMsg: "binlog_format is MIXED"},
		{name: "server_id 0", give: with("server_id", "0"), wantErr: ErrServerIDZero,
			wantMsg: "server_id is 0", wantHint: "SET GLOBAL server_id"},
		{name: "server_id is ours", give: with("server_id", "4000000001"), wantErr: ErrServerIDConflict,
			wantHint: "SIDECAR_SERVER_ID"},
		{name: "minimal image", give: with("binlog_row_image", "MINIMAL"), wantWarning: "binlog_row_image is MINIMAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			warnings, err := checkVariables(tt.give, 4000000001)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("message %q, want it to contain %q", err, tt.wantMsg)
				}
				if !strings.Contains(Hint(err), tt.wantHint) {
					t.Errorf("hint %q, want it to contain %q", Hint(err), tt.wantHint)
				}
			}
			if got := strings.Join(warnings, "; "); !strings.Contains(got, tt.wantWarning) || (tt.wantWarning == "") != (got == "") {
				t.Errorf("warnings %q, want %q", got, tt.wantWarning)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	myErr := func(code uint16, msg string) error {
		return fmt.Errorf("handleAuthResult: %w", &mysql.MyError{Code: code, Message: msg, State: "HY000"})
	}
	tests := []struct {
		name     string
		op       string
		give     error
		wantKind error
		wantHint string
	}{
		{"wrong password", "connect", myErr(1045, "Access denied for user 'sidecar'@'127.0.0.1' (using password: YES)"),
			ErrAccessDenied, "SIDECAR_MYSQL_PASSWORD"},
		{"no REPLICATION SLAVE at the dump", "dump", myErr(1045, "Access denied for user 'norepl'@'%' (using password: YES)"),
			ErrMissingPrivilege, "GRANT REPLICATION SLAVE ON *.* TO 'sidecar'@'<host>'"},
		{"no BINLOG MONITOR", "preflight", myErr(1227, "Access denied; you need (at least one of) the BINLOG MONITOR privilege(s) for this operation"),
			ErrMissingPrivilege, "GRANT BINLOG MONITOR ON *.*"},
		{"alternatives named", "preflight", myErr(1227, "Access denied; you need (at least one of) the SUPER, REPLICATION CLIENT privilege(s) for this operation"),
			ErrMissingPrivilege, "GRANT SUPER ON"},
		{"purged", "stream", myErr(1236, "Could not find first log file name in binary log index file"),
			ErrBinlogPurged, "purged"},
		{"impossible position", "stream", myErr(1236, "Client requested master to start replication from impossible position"),
			ErrBadPosition, "SIDECAR_START"},
		{"duplicate server id", "stream", myErr(4052, "A slave with the same server_uuid/server_id is already connected"),
			ErrDuplicateReplica, "SIDECAR_SERVER_ID"},
		{"refused", "connect", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"),
			ErrUnreachable, "SIDECAR_MYSQL_ADDR"},
		{"unknown", "stream", errors.New("something odd"), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(tt.op, tt.give, "sidecar", "127.0.0.1:1", 4000000001)
			if tt.wantKind != nil && !errors.Is(err, tt.wantKind) {
				t.Errorf("classify = %v, want errors.Is %v", err, tt.wantKind)
			}
			if !errors.Is(err, tt.give) {
				t.Errorf("classify = %v lost the cause %v", err, tt.give)
			}
			if !strings.Contains(Hint(err), tt.wantHint) {
				t.Errorf("hint = %q, want it to contain %q", Hint(err), tt.wantHint)
			}
			if !strings.HasPrefix(err.Error(), tt.op+": ") {
				t.Errorf("message %q, want it to start with the op %q", err, tt.op)
			}
		})
	}
}

func TestResumePoint(t *testing.T) {
	files := []string{"b.000003", "b.000004", "b.000005"}
	tests := []struct {
		name    string
		give    stream.Position
		want    stream.Position
		wantGap bool
		wantErr error
	}{
		{"present", stream.Position{File: "b.000004", Pos: 900}, stream.Position{File: "b.000004", Pos: 900}, false, nil},
		{"purged", stream.Position{File: "b.000001", Pos: 900}, stream.Position{File: "b.000003", Pos: 4}, true, nil},
		{"not yet written", stream.Position{File: "b.000009", Pos: 4}, stream.Position{}, false, ErrBadPosition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gap, err := resumePoint(tt.give, files)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want || gap != tt.wantGap {
				t.Errorf("resumePoint = %v, gap %v; want %v, gap %v", got, gap, tt.want, tt.wantGap)
			}
		})
	}
}

func TestDecodeFormatDescription(t *testing.T) {
	_, events := loadTestdata(t)
	fd, err := decodeFormatDescription(events[0][headerLen:])
	if err != nil {
		t.Fatal(err)
	}
	if fd.checksum != checksumLen {
		t.Errorf("checksum = %d, want %d (MariaDB default CRC32)", fd.checksum, checksumLen)
	}
	if got := fd.postHeaderLen(evTableMap, 0); got != 8 {
		t.Errorf("table map post-header = %d, want 8", got)
	}
	if got := fd.tableIDSize(evWriteRowsV1); got != 6 {
		t.Errorf("table id size = %d, want 6", got)
	}
	if _, err := decodeFormatDescription(events[0][headerLen : headerLen+20]); err == nil {
		t.Error("a truncated FDE decoded without error")
	}
}
