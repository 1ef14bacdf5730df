package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/canary"
	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/events/bus"
	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/fleet/kv"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/inventory"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/stream/binlog"
)

// TestLoadConfig_Defaults: every default as documented; where a package
// has its own default for what a variable sets, the variable's default (its
// envDefault tag, which deploy's TestEnvExample holds equal to env.example)
// is that package's constant, so the two cannot drift apart.
func TestLoadConfig_Defaults(t *testing.T) {
	cfg, err := loadConfig([]string{"SIDECAR_INSTANCE=db-1"})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"mysql addr", cfg.MySQL.Addr, net.JoinHostPort("127.0.0.1", strconv.Itoa(inventory.DefaultPort))},
		{"mysql user", cfg.MySQL.User, "sidecar"},
		{"flavor", cfg.MySQL.Flavor, mysqlserver.FlavorAuto},
		{"tls", cfg.MySQL.TLSMode, "preferred"},
		{"cluster", cfg.Cluster, "default"},
		{"start", cfg.Start, "end"},
		{"heartbeat", cfg.HeartbeatPeriod, binlog.DefaultHeartbeatPeriod},
		{"poll", cfg.PollInterval, health.DefaultPollInterval},
		{"stats", cfg.StatsInterval, 10 * time.Second},
		{"stream max delay", cfg.StreamMaxDelay, binlog.DefaultMaxDelay},
		{"probe timeout", cfg.ProbeTimeout, health.DefaultProbeTimeout},
		{"zombie grace", cfg.ZombieGrace, health.DefaultZombieGrace},
		{"kill zombies", cfg.KillZombies, false},
		{"canary", cfg.Canary, false},
		{"canary interval", cfg.CanaryInterval, canary.DefaultInterval},
		{"canary timeout", cfg.CanaryTimeout, canary.DefaultTimeout},
		{"canary slow", cfg.CanarySlow, canary.DefaultSlow},
		{"http", cfg.HTTPAddr, ":9106"},
		{"nats url", cfg.NATS.URL, NATSEmbedded},
		{"nats embedded", cfg.NATS.EmbeddedAddr, bus.DefaultAddr},
		{"subject prefix", cfg.NATS.SubjectPrefix, events.DefaultSubjectPrefix},
		{"stream", cfg.NATS.Stream, events.DefaultStream},
		{"kv bucket", cfg.NATS.KVBucket, kv.DefaultBucket},
		{"kv every", cfg.NATS.KVEvery, fleet.DefaultEvery},
		{"data dir", cfg.DataDir, "./data"},
		{"spool max bytes", cfg.SpoolMaxBytes, int64(events.DefaultMaxSpoolBytes)},
		{"log level", cfg.LogLevel, "info"},
		{"log format", cfg.LogFormat, "json"},
		{"inventory configured", cfg.InventoryConfigured, false},
		{"server id", cfg.ServerID, mysqlserver.DerivedServerID("db-1")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadConfig_EmptyStreamMeansCoreNATS(t *testing.T) {
	cfg, err := loadConfig([]string{"SIDECAR_INSTANCE=x", "SIDECAR_NATS_STREAM="})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.Stream != "" {
		t.Errorf("stream = %q, want empty (core NATS only)", cfg.NATS.Stream)
	}
}

// An empty SIDECAR_NATS_KV_BUCKET writes no fleet status; unset is the
// default bucket.
func TestLoadConfig_FleetBucket(t *testing.T) {
	cfg, err := loadConfig([]string{"SIDECAR_INSTANCE=x"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.KVBucket != "MYSQL_HEALTH_STATUS" || cfg.NATS.KVEvery != 10*time.Second {
		t.Errorf("bucket %q every %s, want MYSQL_HEALTH_STATUS and 10s", cfg.NATS.KVBucket, cfg.NATS.KVEvery)
	}
	if cfg, err = loadConfig([]string{"SIDECAR_INSTANCE=x", "SIDECAR_NATS_KV_BUCKET="}); err != nil || cfg.NATS.KVBucket != "" {
		t.Errorf("bucket %q (%v), want empty (no fleet status)", cfg.NATS.KVBucket, err)
	}
}

func TestLoadConfig_EveryBadVariableNamed(t *testing.T) {
	env := []string{
		"SIDECAR_INSTANCE=x",
		"SIDECAR_MYSQL_ADDR=db-1",
		"SIDECAR_MYSQL_FLAVOR=postgres",
		"SIDECAR_MYSQL_TLS=verify-full",
		"SIDECAR_POLL_INTERVAL=5x",
		"SIDECAR_KILL_ZOMBIES=maybe",
		"SIDECAR_SERVER_ID=-3",
		"SIDECAR_START=mysql-bin.000001:2",
		"SIDECAR_EXPECTED_REPLICAS=db-2:99999 semisync",
		"SIDECAR_NATS_SUBJECT_PREFIX=mysql.>",
		"SIDECAR_LOG_FORMAT=xml",
		"SIDECAR_HEARTBEAT_PERIOD=2m",
	}
	_, err := loadConfig(env)
	var cerr *ConfigError
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v, want *ConfigError", err)
	}
	want := []string{
		`SIDECAR_MYSQL_ADDR: "db-1": want host:port`,
		`SIDECAR_MYSQL_FLAVOR: "postgres": want one of auto, mysql, mariadb`,
		`SIDECAR_MYSQL_TLS_CA: empty; SIDECAR_MYSQL_TLS=verify-full needs the CA file`,
		`SIDECAR_POLL_INTERVAL: want a Go duration`,
		`SIDECAR_KILL_ZOMBIES: want true or false`,
		`SIDECAR_SERVER_ID: want a whole number`,
		`SIDECAR_START: "mysql-bin.000001:2": position "2": want a number of at least 4`,
		`SIDECAR_EXPECTED_REPLICAS: entry 1: port is not a number from 1 to 65535`,
		`SIDECAR_NATS_SUBJECT_PREFIX: "mysql.>"`,
		`SIDECAR_LOG_FORMAT: "xml": want one of json, console`,
		`SIDECAR_HEARTBEAT_PERIOD: 2m0s: want at most 30s`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not contain %q; got:\n%s", w, msg)
		}
	}
	if got := len(cerr.Problems); got != len(want) {
		t.Errorf("%d problems, want %d:\n%s", got, len(want), msg)
	}
}

func TestLoadConfig_StreamMaxDelay(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want time.Duration
		err  string // empty: valid
	}{
		{env: []string{"SIDECAR_STREAM_MAX_DELAY=0"}, want: 0},
		{env: []string{"SIDECAR_STREAM_MAX_DELAY=250ms"}, want: 250 * time.Millisecond},
		{env: []string{"SIDECAR_STREAM_MAX_DELAY=-1ms"}, err: "SIDECAR_STREAM_MAX_DELAY: -1ms: want 0"},
		{env: []string{"SIDECAR_STREAM_MAX_DELAY=1s"}, err: "SIDECAR_STREAM_MAX_DELAY: 1s: want 0 (count each event as it arrives) up to less than SIDECAR_HEARTBEAT_PERIOD (1s)"},
		{env: []string{"SIDECAR_STREAM_MAX_DELAY=1s", "SIDECAR_HEARTBEAT_PERIOD=5s"}, want: time.Second},
		{env: []string{"SIDECAR_STREAM_MAX_DELAY=soon"}, err: "SIDECAR_STREAM_MAX_DELAY: want a Go duration"},
	} {
		cfg, err := loadConfig(append([]string{"SIDECAR_INSTANCE=x"}, tc.env...))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.err == "" && cfg.StreamMaxDelay != tc.want:
			t.Errorf("%v: StreamMaxDelay = %v, want %v", tc.env, cfg.StreamMaxDelay, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: err = %v, want one containing %q", tc.env, err, tc.err)
		}
	}
}

