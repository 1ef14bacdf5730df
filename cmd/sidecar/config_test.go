package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig_Defaults(t *testing.T) {
	cfg, err := loadConfig([]string{"SIDECAR_INSTANCE=db-1"})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"mysql addr", cfg.MySQL.Addr, "127.0.0.1:3306"},
		{"mysql user", cfg.MySQL.User, "sidecar"},
		{"flavor", cfg.MySQL.Flavor, "auto"},
		{"tls", cfg.MySQL.TLSMode, "preferred"},
		{"cluster", cfg.Cluster, "default"},
		{"start", cfg.Start, "end"},
		{"heartbeat", cfg.HeartbeatPeriod, time.Second},
		{"poll", cfg.PollInterval, 5 * time.Second},
		{"stats", cfg.StatsInterval, 10 * time.Second},
		{"probe timeout", cfg.ProbeTimeout, 2 * time.Second},
		{"zombie grace", cfg.ZombieGrace, 30 * time.Second},
		{"kill zombies", cfg.KillZombies, false},
		{"http", cfg.HTTPAddr, ":9106"},
		{"nats url", cfg.NATS.URL, "embedded"},
		{"nats embedded", cfg.NATS.EmbeddedAddr, "127.0.0.1:4222"},
		{"subject prefix", cfg.NATS.SubjectPrefix, "mysql.health"},
		{"stream", cfg.NATS.Stream, "MYSQL_HEALTH"},
		{"data dir", cfg.DataDir, "./data"},
		{"log level", cfg.LogLevel, "info"},
		{"log format", cfg.LogFormat, "json"},
		{"inventory configured", cfg.InventoryConfigured, false},
		{"server id", cfg.ServerID, DerivedServerID("db-1")},
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
		`SIDECAR_EXPECTED_REPLICAS: entry 1 "db-2:99999 semisync": port "99999"`,
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

func TestDerivedServerID(t *testing.T) {
	for _, give := range []string{"", "db-1", "db-2", "a-very-long-instance-name.example.com"} {
		got := DerivedServerID(give)
		if got < derivedServerIDMin {
			t.Errorf("DerivedServerID(%q) = %d, below %d", give, got, derivedServerIDMin)
		}
		if again := DerivedServerID(give); again != got {
			t.Errorf("DerivedServerID(%q) not stable: %d then %d", give, got, again)
		}
	}
	if DerivedServerID("db-1") == DerivedServerID("db-2") {
		t.Error("db-1 and db-2 derive the same server_id")
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
