package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
)

// DefaultReadTimeout bounds each read (and the connect) of a poll.
const DefaultReadTimeout = 5 * time.Second

// Config says how to reach the server the sidecar watches.
type Config struct {
	Addr     string // host:port, or a unix socket path starting with /
	User     string
	Password string
	// Flavor is "mysql" or "mariadb" to skip detection; "" or "auto" detects.
	Flavor string
	// TLS, when set, is used for the connection.
	TLS *tls.Config
	// TLSPreferred connects without TLS when the server offers none
	// (SIDECAR_MYSQL_TLS=preferred).
	TLSPreferred bool
	// ReadTimeout bounds each read; default DefaultReadTimeout.
	ReadTimeout time.Duration
}

// Probe reads the server's replication state over one kept connection
// (re-opened after an error), so a poll costs no connection set-up. Polls
// and kills take turns on it.
type Probe struct {
	cfg Config
	log zerolog.Logger

	// exec runs one statement; query, or recorded results in tests.
	exec func(ctx context.Context, sql string) (Rowset, error)

	mu     sync.Mutex // one poll or kill at a time; guards the fields below
	conn   *client.Conn
	server health.Server // last known identity, decides the statements
	known  bool
	ps     bool
	privs  map[string]bool // the account's global privileges; nil if unknown
	// account is CURRENT_USER() as 'user'@'host', for GRANT statements.
	account string
	// regrant is set while a read lacks a privilege: each poll then
	// reconnects (quietly) to pick up a GRANT.
	regrant bool
	// lost is why the connection failed earlier in this poll: the reads
	// after it fail at once instead of each waiting out a timeout.
	lost error
	// unsupported holds statements that failed on this connection while a
	// fallback worked, with their error: they are not retried every poll.
	unsupported map[string]string
}

var _ health.Prober = (*Probe)(nil)

// New returns a probe; it connects on first use.
func New(cfg Config, log zerolog.Logger) *Probe {
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	p := &Probe{cfg: cfg, log: log.With().Str("component", "probe").Logger()}
	p.exec = p.query
	p.unsupported = map[string]string{}
	return p
}

// Close closes the connection.
func (p *Probe) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil
	}
	err := p.conn.Quit()
	p.conn = nil
	return err
}

// Observe runs one poll: every read in order, each with its own timeout.
// A failed read is recorded in Reads (and makes its checks unknown); it
// does not stop the others.
func (p *Probe) Observe(ctx context.Context) health.Observation {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	o := health.Observation{At: start, User: p.cfg.User, Reads: map[health.Read]health.ReadResult{}}
	p.lost = nil
	p.observeServer(ctx, &o)
	p.observeReplication(ctx, &o)
	o.Took = time.Since(start)
	p.regrant = false
	for _, r := range o.Reads {
		p.regrant = p.regrant || r.MissingPrivilege != ""
	}
	if p.regrant {
		// A server applies new global grants to new connections only: the
		// next poll reconnects, so a GRANT ends check.unavailable.
		p.drop()
	}
	return o
}

// observeServer reads the variables and status: the server's identity
// (which decides every later statement), semi-sync and connection load.
func (p *Probe) observeServer(ctx context.Context, o *health.Observation) {
	if vars, _ := readAs(ctx, p, o, health.ReadVariables, mapNameValues); vars != nil {
		o.Variables = vars
		p.server, p.known = server(vars, p.cfg.Flavor), true
		p.ps = on(vars["performance_schema"])
		if g := vars["gtid_binlog_pos"]; g != "" {
			o.Binlog.GTID = g
		}
	}
	o.Server, o.PerformanceSchema, o.Account = p.server, p.ps, p.account
	if status, _ := readAs(ctx, p, o, health.ReadStatus, mapNameValues); status != nil {
		o.Status = status
	}
	o.SemiSync = semiSync(o.Variables, o.Status)
	o.Connections = connections(o.Variables, o.Status)
}