func TestLoadConfig_PasswordFile(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig([]string{"SIDECAR_INSTANCE=x", "SIDECAR_MYSQL_PASSWORD_FILE=" + pw})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MySQL.Password != "s3cret" {
		t.Errorf("password = %q, want the file's first line without newline", cfg.MySQL.Password)
	}
	for k, v := range cfg.Redacted() {
		if s, ok := v.(string); ok && strings.Contains(s, "s3cret") {
			t.Errorf("Redacted()[%s] leaks the password", k)
		}
	}

	_, err = loadConfig([]string{"SIDECAR_INSTANCE=x", "SIDECAR_MYSQL_PASSWORD_FILE=" + filepath.Join(dir, "nope")})
	if err == nil || !strings.Contains(err.Error(), "SIDECAR_MYSQL_PASSWORD_FILE: cannot read") {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestLoadConfig_InventoryFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "replicas")
	os.WriteFile(f, []byte("# puppet\ndb-2 semisync\ndb-3:3307\n"), 0o644)
	cfg, err := loadConfig([]string{"SIDECAR_INSTANCE=x", "SIDECAR_EXPECTED_REPLICAS_FILE=" + f})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.InventoryConfigured || len(cfg.Inventory) != 2 || !cfg.Inventory[0].SemiSync || cfg.Inventory[1].Port != 3307 {
		t.Errorf("inventory = %+v", cfg.Inventory)
	}
}

