package canary

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
	"github.com/binlog-sidecar/binlog-sidecar/stream/binlog"
)

// DDL creates the canary's table; the README shows it with the grants.
// seq and written_us come first and are BIGINTs: the binlog stream reads
// them from the row image by position (stream/binlog.Config.OnCanary).
const DDL = "CREATE TABLE IF NOT EXISTS " + table + ` (
  seq BIGINT UNSIGNED NOT NULL,
  written_us BIGINT NOT NULL,
  server_id INT UNSIGNED NOT NULL,
  instance VARCHAR(255) NOT NULL,
  PRIMARY KEY (instance)
) ENGINE=InnoDB`

const (
	table     = binlog.CanarySchema + "." + binlog.CanaryTable
	sqlSchema = "CREATE DATABASE IF NOT EXISTS " + binlog.CanarySchema
	sqlExists = "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '" +
		binlog.CanarySchema + "' AND TABLE_NAME = '" + binlog.CanaryTable + "'"
	// sqlReadOnly reads read_only (and MySQL's super_read_only).
	sqlReadOnly      = "SELECT @@global.read_only"
	sqlSuperReadOnly = "SELECT @@global.read_only, @@global.super_read_only"
	// Grants is what the canary's account needs. SELECT too: MariaDB
	// checks SELECT on the columns an INSERT ... ON DUPLICATE KEY UPDATE
	// sets, even to literals (ERROR 1143), and there is no upsert without it.
	Grants = "SELECT, INSERT, UPDATE, CREATE ON " + binlog.CanarySchema + ".*"
)

// errReadOnly marks a server the canary must not write to.
var errReadOnly = errors.New("read-only")

// ErrPrivilege marks a canary that cannot write for lack of a privilege or
// of its table (a *PrivilegeError says which and the fix).
var ErrPrivilege = errors.New("missing privilege")

// PrivilegeError is a canary write or table creation the account may not
// do: the privilege the server checked, its message, and the statements
// that fix it.
type PrivilegeError struct {
	Privilege string // e.g. CREATE on binlog_sidecar.*
	Message   string // the server's
	Fix       string
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("missing privilege %s (%s); fix: %s", e.Privilege, e.Message, e.Fix)
}

func (e *PrivilegeError) Unwrap() error { return ErrPrivilege }

// conn is the canary's own connection and what it learnt at connect.
type conn struct {
	c       *client.Conn
	id      uint32 // connection id, for KILL QUERY
	version mysqlserver.Version
	flavor  string // mysqlserver.FlavorMySQL or FlavorMariaDB
}

func (cn *conn) mariadb() bool { return cn.flavor == mysqlserver.FlavorMariaDB }

// dial opens the canary's connection and sets its session timeouts. The
// server-side timeouts are backstops at twice Timeout: the canary itself
// kills a write at Timeout (kill), which also covers waits no statement
// timeout interrupts (a semi-sync wait).
// flavor is SIDECAR_MYSQL_FLAVOR's setting: auto ("") detects it from the
// server's version, as the stream and the probe do.
func dial(ctx context.Context, t client.Target, flavor string, timeout time.Duration) (*conn, error) {
	c, err := client.Connect(ctx, t, time.Now().Add(dialTimeout))
	if err != nil {
		return nil, err
	}
	v := c.ServerVersion()
	cn := &conn{c: c, id: c.ConnectionID(), version: mysqlserver.ParseVersion(v),
		flavor: mysqlserver.ResolveFlavor(flavor, v, "")}
	secs := int(math.Ceil((2 * timeout).Seconds()))
	set := fmt.Sprintf("SET SESSION lock_wait_timeout = %d, innodb_lock_wait_timeout = %d", secs, secs)
	if cn.mariadb() {
		set += fmt.Sprintf(", max_statement_time = %d", secs)
	}
	if _, err := cn.exec(set, dialTimeout); err != nil {
		cn.close()
		return nil, fmt.Errorf("set session timeouts: %w", err)
	}
	if cn.mariadb() {
		// MariaDB logs each row statement's text (Annotate_rows, on by
		// default): 269 of the 501 bytes a canary write adds to the binlog.
		// Best effort: without it the canary works the same.
		_, _ = cn.exec("SET SESSION binlog_annotate_row_events = OFF", dialTimeout)
	}
	return cn, nil
}

// close says goodbye (COM_QUIT), so the server logs no aborted connection.
func (cn *conn) close() {
	if cn.c.SetDeadline(time.Now().Add(time.Second)) == nil {
		_ = cn.c.Quit()
	}
	_ = cn.c.Close()
}

// exec runs one statement with a client-side deadline.
func (cn *conn) exec(sql string, timeout time.Duration) (client.Rows, error) {
	if err := cn.c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return client.Rows{}, err
	}
	return cn.c.Query(sql)
}