// observeReplication reads the dump threads, registered replicas, binlog
// and the server's own channels.
func (p *Probe) observeReplication(ctx context.Context, o *health.Observation) {
	if v, ok := readAs(ctx, p, o, health.ReadDumpThreads, mapDumpThreads); ok {
		o.DumpThreads = v
	}
	if v, ok := readAs(ctx, p, o, health.ReadReplicaHosts, mapRegistrations); ok {
		o.Replicas = v
	}
	if v, ok := readAs(ctx, p, o, health.ReadBinlogStatus, mapBinlogStatus); ok {
		if v.GTID == "" {
			v.GTID = o.Binlog.GTID // MariaDB: @@gtid_binlog_pos
		}
		o.Binlog = v
	}
	if v, ok := readAs(ctx, p, o, health.ReadBinlogFiles, mapBinlogFiles); ok {
		o.BinlogFiles = v
	}
	if v, ok := readAs(ctx, p, o, health.ReadChannels, mapChannels); ok {
		o.Channels = v
	}
}

// readAs performs read r, records its evidence in o.Reads and returns the
// value mapRows makes of the result. ok is false when the read failed or
// the account lacks its privilege (the value may then still be partial,
// e.g. the account's own threads).
func readAs[T any](ctx context.Context, p *Probe, o *health.Observation, r health.Read, mapRows func(Rowset) (T, error)) (v T, ok bool) {
	res := health.ReadResult{At: time.Now()}
	defer func() { o.Reads[r] = res }()
	rs, st, ran := p.run(ctx, r, &res)
	if !ran {
		return v, false
	}
	v, err := mapRows(rs)
	res.Rows = len(rs.Rows)
	if err != nil {
		res.Err = err.Error()
		var none T
		return none, false
	}
	if st.Silent && p.privs != nil && !p.privs[st.Priv] && !p.privs["SUPER"] {
		res.MissingPrivilege = st.Priv // without it the server hides rows instead of failing
		return v, false
	}
	return v, true
}

// run runs the statements of one read until one answers and records in
// res what ran and how it went; ran is false when none answered.
func (p *Probe) run(ctx context.Context, r health.Read, res *health.ReadResult) (Rowset, mysqlserver.Statement, bool) {
	cands := mysqlserver.Statements(r, p.server.Flavor, mysqlserver.ParseVersion(p.server.Version), p.ps)
	if r != health.ReadVariables && !p.known {
		res.Err, res.Skipped = "server flavor and version unknown (variables not read)", true
		return Rowset{}, mysqlserver.Statement{}, false
	}
	if p.lost != nil {
		res.Err, res.Skipped = fmt.Sprintf("connection lost earlier in this poll: %v", p.lost), true
		return Rowset{}, mysqlserver.Statement{}, false
	}
	if len(cands) == 0 {
		res.Err = fmt.Sprintf("no statement for %s %s", p.server.Flavor, p.server.Version)
		return Rowset{}, mysqlserver.Statement{}, false
	}
	res.Grant = cands[0].Priv // the preferred statement's grant on this version
	for i, st := range cands {
		if msg, skip := p.unsupported[st.SQL]; skip && i+1 < len(cands) {
			res.FallbackFrom = msg
			continue
		}
		res.SQL = st.SQL
		res.Queries++
		rs, err := p.exec(ctx, st.SQL)
		res.Took = time.Since(res.At)
		se, serverErr := client.AsServerError(err)
		switch {
		case err == nil:
			return rs, st, true
		case serverErr && i+1 < len(cands):
			res.FallbackFrom = err.Error() // e.g. performance_schema not readable: take the next statement
			p.unsupported[st.SQL] = res.FallbackFrom
		case serverErr:
			res.Err, res.Code = err.Error(), se.Code
			if mysqlserver.IsPrivilegeError(se.Code) {
				res.MissingPrivilege = missingPrivilege(se, st.Priv)
			}
			return Rowset{}, mysqlserver.Statement{}, false
		default:
			res.Err = err.Error()
			return Rowset{}, mysqlserver.Statement{}, false
		}
	}
	return Rowset{}, mysqlserver.Statement{}, false
}

var (
	needPrivRE  = regexp.MustCompile(`(?i)you need \(at least one of\) the (.+?) privilege`)
	tableDenyRE = regexp.MustCompile(`(?i)(\w+) command denied to user .* for table (.+)`)
)