func TestConfig_RedactedHidesNATSPassword(t *testing.T) {
	cfg, err := loadConfig([]string{"SIDECAR_INSTANCE=x", "SIDECAR_NATS_URL=nats://u:s3cret@h1:4222,u2:s3cret@h2:4222"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Redacted()["nats_url"].(string); strings.Contains(got, "s3cret") {
		t.Errorf("nats_url logged as %q", got)
	}
}

func TestLoadConfig_SpoolMaxBytes(t *testing.T) {
	tests := []struct {
		give string // "" leaves the variable unset
		want int64  // 0: a configuration error naming the variable
	}{
		{"", 256 << 20},
		{"64MiB", 64 << 20},
		{"1GiB", 1 << 30},
		{"2TiB", 2 << 40},
		{"268435456", 268435456},
		{"4096KiB", 4 << 20},
		{"64MB", 0},
		{"1.5GiB", 0},
		{"-1", 0},
		{"lots", 0},
		{"MiB", 0},
		{"512KiB", 0},              // below the 1 MiB minimum
		{"9999999999999999TiB", 0}, // overflows
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			env := []string{"SIDECAR_INSTANCE=x"}
			if tt.give != "" {
				env = append(env, "SIDECAR_SPOOL_MAX_BYTES="+tt.give)
			}
			cfg, err := loadConfig(env)
			if tt.want == 0 {
				var cerr *ConfigError
				if !errors.As(err, &cerr) || !strings.Contains(err.Error(), "SIDECAR_SPOOL_MAX_BYTES: ") {
					t.Fatalf("err = %v, want a configuration error naming SIDECAR_SPOOL_MAX_BYTES", err)
				}
				return
			}
			if err != nil || cfg.SpoolMaxBytes != tt.want {
				t.Errorf("got %d, %v; want %d", cfg.SpoolMaxBytes, err, tt.want)
			}
		})
	}
}

