package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/binlog-sidecar/binlog-sidecar/api"
	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/fleet/kv"
	"github.com/binlog-sidecar/binlog-sidecar/internal/regfile"
	"github.com/binlog-sidecar/binlog-sidecar/inventory"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/stream/binlog"
)

// envPrefix starts every variable the sidecar reads.
const envPrefix = "SIDECAR_"

// Config is the whole configuration, read from SIDECAR_* environment
// variables. Defaults are in the tags; contract.md is the reference and
// deploy/env.example lists them for operators (keep all three in step).
// A default that a library also has (bus.DefaultAddr, health's, canary's,
// ...) is the library's constant: TestLoadConfig_Defaults holds each tag
// equal to it; SIDECAR_NATS_STREAM and SIDECAR_NATS_KV_BUCKET, read by
// hand, take the constants directly.
type Config struct {
	MySQL MySQLConfig `envPrefix:"MYSQL_"`

	ServerID uint32 `env:"SERVER_ID"` // 0: derived from Instance
	Cluster  string `env:"CLUSTER" envDefault:"default"`
	Instance string `env:"INSTANCE"` // empty: host name
	Start    string `env:"START" envDefault:"end"`

	HeartbeatPeriod time.Duration `env:"HEARTBEAT_PERIOD" envDefault:"1s"`
	PollInterval    time.Duration `env:"POLL_INTERVAL" envDefault:"5s"`
	StatsInterval   time.Duration `env:"STATS_INTERVAL" envDefault:"10s"`
	// StreamMaxDelay bounds how long a received binlog event may wait
	// before it is counted, so the stream can read in batches; 0: none.
	StreamMaxDelay time.Duration `env:"STREAM_MAX_DELAY" envDefault:"100ms"`

	ExpectedReplicas     string        `env:"EXPECTED_REPLICAS"`
	ExpectedReplicasFile string        `env:"EXPECTED_REPLICAS_FILE"`
	ProbeTimeout         time.Duration `env:"PROBE_TIMEOUT" envDefault:"2s"`
	ZombieGrace          time.Duration `env:"ZOMBIE_GRACE" envDefault:"30s"`
	KillZombies          bool          `env:"KILL_ZOMBIES" envDefault:"false"`

	// The commit-latency canary (package canary): off unless asked for,
	// because it writes to the server.
	Canary         bool          `env:"CANARY" envDefault:"false"`
	CanaryInterval time.Duration `env:"CANARY_INTERVAL" envDefault:"1s"`
	CanaryTimeout  time.Duration `env:"CANARY_TIMEOUT" envDefault:"30s"`
	CanarySlow     time.Duration `env:"CANARY_SLOW" envDefault:"1s"`

	HTTPAddr string `env:"HTTP_ADDR" envDefault:":9106"`
	// WebConfigFile is an exporter-toolkit web configuration: TLS and
	// basic auth for every HTTP path.
	WebConfigFile string `env:"WEB_CONFIG_FILE"`
	// The basic-auth user `sidecar healthcheck` presents when the web
	// configuration has users (it holds only their bcrypt hashes). Only the
	// healthcheck reads them.
	HealthcheckUser         string `env:"HEALTHCHECK_USER"`
	HealthcheckPassword     string `env:"HEALTHCHECK_PASSWORD"`
	HealthcheckPasswordFile string `env:"HEALTHCHECK_PASSWORD_FILE"`

	NATS NATSConfig `envPrefix:"NATS_"`

	DataDir string `env:"DATA_DIR" envDefault:"./data"`
	// SpoolMaxBytesText is SIDECAR_SPOOL_MAX_BYTES as given; resolve
	// parses it into SpoolMaxBytes.
	SpoolMaxBytesText string `env:"SPOOL_MAX_BYTES" envDefault:"256MiB"`
	LogLevel          string `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat         string `env:"LOG_FORMAT" envDefault:"json"`

	// Derived by loadConfig, not read from the environment.
	Inventory           []inventory.Entry `env:"-"`
	InventoryConfigured bool              `env:"-"`
	SpoolMaxBytes       int64             `env:"-"`
}

// MySQLConfig says how to reach the server the sidecar watches.
type MySQLConfig struct {
	Addr         string `env:"ADDR" envDefault:"127.0.0.1:3306"`
	User         string `env:"USER" envDefault:"sidecar"`
	Password     string `env:"PASSWORD"`
	PasswordFile string `env:"PASSWORD_FILE"`
	Flavor       string `env:"FLAVOR" envDefault:"auto"`
	TLSMode      string `env:"TLS" envDefault:"preferred"`
	TLSCA        string `env:"TLS_CA"`
}

// NATSConfig says where events go.
type NATSConfig struct {
	URL           string `env:"URL" envDefault:"embedded"`
	EmbeddedAddr  string `env:"EMBEDDED_ADDR" envDefault:"127.0.0.1:4222"`
	Creds         string `env:"CREDS"`
	TLSCA         string `env:"TLS_CA"`
	SubjectPrefix string `env:"SUBJECT_PREFIX" envDefault:"mysql.health"`
	// Stream is read by hand: set but empty means "core NATS only", which
	// envDefault cannot express.
	Stream string `env:"-"`
	// KVBucket is read by hand too: set but empty means "no fleet status".
	KVBucket string        `env:"-"`
	KVEvery  time.Duration `env:"KV_EVERY" envDefault:"10s"`
}

// bucketName is what JetStream accepts as a key-value bucket name.
var bucketName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Embedded and None are the special values of SIDECAR_NATS_URL.
const (
	NATSEmbedded = "embedded"
	NATSNone     = "none"
)

// ConfigError lists every bad variable at once, so an operator can fix a
// Pod spec in one go.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

// loadConfig reads and validates the configuration from getenv's view of
// the environment.
func loadConfig(environ []string) (Config, error) {
	envs := envMap(environ)
	var problems []string
	cfg, err := env.ParseAsWithOptions[Config](env.Options{Prefix: envPrefix, Environment: envs})
	if err != nil {
		problems = append(problems, describeParseErrors(err)...)
	}
	if v, ok := envs[envPrefix+"NATS_STREAM"]; ok {
		cfg.NATS.Stream = v
	} else {
		cfg.NATS.Stream = events.DefaultStream
	}
	if v, ok := envs[envPrefix+"NATS_KV_BUCKET"]; ok {
		cfg.NATS.KVBucket = v
	} else {
		cfg.NATS.KVBucket = kv.DefaultBucket
	}
	// A variable that did not parse is reported once, not again by the
	// checks that would see its zero value.
	for _, line := range cfg.resolve() {
		key, _, _ := strings.Cut(line, ":")
		if !reported(problems, key) {
			problems = append(problems, line)
		}
	}
	if len(problems) > 0 {
		return cfg, &ConfigError{Problems: problems}
	}
	return cfg, nil
}

// envMap turns KEY=value lines into a map.
func envMap(environ []string) map[string]string {
	envs := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			envs[k] = v
		}
	}
	return envs
}

func reported(problems []string, key string) bool {
	for _, p := range problems {
		if strings.HasPrefix(p, key+":") {
			return true
		}
	}
	return false
}

// describeParseErrors turns caarlos0/env's errors into lines that name the
// variable and what it expected.
func describeParseErrors(err error) []string {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			out = append(out, fmt.Sprintf("%s: %s", keyOfField(pe.Name), expectation(pe.Type)))
			continue
		}
		out = append(out, e.Error())
	}
	return out
}

// keyOfField maps a Config field name to its variable.
func keyOfField(name string) string {
	if k, ok := envVariables()[name]; ok {
		return k
	}
	return name
}

func expectation(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(time.Duration(0)):
		return "want a Go duration such as 500ms, 5s or 1m"
	case reflect.TypeOf(false):
		return "want true or false"
	case reflect.TypeOf(uint32(0)):
		return "want a whole number from 1 to 4294967295"
	}
	return "want a value of type " + t.String()
}

// resolve derives defaults, reads secret files and checks every value; it
// returns one line per problem, in the order of the steps below.
func (c *Config) resolve() []string {
	var p problems
	c.resolveMySQL(&p)
	c.checkReadableFiles(&p)
	c.resolveIdentity(&p)
	c.checkTimings(&p)
	c.resolveInventory(&p)
	c.checkHTTP(&p)
	c.checkNATS(&p)
	c.resolveSpool(&p)
	c.checkLogging(&p)
	return p
}

// problems collects resolve's lines, each naming its variable.
type problems []string

func (p *problems) bad(key, format string, args ...any) {
	*p = append(*p, envPrefix+key+": "+fmt.Sprintf(format, args...))
}

func (p *problems) oneOf(key, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		p.bad(key, "%q: want one of %s", v, strings.Join(allowed, ", "))
	}
}

// readable reads path now, as the libraries that use it later would: a
// directory, a named pipe or an endless device is a configuration error
// (exit 2) rather than a hang or a failure after start.
func (p *problems) readable(key, path string) {
	if path == "" {
		return
	}
	if err := regfile.Check(path); err != nil {
		p.bad(key, "cannot read: %v", fileError(err))
	}
}

// resolveMySQL reads the password file and checks how to reach the server.
func (c *Config) resolveMySQL(p *problems) {
	if c.MySQL.PasswordFile != "" {
		if c.MySQL.Password != "" {
			p.bad("MYSQL_PASSWORD_FILE", "set together with SIDECAR_MYSQL_PASSWORD; want only one of them")
		}
		b, err := regfile.ReadFile(c.MySQL.PasswordFile)
		if err != nil {
			p.bad("MYSQL_PASSWORD_FILE", "cannot read: %v", fileError(err))
		}
		// Kubernetes secrets and `echo pw > file` end in a newline that is
		// never part of the password.
		c.MySQL.Password = strings.TrimRight(string(b), "\r\n")
	}
	if a := c.MySQL.Addr; !strings.HasPrefix(a, "/") {
		if err := checkHostPort(a, 1); err != nil {
			p.bad("MYSQL_ADDR", "%q: want host:port or a unix socket path starting with / (%v)", a, err)
		}
	}
	if c.MySQL.User == "" {
		p.bad("MYSQL_USER", "empty; want the replication user's name")
	}
	p.oneOf("MYSQL_FLAVOR", c.MySQL.Flavor, mysqlserver.FlavorAuto, mysqlserver.FlavorMySQL, mysqlserver.FlavorMariaDB)
	p.oneOf("MYSQL_TLS", c.MySQL.TLSMode, "disabled", "preferred", "required", "verify-ca", "verify-full")
	if (c.MySQL.TLSMode == "verify-ca" || c.MySQL.TLSMode == "verify-full") && c.MySQL.TLSCA == "" {
		p.bad("MYSQL_TLS_CA", "empty; SIDECAR_MYSQL_TLS=%s needs the CA file that signed the server's certificate", c.MySQL.TLSMode)
	}
}

// checkReadableFiles reads the CA and credentials files the connections
// will load.
func (c *Config) checkReadableFiles(p *problems) {
	p.readable("MYSQL_TLS_CA", c.MySQL.TLSCA)
	p.readable("NATS_CREDS", c.NATS.Creds)
	p.readable("NATS_TLS_CA", c.NATS.TLSCA)
}

// resolveIdentity names this sidecar: instance (the host name by default),
// cluster, its server_id (derived from the instance by default) and where
// the stream starts.
func (c *Config) resolveIdentity(p *problems) {
	if c.Instance == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			p.bad("INSTANCE", "empty and the host name is unknown; want a name for this sidecar")
		}
		c.Instance = h
	}
	if c.Cluster == "" {
		p.bad("CLUSTER", "empty; want a cluster name")
	}
	// Both become one subject token each; NATS limits a whole subject's
	// length (and a 5,000-character name kept the bus from ever connecting).
	for key, v := range map[string]string{"CLUSTER": c.Cluster, "INSTANCE": c.Instance} {
		if n := len(events.Token(v)); n > maxNameLen {
			p.bad(key, "%d bytes; want at most %d", n, maxNameLen)
		}
	}
	if c.ServerID == 0 {
		c.ServerID = mysqlserver.DerivedServerID(c.Instance)
	}
	var startErr *binlog.StartError
	if _, err := binlog.ParseStart(c.Start); errors.As(err, &startErr) {
		p.bad("START", "%q: %s", c.Start, startErr.Reason)
	}
}

// checkTimings checks each duration against its bounds and the ones that
// depend on another.
func (c *Config) checkTimings(p *problems) {
	for _, b := range durationBounds {
		d := b.get(c)
		switch {
		case d < b.min:
			p.bad(b.key, "%s: want at least %s", d, b.min)
		case d > b.max:
			p.bad(b.key, "%s: want at most %s%s", d, b.max, b.why)
		}
	}
	// A slow threshold at or past the timeout could never be seen: the
	// write is killed first.
	if c.CanarySlow >= c.CanaryTimeout && c.CanaryTimeout >= time.Second {
		p.bad("CANARY_SLOW", "%s: want less than SIDECAR_CANARY_TIMEOUT (%s), which kills the write", c.CanarySlow, c.CanaryTimeout)
	}
	// A delay of a heartbeat period or more would hold heartbeats back
	// long enough to make a healthy stream look stalled.
	if c.StreamMaxDelay < 0 || c.StreamMaxDelay >= c.HeartbeatPeriod {
		p.bad("STREAM_MAX_DELAY", "%s: want 0 (count each event as it arrives) up to less than SIDECAR_HEARTBEAT_PERIOD (%s)", c.StreamMaxDelay, c.HeartbeatPeriod)
	}
}

// resolveInventory reads the expected replicas from the list or the file.
func (c *Config) resolveInventory(p *problems) {
	if c.ExpectedReplicas != "" && c.ExpectedReplicasFile != "" {
		p.bad("EXPECTED_REPLICAS_FILE", "set together with SIDECAR_EXPECTED_REPLICAS; want only one of them")
	}
	if c.ExpectedReplicas != "" {
		entries, err := inventory.ParseList(c.ExpectedReplicas)
		if err != nil {
			p.bad("EXPECTED_REPLICAS", "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		c.Inventory, c.InventoryConfigured = entries, true
	}
	if c.ExpectedReplicasFile == "" {
		return
	}
	// A secret file named as the inventory by mistake is never parsed: a
	// password would otherwise read as a host name and travel in
	// replica.missing events.
	if v := secretFileAlso(c.ExpectedReplicasFile, map[string]string{
		"MYSQL_PASSWORD_FILE": c.MySQL.PasswordFile, "NATS_CREDS": c.NATS.Creds,
	}); v != "" {
		p.bad("EXPECTED_REPLICAS_FILE", "the same file as SIDECAR_%s; want the inventory file", v)
		return
	}
	entries, err := inventory.ReadFile(c.ExpectedReplicasFile)
	if err != nil {
		p.bad("EXPECTED_REPLICAS_FILE", "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	c.Inventory, c.InventoryConfigured = entries, true
}

// checkHTTP checks the listen address and the web configuration.
func (c *Config) checkHTTP(p *problems) {
	if err := checkHostPort(c.HTTPAddr, 0); err != nil {
		p.bad("HTTP_ADDR", "%q: want [host]:port such as :9106 (%v)", c.HTTPAddr, err)
	}
	if err := api.ValidateWebConfig(c.WebConfigFile); err != nil {
		p.bad("WEB_CONFIG_FILE", "%v", err)
	}
}

// checkNATS checks where events go and under which names.
func (c *Config) checkNATS(p *problems) {
	switch c.NATS.URL {
	case NATSNone:
	case NATSEmbedded:
		if err := checkHostPort(c.NATS.EmbeddedAddr, 0); err != nil {
			p.bad("NATS_EMBEDDED_ADDR", "%q: want host:port such as 127.0.0.1:4222 (%v)", c.NATS.EmbeddedAddr, err)
		}
	default:
		for _, u := range c.NATSURLs() {
			if !strings.Contains(u, "://") && !strings.Contains(u, ":") {
				p.bad("NATS_URL", "%q: want embedded, none, or NATS URLs such as nats://host:4222,tls://host:4222", u)
			}
		}
	}
	if err := subjectPrefixOK(c.NATS.SubjectPrefix); err != nil {
		p.bad("NATS_SUBJECT_PREFIX", "%q: %v", c.NATS.SubjectPrefix, err)
	}
	if s := c.NATS.Stream; strings.ContainsAny(s, " \t.*>/\\") {
		p.bad("NATS_STREAM", "%q: want a JetStream stream name without spaces, '.', '*', '>', '/' or '\\'", s)
	}
	if b := c.NATS.KVBucket; b != "" && !bucketName.MatchString(b) {
		p.bad("NATS_KV_BUCKET", "%q: want a key-value bucket name of letters, digits, '_' and '-' (empty: no fleet status)", b)
	}
}

// resolveSpool checks the data directory and parses the spool's limit.
func (c *Config) resolveSpool(p *problems) {
	if c.DataDir == "" {
		p.bad("DATA_DIR", "empty; want a writable directory for the event spool")
	} else if err := writableDir(c.DataDir); err != nil {
		p.bad("DATA_DIR", "%q: %v; want a writable directory for the event spool", c.DataDir, err)
	}
	if n, err := parseSize(c.SpoolMaxBytesText); err != nil {
		p.bad("SPOOL_MAX_BYTES", "%q: %v", c.SpoolMaxBytesText, err)
	} else if n < minSpoolBytes {
		p.bad("SPOOL_MAX_BYTES", "%q: want at least 1MiB", c.SpoolMaxBytesText)
	} else {
		c.SpoolMaxBytes = n
	}
}

// checkLogging checks the log level and format.
func (c *Config) checkLogging(p *problems) {
	if _, err := parseLevel(c.LogLevel); err != nil {
		p.bad("LOG_LEVEL", "%q: want trace, debug, info, warn or error", c.LogLevel)
	}
	p.oneOf("LOG_FORMAT", c.LogFormat, "json", "console")
}

// minSpoolBytes is the smallest spool limit: a few segments of events.
const minSpoolBytes = 1 << 20

// parseSize reads a size in bytes: a whole number, optionally followed by
// KiB, MiB, GiB or TiB (64MiB, 1GiB, 268435456).
func parseSize(s string) (int64, error) {
	num, shift := s, 0
	for i, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			num, shift = n, 10*(i+1)
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64>>shift {
		return 0, errors.New("want a size in bytes, or a whole number followed by KiB, MiB, GiB or TiB, such as 64MiB or 1GiB")
	}
	return n << shift, nil
}

// NATSURLs splits SIDECAR_NATS_URL into its URLs.
func (c Config) NATSURLs() []string {
	var out []string
	for _, u := range strings.Split(c.NATS.URL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// secretFileAlso returns the key of the secret file variable whose file
// path also is (after symlinks), "" when none.
func secretFileAlso(path string, secrets map[string]string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	for key, p := range secrets {
		if p == "" {
			continue
		}
		if si, err := os.Stat(p); err == nil && os.SameFile(fi, si) {
			return key
		}
	}
	return ""
}

// maxNameLen bounds SIDECAR_CLUSTER, SIDECAR_INSTANCE (as subject tokens)
// and SIDECAR_NATS_SUBJECT_PREFIX, so that a subject stays far below what
// NATS and the spool's records accept.
const maxNameLen = 128

// durationBounds are the accepted ranges of the duration variables. Below
// the minimum the sidecar would load the server or itself for nothing;
// above the maximum it would look dead (/livez allows 10 polls) or never
// report.
var durationBounds = []struct {
	key      string
	get      func(*Config) time.Duration
	min, max time.Duration
	why      string
}{
	// The server counts a heartbeat period above its slave_net_timeout (60
	// s by default) as a misconfiguration and the stream would flap.
	{"HEARTBEAT_PERIOD", func(c *Config) time.Duration { return c.HeartbeatPeriod }, 100 * time.Millisecond, 30 * time.Second, " (half the server's default slave_net_timeout)"},
	{"POLL_INTERVAL", func(c *Config) time.Duration { return c.PollInterval }, 100 * time.Millisecond, 10 * time.Minute, ""},
	{"STATS_INTERVAL", func(c *Config) time.Duration { return c.StatsInterval }, time.Second, time.Hour, ""},
	{"PROBE_TIMEOUT", func(c *Config) time.Duration { return c.ProbeTimeout }, 10 * time.Millisecond, time.Minute, ""},
	// The bucket's TTL is a few periods: below a second the puts would be
	// most of the bus's traffic, above 10 minutes a silent sidecar goes
	// unnoticed for half an hour.
	{"NATS_KV_EVERY", func(c *Config) time.Duration { return c.NATS.KVEvery }, time.Second, 10 * time.Minute, ""},
	{"ZOMBIE_GRACE", func(c *Config) time.Duration { return c.ZombieGrace }, 0, 24 * time.Hour, ""},
	// One write per interval: faster than 100 ms is load for no insight.
	{"CANARY_INTERVAL", func(c *Config) time.Duration { return c.CanaryInterval }, 100 * time.Millisecond, time.Minute, ""},
	// Session lock timeouts are whole seconds.
	{"CANARY_TIMEOUT", func(c *Config) time.Duration { return c.CanaryTimeout }, time.Second, 10 * time.Minute, ""},
	{"CANARY_SLOW", func(c *Config) time.Duration { return c.CanarySlow }, time.Millisecond, 10 * time.Minute, ""},
}

// fileError is err without the *PathError's repetition of a path the
// message already names by its variable.
func fileError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// checkHostPort accepts host:port with a port from minPort to 65535 (the
// host may be empty: all interfaces).
func checkHostPort(addr string, minPort int) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("no port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < minPort || n > 65535 {
		return fmt.Errorf("port %q is not a number from %d to 65535", port, minPort)
	}
	return nil
}

// writableDir checks that dir is, or can be created as, a directory the
// sidecar may write to, without creating anything (validate loads the
// configuration too): the nearest existing ancestor decides.
func writableDir(dir string) error {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
			// access(2) also reports a read-only file system (EROFS).
			if err := syscall.Access(p, 0x2|0x1); err != nil { // W_OK|X_OK
				return fmt.Errorf("%s is not writable: %w", p, err)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) || p == filepath.Dir(p) {
			return fileError(err)
		}
	}
}

// subjectPrefixOK accepts dot-separated tokens of printable ASCII without
// the wildcards: a newline or space broke JetStream and the spool's
// framing, and a wildcard would publish nowhere.
func subjectPrefixOK(p string) error {
	if p == "" {
		return errors.New("empty; want dot-separated tokens such as mysql.health")
	}
	if len(p) > maxNameLen {
		return fmt.Errorf("%d bytes; want at most %d", len(p), maxNameLen)
	}
	for _, tok := range strings.Split(p, ".") {
		if tok == "" {
			return errors.New("empty token; want dot-separated tokens such as mysql.health")
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c > '~' || c == '*' || c == '>' {
				return errors.New("want dot-separated tokens of printable ASCII without spaces, '*' or '>'")
			}
		}
	}
	return nil
}

// MySQLTLS builds the TLS configuration for SIDECAR_MYSQL_TLS. It returns nil
// for disabled; for preferred a config that skips verification, which the
// adapters drop when the server offers no TLS.
func (c Config) MySQLTLS() (*tls.Config, error) {
	mode := c.MySQL.TLSMode
	if mode == "disabled" {
		return nil, nil
	}
	host, _, _ := net.SplitHostPort(c.MySQL.Addr)
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if mode == "preferred" || mode == "required" {
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	pem, err := regfile.ReadFile(c.MySQL.TLSCA)
	if err != nil {
		return nil, fmt.Errorf("read SIDECAR_MYSQL_TLS_CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("SIDECAR_MYSQL_TLS_CA %q: no PEM certificate found", c.MySQL.TLSCA)
	}
	cfg.RootCAs = pool
	if mode == "verify-ca" {
		// Verify the chain but not the host name: Go has no switch for
		// that, so verify by hand.
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			certs := make([]*x509.Certificate, 0, len(raw))
			for _, r := range raw {
				cert, err := x509.ParseCertificate(r)
				if err != nil {
					return err
				}
				certs = append(certs, cert)
			}
			if len(certs) == 0 {
				return errors.New("server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, ic := range certs[1:] {
				inter.AddCert(ic)
			}
			_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
			return err
		}
	}
	return cfg, nil
}

// Redacted returns the configuration as it is logged at start: secrets
// replaced, file names kept.
func (c Config) Redacted() map[string]any {
	secret := func(s string) string {
		if s == "" {
			return ""
		}
		return "[redacted]"
	}
	return map[string]any{
		"mysql_addr": c.MySQL.Addr, "mysql_user": c.MySQL.User,
		"mysql_password": secret(c.MySQL.Password), "mysql_password_file": c.MySQL.PasswordFile,
		"mysql_flavor": c.MySQL.Flavor, "mysql_tls": c.MySQL.TLSMode, "mysql_tls_ca": c.MySQL.TLSCA,
		"server_id": c.ServerID, "cluster": c.Cluster, "instance": c.Instance, "start": c.Start,
		"heartbeat_period": c.HeartbeatPeriod.String(), "poll_interval": c.PollInterval.String(),
		"stats_interval": c.StatsInterval.String(), "expected_replicas": len(c.Inventory),
		"expected_replicas_file": c.ExpectedReplicasFile, "probe_timeout": c.ProbeTimeout.String(),
		"zombie_grace": c.ZombieGrace.String(), "kill_zombies": c.KillZombies, "http_addr": c.HTTPAddr,
		"web_config_file": c.WebConfigFile, "healthcheck_user": c.HealthcheckUser,
		"canary": c.Canary, "canary_interval": c.CanaryInterval.String(), "canary_timeout": c.CanaryTimeout.String(),
		"canary_slow": c.CanarySlow.String(),
		"nats_url":    events.RedactURLs(c.NATS.URL), "nats_embedded_addr": c.NATS.EmbeddedAddr,
		"nats_creds": c.NATS.Creds, "nats_tls_ca": c.NATS.TLSCA,
		"nats_subject_prefix": c.NATS.SubjectPrefix, "nats_stream": c.NATS.Stream,
		"nats_kv_bucket": c.NATS.KVBucket, "nats_kv_every": c.NATS.KVEvery.String(),
		"data_dir": c.DataDir, "spool_max_bytes": c.SpoolMaxBytes, "log_level": c.LogLevel, "log_format": c.LogFormat,
	}
}