// writable says whether the server takes the canary's writes: not while it
// is read-only (read_only, super_read_only) or a replica of another server.
func (cn *conn) writable() error {
	q := sqlReadOnly
	if !cn.mariadb() {
		q = sqlSuperReadOnly
	}
	res, err := cn.exec(q, dialTimeout)
	if err != nil {
		return fmt.Errorf("read read_only: %w", err)
	}
	for i := range res.Columns {
		if res.Uint(0, i) != 0 {
			name := []string{"read_only", "super_read_only"}[i]
			return fmt.Errorf("%w: %s is ON", errReadOnly, name)
		}
	}
	if src, err := cn.sourceOf(); err == nil && src != "" {
		return fmt.Errorf("%w: the server is a replica of %s", errReadOnly, src)
	}
	return nil
}

// sourceOf returns the source this server replicates from, "" for none:
// the statements and columns are the health probe's channel read.
// Without the privilege to read it, read_only alone decides.
func (cn *conn) sourceOf() (string, error) {
	err := errors.New("no statement reads this server's replication channels")
	tried := map[string]bool{}
	for _, st := range mysqlserver.Statements(mysqlserver.ReadChannels, cn.flavor, cn.version, false) {
		if tried[st.SQL] { // the same statement under another privilege
			continue
		}
		tried[st.SQL] = true
		var res client.Rows
		if res, err = cn.exec(st.SQL, dialTimeout); err != nil {
			continue
		}
		return sourceHost(res, st.Cols["source_host"]), nil
	}
	return "", err
}

// sourceHost is the first source host in a channel listing, "" for none.
func sourceHost(res client.Rows, names []string) string {
	for _, name := range names {
		j := res.Column(name)
		if j < 0 {
			continue
		}
		for i := range res.Rows {
			if host := res.Value(i, j); host != "" {
				return host
			}
		}
	}
	return ""
}

// prepare makes sure the table exists, creating it when the account may.
func (cn *conn) prepare(account string) error {
	res, err := cn.exec(sqlExists, dialTimeout)
	if err != nil {
		return fmt.Errorf("look for %s: %w", table, err)
	}
	if res.Uint(0, 0) > 0 {
		return nil
	}
	for _, s := range []string{sqlSchema, DDL} {
		if _, err := cn.exec(s, dialTimeout); err != nil {
			return privilegeError(err, "CREATE", account)
		}
	}
	return nil
}

// upsert writes the instance's row: the statement the canary times.
func upsertSQL(instance string, seq uint64, writtenUS int64) string {
	// Literals in the UPDATE part: VALUES(col) would read columns and need
	// SELECT on the table.
	return fmt.Sprintf("INSERT INTO %s (seq, written_us, server_id, instance) VALUES (%d, %d, @@server_id, '%s') "+
		"ON DUPLICATE KEY UPDATE seq = %d, written_us = %d, server_id = @@server_id",
		table, seq, writtenUS, escape(instance), seq, writtenUS)
}

// escape quotes s for a string literal (backslashes and quotes).
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `''`, "\x00", `\0`).Replace(s)
}

// deniedRE finds the privilege in "SELECT command denied to user ...".
var deniedRE = regexp.MustCompile(`^([A-Z ]+?) command denied`)

// privilegeError names the missing privilege and the statements that fix
// it; other errors pass through.
func privilegeError(err error, priv, account string) error {
	my, ok := client.AsServerError(err)
	if !ok || !mysqlserver.IsPrivilegeError(my.Code) {
		return err
	}
	if account == "" {
		account = "<sidecar account>"
	}
	if m := deniedRE.FindStringSubmatch(my.Message); m != nil {
		priv = m[1] // the server names the one it checked
	}
	return &PrivilegeError{Privilege: priv + " on " + binlog.CanarySchema + ".*", Message: my.Message,
		Fix: oneLine(DDL) + "; GRANT " + Grants + " TO " + account + ";"}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// killQuery ends the statement running on connection id from a connection
// of its own.
func killQuery(ctx context.Context, t client.Target, id uint32) error {
	c, err := client.Connect(ctx, t, time.Now().Add(dialTimeout))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(dialTimeout)); err != nil {
		return err
	}
	return c.Exec(fmt.Sprintf(mysqlserver.SQLKillQuery, id))
}

// currentUser returns CURRENT_USER() as 'user'@'host', for the GRANT hint.
func (cn *conn) currentUser() string {
	res, err := cn.exec(mysqlserver.SQLCurrentUser, dialTimeout)
	if err != nil || len(res.Rows) == 0 {
		return ""
	}
	return mysqlserver.QuoteAccount(res.Value(0, 0))
}