// SIDECAR_START is checked by the stream's own parser: a value the stream
// would refuse never passes configuration (it would end the daemon with
// exit 1 instead of 2).
func TestLoadConfig_Start(t *testing.T) {
	tests := []struct {
		give string
		want string // "" when valid
	}{
		{"end", ""},
		{"earliest", ""},
		{"mysql-bin.000003:379", ""},
		{"gtid:0-1-100", ""},
		{"gtid: ", `SIDECAR_START: "gtid: ": empty GTID set`},
		{"gtid:", `SIDECAR_START: "gtid:": empty GTID set`},
		{"mysql-bin.000003", `SIDECAR_START: "mysql-bin.000003": want end, earliest, FILE:POS or gtid:SET`},
		{"latest", `SIDECAR_START: "latest": want end, earliest, FILE:POS or gtid:SET`},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			_, err := loadConfig([]string{"SIDECAR_INSTANCE=x", "SIDECAR_START=" + tt.give})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tt.want == "" && err != nil || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("err = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLoadConfig_Bounds: each value here started the sidecar (or exited 1
// later) before; each must be a configuration error naming its variable.
func TestLoadConfig_Bounds(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link-to-fifo")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  string
		want string
	}{
		{"newline in the prefix", "SIDECAR_NATS_SUBJECT_PREFIX=mysql\nhealth", "SIDECAR_NATS_SUBJECT_PREFIX: "},
		{"space in the prefix", "SIDECAR_NATS_SUBJECT_PREFIX=mysql.he alth", "SIDECAR_NATS_SUBJECT_PREFIX: "},
		{"tab in the prefix", "SIDECAR_NATS_SUBJECT_PREFIX=mysql\thealth", "SIDECAR_NATS_SUBJECT_PREFIX: "},
		{"empty token", "SIDECAR_NATS_SUBJECT_PREFIX=mysql..health", "SIDECAR_NATS_SUBJECT_PREFIX: \"mysql..health\": empty token"},
		{"trailing dot", "SIDECAR_NATS_SUBJECT_PREFIX=mysql.", "SIDECAR_NATS_SUBJECT_PREFIX: "},
		{"wildcard", "SIDECAR_NATS_SUBJECT_PREFIX=mysql.*", "SIDECAR_NATS_SUBJECT_PREFIX: "},
		{"non-ASCII", "SIDECAR_NATS_SUBJECT_PREFIX=mysql.sant\u00e9", "SIDECAR_NATS_SUBJECT_PREFIX: "},
		{"DEL character", "SIDECAR_NATS_SUBJECT_PREFIX=mysql.\x7f", "SIDECAR_NATS_SUBJECT_PREFIX: "},
		{"long prefix", "SIDECAR_NATS_SUBJECT_PREFIX=" + strings.Repeat("a", 129), "SIDECAR_NATS_SUBJECT_PREFIX: "},
		{"long instance", "SIDECAR_INSTANCE=" + strings.Repeat("i", 5000), "SIDECAR_INSTANCE: 5000 bytes; want at most 128"},
		{"long cluster", "SIDECAR_CLUSTER=" + strings.Repeat("c", 129), "SIDECAR_CLUSTER: 129 bytes; want at most 128"},
		{"poll interval of 30 years", "SIDECAR_POLL_INTERVAL=262800h", "SIDECAR_POLL_INTERVAL: 262800h0m0s: want at most 10m0s"},
		{"poll interval too short", "SIDECAR_POLL_INTERVAL=10ms", "SIDECAR_POLL_INTERVAL: 10ms: want at least 100ms"},
		{"stats interval too long", "SIDECAR_STATS_INTERVAL=2h", "SIDECAR_STATS_INTERVAL: 2h0m0s: want at most 1h0m0s"},
		{"fleet status period too short", "SIDECAR_NATS_KV_EVERY=500ms", "SIDECAR_NATS_KV_EVERY: 500ms: want at least 1s"},
		{"fleet status period too long", "SIDECAR_NATS_KV_EVERY=1h", "SIDECAR_NATS_KV_EVERY: 1h0m0s: want at most 10m0s"},
		{"fleet bucket with a dot", "SIDECAR_NATS_KV_BUCKET=fleet.status", "SIDECAR_NATS_KV_BUCKET: \"fleet.status\": want a key-value bucket name"},
		{"canary interval too short", "SIDECAR_CANARY_INTERVAL=10ms", "SIDECAR_CANARY_INTERVAL: 10ms: want at least 100ms"},
		{"canary timeout below a second", "SIDECAR_CANARY_TIMEOUT=500ms", "SIDECAR_CANARY_TIMEOUT: 500ms: want at least 1s"},
		{"canary slow past the timeout", "SIDECAR_CANARY_SLOW=40s", "SIDECAR_CANARY_SLOW: 40s: want less than SIDECAR_CANARY_TIMEOUT (30s)"},
		{"canary not a bool", "SIDECAR_CANARY=maybe", "SIDECAR_CANARY"},
		{"probe timeout too long", "SIDECAR_PROBE_TIMEOUT=1h", "SIDECAR_PROBE_TIMEOUT: 1h0m0s: want at most 1m0s"},
		{"negative zombie grace", "SIDECAR_ZOMBIE_GRACE=-1s", "SIDECAR_ZOMBIE_GRACE: -1s: want at least 0s"},
		{"zombie grace too long", "SIDECAR_ZOMBIE_GRACE=48h", "SIDECAR_ZOMBIE_GRACE: 48h0m0s: want at most 24h0m0s"},
		{"heartbeat too long", "SIDECAR_HEARTBEAT_PERIOD=31s", "SIDECAR_HEARTBEAT_PERIOD: 31s: want at most 30s"},
		{"MySQL port out of range", "SIDECAR_MYSQL_ADDR=127.0.0.1:99999", `SIDECAR_MYSQL_ADDR: "127.0.0.1:99999": want host:port or a unix socket path starting with / (port "99999" is not a number from 1 to 65535)`},
		{"MySQL port zero", "SIDECAR_MYSQL_ADDR=db-1:0", `(port "0" is not a number from 1 to 65535)`},
		{"MySQL port not a number", "SIDECAR_MYSQL_ADDR=db-1:mysql", `SIDECAR_MYSQL_ADDR: "db-1:mysql": want host:port`},
		{"HTTP port out of range", "SIDECAR_HTTP_ADDR=:70000", `SIDECAR_HTTP_ADDR: ":70000": want [host]:port such as :9106 (port "70000" is not a number from 0 to 65535)`},
		{"embedded NATS port out of range", "SIDECAR_NATS_EMBEDDED_ADDR=127.0.0.1:-1", `SIDECAR_NATS_EMBEDDED_ADDR: "127.0.0.1:-1": want host:port`},
		{"log level as a number", "SIDECAR_LOG_LEVEL=-5", `SIDECAR_LOG_LEVEL: "-5": want trace, debug, info, warn or error`},
		{"log level disabled", "SIDECAR_LOG_LEVEL=disabled", `SIDECAR_LOG_LEVEL: "disabled"`},
		{"data dir is a file", "SIDECAR_DATA_DIR=" + plain, "SIDECAR_DATA_DIR: \"" + plain + "\": " + plain + " is not a directory"},
		{"data dir under a file", "SIDECAR_DATA_DIR=" + plain + "/spool", "SIDECAR_DATA_DIR: "},
		{"creds is a directory", "SIDECAR_NATS_CREDS=" + dir, "SIDECAR_NATS_CREDS: cannot read: " + dir + " is a directory, not a regular file"},
		{"creds is /dev/zero", "SIDECAR_NATS_CREDS=/dev/zero", "SIDECAR_NATS_CREDS: cannot read: /dev/zero is a character device, not a regular file"},
		{"creds is a named pipe", "SIDECAR_NATS_CREDS=" + fifo, "SIDECAR_NATS_CREDS: cannot read: " + fifo + " is a named pipe"},
		{"NATS CA is a symlink to a named pipe", "SIDECAR_NATS_TLS_CA=" + link, "SIDECAR_NATS_TLS_CA: cannot read: " + link + " is a named pipe"},
		{"MySQL CA is /dev/zero", "SIDECAR_MYSQL_TLS_CA=/dev/zero", "SIDECAR_MYSQL_TLS_CA: cannot read: /dev/zero is a character device"},
		{"password file is a named pipe", "SIDECAR_MYSQL_PASSWORD_FILE=" + fifo, "SIDECAR_MYSQL_PASSWORD_FILE: cannot read: " + fifo + " is a named pipe"},
		{"password file is /dev/zero", "SIDECAR_MYSQL_PASSWORD_FILE=/dev/zero", "SIDECAR_MYSQL_PASSWORD_FILE: cannot read: /dev/zero is a character device"},
		{"inventory is a named pipe", "SIDECAR_EXPECTED_REPLICAS_FILE=" + fifo, "SIDECAR_EXPECTED_REPLICAS_FILE: inventory file: " + fifo + " is a named pipe"},
		{"inventory is /dev/zero", "SIDECAR_EXPECTED_REPLICAS_FILE=/dev/zero", "SIDECAR_EXPECTED_REPLICAS_FILE: inventory file: /dev/zero is a character device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A bounded wait: a named pipe blocked loadConfig forever before.
			done := make(chan error, 1)
			go func() {
				_, err := loadConfig([]string{"SIDECAR_INSTANCE=x", "SIDECAR_DATA_DIR=" + dir, tt.env})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				t.Fatal("loadConfig still blocked after a minute")
			}
			var cerr *ConfigError
			if !errors.As(err, &cerr) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not contain %q; got:\n%s", tt.want, err)
			}
			if len(cerr.Problems) != 1 {
				t.Errorf("%d problems, want 1:\n%s", len(cerr.Problems), err)
			}
		})
	}
}