// missingPrivilege names the privilege from the server's message where it
// says, else the one the statement table lists.
func missingPrivilege(err *client.ServerError, fallback string) string {
	if m := needPrivRE.FindStringSubmatch(err.Message); m != nil {
		if strings.Contains(m[1], ",") {
			return "one of " + m[1]
		}
		return m[1]
	}
	if m := tableDenyRE.FindStringSubmatch(err.Message); m != nil {
		return strings.ToUpper(m[1]) + " on " + strings.NewReplacer("`", "", "'", "").Replace(m[2])
	}
	return fallback
}

// Kill ends a connection, e.g. a zombie dump thread. It needs CONNECTION
// ADMIN (MariaDB) or CONNECTION_ADMIN/SUPER (MySQL) for other accounts'
// threads.
func (p *Probe) Kill(ctx context.Context, threadID uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lost = nil
	_, err := p.exec(ctx, fmt.Sprintf(mysqlserver.SQLKill, threadID))
	if myErr, ok := client.AsServerError(err); ok && mysqlserver.IsPrivilegeError(myErr.Code) {
		priv := "CONNECTION ADMIN"
		if p.server.Flavor == mysqlserver.FlavorMySQL {
			priv = "CONNECTION_ADMIN or SUPER"
		}
		return fmt.Errorf("kill %d: missing privilege %s: %w", threadID, missingPrivilege(myErr, priv), err)
	}
	if err != nil {
		return fmt.Errorf("kill %d: %w", threadID, err)
	}
	return nil
}

// query runs one statement within ReadTimeout (and ctx), connecting first
// if needed. After a network error or timeout the connection is dropped:
// its protocol state is unknown.
func (p *Probe) query(ctx context.Context, sql string) (Rowset, error) {
	deadline := time.Now().Add(p.cfg.ReadTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if p.lost != nil {
		return Rowset{}, fmt.Errorf("connection lost earlier in this poll: %w", p.lost)
	}
	if err := p.connect(ctx, deadline); err != nil {
		p.lost = err
		return Rowset{}, err
	}
	c := p.conn
	if err := c.SetDeadline(deadline); err != nil {
		p.drop()
		return Rowset{}, fmt.Errorf("set deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	rows, err := c.Query(sql)
	stop()
	if err != nil {
		if !client.IsServerError(err) {
			p.drop()
			p.lost = err
		}
		return Rowset{}, err
	}
	return Rowset(rows), nil
}

// connect opens the connection if there is none; the dial and the
// handshake share the deadline. It then reads the account's privileges.
func (p *Probe) connect(ctx context.Context, deadline time.Time) error {
	if p.conn != nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := client.Connect(ctx, client.Target{Addr: p.cfg.Addr, User: p.cfg.User, Password: p.cfg.Password,
		TLS: p.cfg.TLS, TLSPreferred: p.cfg.TLSPreferred}, deadline)
	if err != nil {
		return err
	}
	p.conn = c
	p.unsupported = map[string]string{} // grants or settings may have changed
	lvl := p.log.Info()
	if p.regrant {
		lvl = p.log.Debug()
	}
	lvl.Str("addr", p.cfg.Addr).Str("server_version", c.ServerVersion()).Msg("probe connected")
	p.privs = nil
	if rows, err := c.Query(mysqlserver.SQLPrivileges); err == nil {
		p.privs = map[string]bool{}
		for i := range rows.Rows {
			if priv := rows.Value(i, 0); priv != "" {
				p.privs[strings.ToUpper(priv)] = true
			}
		}
	} else if !client.IsServerError(err) {
		p.drop()
		return fmt.Errorf("read privileges: %w", err)
	}
	p.account = ""
	if rows, err := c.Query(mysqlserver.SQLCurrentUser); err == nil {
		if len(rows.Rows) == 1 {
			p.account = mysqlserver.QuoteAccount(rows.Value(0, 0))
		}
	} else if !client.IsServerError(err) {
		p.drop()
		return fmt.Errorf("read current user: %w", err)
	}
	return nil
}

func (p *Probe) drop() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn = nil
	}
}
