package canary

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/binlog-sidecar/binlog-sidecar/internal/mytls"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
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

// privilegeCodes are the server errors of a missing privilege.
var privilegeCodes = map[uint16]bool{1044: true, 1045: true, 1142: true, 1143: true, 1227: true}

// readOnlyCodes: the server refuses writes because it is read-only
// (ER_OPTION_PREVENTS_STATEMENT, ER_READ_ONLY_MODE).
var readOnlyCodes = map[uint16]bool{1290: true, 1836: true}

// conn is the canary's own connection and what it learnt at connect.
type conn struct {
	c       *mytls.Conn
	id      uint32 // connection id, for KILL QUERY
	mariadb bool
}

// dial opens the canary's connection and sets its session timeouts. The
// server-side timeouts are backstops at twice Timeout: the canary itself
// kills a write at Timeout (kill), which also covers waits no statement
// timeout interrupts (a semi-sync wait).
func dial(ctx context.Context, t mytls.Target, timeout time.Duration) (*conn, error) {
	c, err := mytls.Connect(ctx, t, time.Now().Add(dialTimeout))
	if err != nil {
		return nil, err
	}
	cn := &conn{c: c, id: c.GetConnectionID(), mariadb: mysqlserver.Flavor(c.GetServerVersion(), "") == mysqlserver.FlavorMariaDB}
	secs := int(math.Ceil((2 * timeout).Seconds()))
	set := fmt.Sprintf("SET SESSION lock_wait_timeout = %d, innodb_lock_wait_timeout = %d", secs, secs)
	if cn.mariadb {
		set += fmt.Sprintf(", max_statement_time = %d", secs)
	}
	if _, err := cn.exec(set, dialTimeout); err != nil {
		cn.close()
		return nil, fmt.Errorf("set session timeouts: %w", err)
	}
	if cn.mariadb {
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
func (cn *conn) exec(sql string, timeout time.Duration) (*gomysql.Result, error) {
	if err := cn.c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	return cn.c.Execute(sql)
}

// writable says whether the server takes the canary's writes: not while it
// is read-only (read_only, super_read_only) or a replica of another server.
func (cn *conn) writable() error {
	q := sqlReadOnly
	if !cn.mariadb {
		q = sqlSuperReadOnly
	}
	res, err := cn.exec(q, dialTimeout)
	if err != nil {
		return fmt.Errorf("read read_only: %w", err)
	}
	for i := range res.Values[0] {
		if v, _ := res.GetInt(0, i); v != 0 {
			name := []string{"read_only", "super_read_only"}[i]
			return fmt.Errorf("%w: %s is ON", errReadOnly, name)
		}
	}
	if src, err := cn.sourceOf(); err == nil && src != "" {
		return fmt.Errorf("%w: the server is a replica of %s", errReadOnly, src)
	}
	return nil
}

// sourceOf returns the source this server replicates from, "" for none.
// Without the privilege to read it, read_only alone decides.
func (cn *conn) sourceOf() (string, error) {
	stmts := []string{"SHOW REPLICA STATUS", "SHOW SLAVE STATUS"}
	if cn.mariadb {
		stmts = []string{"SHOW ALL SLAVES STATUS"}
	}
	var err error
	for _, s := range stmts {
		var res *gomysql.Result
		if res, err = cn.exec(s, dialTimeout); err != nil {
			continue
		}
		for i := range res.Values {
			host, _ := res.GetStringByName(i, "Master_Host")
			if host == "" {
				host, _ = res.GetStringByName(i, "Source_Host")
			}
			if host != "" {
				return host, nil
			}
		}
		return "", nil
	}
	return "", err
}

// prepare makes sure the table exists, creating it when the account may.
func (cn *conn) prepare(account string) error {
	res, err := cn.exec(sqlExists, dialTimeout)
	if err != nil {
		return fmt.Errorf("look for %s: %w", table, err)
	}
	if n, _ := res.GetInt(0, 0); n > 0 {
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
	var my *gomysql.MyError
	if !errors.As(err, &my) || !privilegeCodes[my.Code] {
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
func killQuery(ctx context.Context, t mytls.Target, id uint32) error {
	c, err := mytls.Connect(ctx, t, time.Now().Add(dialTimeout))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(dialTimeout)); err != nil {
		return err
	}
	_, err = c.Execute(fmt.Sprintf("KILL QUERY %d", id))
	return err
}

// currentUser returns CURRENT_USER() as 'user'@'host', for the GRANT hint.
func (cn *conn) currentUser() string {
	res, err := cn.exec("SELECT CURRENT_USER()", dialTimeout)
	if err != nil || len(res.Values) == 0 {
		return ""
	}
	cu, _ := res.GetString(0, 0)
	return mysqlserver.QuoteAccount(cu)
}