// TestLoadConfig_PasswordFileAsInventory: the password file named as the
// inventory too is refused without being parsed; a password made of
// letters and digits read as a host name and was published in
// replica.missing summaries.
func TestLoadConfig_PasswordFileAsInventory(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "replicas")
	if err := os.Symlink(pw, link); err != nil {
		t.Fatal(err)
	}
	for _, inv := range []string{pw, link} {
		cfg, err := loadConfig([]string{"SIDECAR_INSTANCE=x", "SIDECAR_DATA_DIR=" + dir, "SIDECAR_MYSQL_PASSWORD_FILE=" + pw, "SIDECAR_EXPECTED_REPLICAS_FILE=" + inv})
		want := "SIDECAR_EXPECTED_REPLICAS_FILE: the same file as SIDECAR_MYSQL_PASSWORD_FILE"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("inventory %s: err = %v, want %q", inv, err, want)
		}
		if strings.Contains(fmt.Sprint(cfg.Inventory), "hunter2") || (err != nil && strings.Contains(err.Error(), "hunter2")) {
			t.Errorf("inventory %s: the password was parsed: %+v", inv, cfg.Inventory)
		}
	}
}

// TestLoadConfig_BoundsAccepted: the edges of each range are accepted.
func TestLoadConfig_BoundsAccepted(t *testing.T) {
	env := []string{
		"SIDECAR_INSTANCE=" + strings.Repeat("i", 128), "SIDECAR_CLUSTER=" + strings.Repeat("c", 128),
		"SIDECAR_NATS_SUBJECT_PREFIX=mysql-1.health_x.A~!", "SIDECAR_POLL_INTERVAL=10m", "SIDECAR_STATS_INTERVAL=1h",
		"SIDECAR_NATS_KV_EVERY=10m", "SIDECAR_NATS_KV_BUCKET=Fleet_status-1",
		"SIDECAR_PROBE_TIMEOUT=1m", "SIDECAR_ZOMBIE_GRACE=0s", "SIDECAR_MYSQL_ADDR=[::1]:65535",
		"SIDECAR_HTTP_ADDR=127.0.0.1:0", "SIDECAR_LOG_LEVEL=WARN", "SIDECAR_DATA_DIR=" + filepath.Join(t.TempDir(), "a", "b"),
	}
	if _, err := loadConfig(env); err != nil {
		t.Fatalf("loadConfig = %v, want nil", err)
	}
}

// TestLoadConfig_UnwritableDataDir: a data directory the sidecar cannot
// write is a configuration error (exit 2) naming the variable; it was a
// fatal error (exit 1) after start.
func TestLoadConfig_UnwritableDataDir(t *testing.T) {
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// Root writes any directory whatever its mode: make it a
		// read-only file system instead.
		if err := syscall.Mount("tmpfs", ro, "tmpfs", syscall.MS_RDONLY, "size=64k"); err != nil {
			t.Skipf("root, and cannot mount a read-only tmpfs: %v", err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(ro, 0) })
	}
	for _, d := range []string{ro, filepath.Join(ro, "spool")} {
		_, err := loadConfig([]string{"SIDECAR_INSTANCE=x", "SIDECAR_DATA_DIR=" + d})
		if err == nil || !strings.Contains(err.Error(), "SIDECAR_DATA_DIR: ") || !strings.Contains(err.Error(), "is not writable") {
			t.Errorf("SIDECAR_DATA_DIR=%s: err = %v, want a SIDECAR_DATA_DIR problem", d, err)
		}
	}
}

// TestMainCode_NamedPipeAtStartExits2: a named pipe as the password file
// or the inventory ends start-up at once with exit 2; it hung before HTTP
// listened, ignoring SIGTERM.
func TestMainCode_NamedPipeAtStartExits2(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"SIDECAR_MYSQL_PASSWORD_FILE", "SIDECAR_EXPECTED_REPLICAS_FILE", "SIDECAR_NATS_CREDS"} {
		done := make(chan int, 1)
		var stderr strings.Builder
		go func() {
			done <- mainCode([]string{"run"}, []string{"SIDECAR_INSTANCE=x", "SIDECAR_DATA_DIR=" + dir, v + "=" + fifo}, io.Discard, &stderr)
		}()
		select {
		case code := <-done:
			if code != exitConfig || !strings.Contains(stderr.String(), v+": ") || !strings.Contains(stderr.String(), "is a named pipe") {
				t.Errorf("%s: exit %d, stderr %q; want 2 naming the variable and the pipe", v, code, stderr.String())
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s: sidecar run still blocked after a minute", v)
		}
	}
}
