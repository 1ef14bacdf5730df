package validate

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/inventory"
	"github.com/binlog-sidecar/binlog-sidecar/mycnf"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
)

// Input is everything one validation looks at.
type Input struct {
	// Servers are the servers of one topology: a primary.cnf and a
	// replica.cnf are two servers, so server_id uniqueness is checked
	// across them.
	Servers []Server
	// Inventory lists the source's expected replicas (HasInventory false:
	// none was given, and the checks that need one say so).
	Inventory     []inventory.Entry
	InventoryFile string
	HasInventory  bool
	// Sidecar is the sidecar's own configuration; nil when unknown.
	Sidecar *Sidecar
}

// Sidecar is what of the sidecar's configuration matters to the topology.
type Sidecar struct {
	ServerID     uint32
	ServerIDFrom string   // where the id came from, for messages: "SIDECAR_SERVER_ID"
	Flavor       string   // SIDECAR_MYSQL_FLAVOR: auto, mysql or mariadb
	Problems     []string // configuration errors, "SIDECAR_X: what is wrong" each
}

// NeverFallsBackMillis is the semi-sync timeout from which a source
// effectively never falls back to async (about 11.6 days; Vitess uses 10^18).
const NeverFallsBackMillis = 1_000_000_000

// MaxSemiSyncTimeoutMillis is the longest semi-sync timeout accepted without
// a warning: beyond it a lost replica stalls commits for over a minute.
const MaxSemiSyncTimeoutMillis = 60_000

// Check runs every check on in and returns the findings, sorted by place.
func Check(in Input) []Finding {
	c := &checker{in: in, bad: map[string]bool{}}
	for i := range in.Servers {
		vs := viewsOf(&in.Servers[i])
		if len(vs) > 1 {
			for _, v := range vs {
				v.note = fmt.Sprintf(" (as read by a %s server, [%s])", v.version, v.group)
			}
		}
		c.views = append(c.views, vs...)
	}
	c.assignRoles()
	for _, check := range []func(*checker){
		checkServerID, checkBinlog, checkRowFormat, checkGTID,
		checkSemiSyncCount, checkSemiSyncTimeout, checkSemiSyncNames,
		checkReportHost, checkNetTimeout, checkSelfReplica, checkChains,
		checkRelayLog, checkRetryCount, checkPurgeConnections, checkSidecar,
	} {
		check(c)
	}
	return tidy(c.out)
}

type checker struct {
	in    Input
	views []*view
	out   []Finding
	bad   map[string]bool // options already reported as malformed
}

// at is where a finding points.
type at struct {
	file string
	line int
}

func optAt(o mycnf.Option) at { return at{o.File, o.Line} }
func (v *view) at() at        { return at{v.srv.Name, 0} }

func (c *checker) report(v *view, id string, sev Severity, where at, fix, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if v != nil {
		msg += v.note
	}
	c.out = append(c.out, Finding{ID: id, Severity: sev, File: where.file, Line: where.line, Message: msg, Fix: fix})
}

// malformed reports a value the server cannot read, once per line.
func (c *checker) malformed(v *view, id string, o mycnf.Option, want string) {
	if k := o.Where(); !c.bad[k] {
		c.bad[k] = true
		c.report(v, id, SeverityError, optAt(o), "use "+want, "%s=%q is not %s: the server refuses to start", o.Raw, o.Value, want)
	}
}

// flag reads a boolean option; ok is false when it is unset or malformed.
func (c *checker) flag(v *view, id string, names ...string) (val bool, o mycnf.Option, ok bool) {
	o, ok = v.set.Lookup(names...)
	if !ok {
		return false, o, false
	}
	b, err := o.Bool()
	if err != nil {
		c.malformed(v, id, o, "ON or OFF")
		return false, o, false
	}
	return b, o, true
}

// number reads a numeric option; ok is false when it is unset or malformed.
func (c *checker) number(v *view, id string, names ...string) (n uint64, o mycnf.Option, ok bool) {
	o, ok = v.set.Lookup(names...)
	if !ok {
		return 0, o, false
	}
	n, err := o.Uint()
	if err != nil {
		c.malformed(v, id, o, "a whole number")
		return 0, o, false
	}
	return n, o, true
}

// word reads an enumerated option, upper-cased.
func (v *view) word(names ...string) (string, mycnf.Option, bool) {
	o, ok := v.set.Lookup(names...)
	return strings.ToUpper(strings.TrimSpace(o.Value)), o, ok
}

// Names of one setting under each plugin or release; Lookup takes the later.
var (
	semiSourceOn   = []string{"rpl_semi_sync_master_enabled", "rpl_semi_sync_source_enabled"}
	semiReplicaOn  = []string{"rpl_semi_sync_slave_enabled", "rpl_semi_sync_replica_enabled"}
	semiWaitCount  = []string{"rpl_semi_sync_master_wait_for_slave_count", "rpl_semi_sync_source_wait_for_replica_count"}
	semiTimeout    = []string{"rpl_semi_sync_master_timeout", "rpl_semi_sync_source_timeout"}
	logSlaveUpd    = []string{"log_slave_updates", "log_replica_updates"}
	netTimeout     = []string{"slave_net_timeout", "replica_net_timeout"}
	replicaSignals = [][]string{semiReplicaOn, {"read_only"}, {"super_read_only"}, {"skip_slave_start", "skip_replica_start"}}
)

// assignRoles decides which servers are sources and which are replicas.
// A role given by the caller (--role) wins. Otherwise, from the files
// alone (never from the sidecar's settings, which say nothing about which
// file is which): a replica has semi-sync replica on, read_only or
// super_read_only on, skip_slave_start, or (with several files) its
// report_host listed in the inventory. A source: semi-sync source on, or a
// live server (the sidecar reads its binlog). Then, for servers that are no
// replica: with an inventory they are its source; without one, if several
// files were given and exactly one is no replica, that one is the source.
func (c *checker) assignRoles() {
	for _, v := range c.views {
		switch v.srv.Role {
		case RoleSource:
			v.source, v.role = true, "source (--role source)"
			continue
		case RoleReplica:
			v.replica = true
			continue
		}
		if on, o, ok := c.flag(v, "V6", semiSourceOn...); ok && on {
			v.source, v.role = true, fmt.Sprintf("semi-sync source (%s=%s at %s)", o.Raw, o.Value, o.Where())
		}
		if v.srv.Live {
			v.source, v.role = true, "source the sidecar reads"
		}
		for _, names := range replicaSignals {
			if on, _, ok := c.flag(v, "V10", names...); ok && on {
				v.replica = true
			}
		}
		// With one file the inventory lists that server's replicas, so a
		// listing of its own address is a V13 mistake, not a role.
		if _, ok := c.listed(v); ok && len(c.in.Servers) > 1 {
			v.replica = true
		}
	}
	servers := map[*Server]bool{} // server → is a replica in some view
	for _, v := range c.views {
		servers[v.srv] = servers[v.srv] || v.replica
	}
	var nonReplicas []*Server
	for _, s := range c.serverList() {
		if !servers[s] && !s.Live && s.Role == RoleAuto {
			nonReplicas = append(nonReplicas, s)
		}
	}
	role := ""
	switch files := len(c.serverList()); {
	case c.in.HasInventory:
		role = "source of the replicas in " + c.in.InventoryFile
	case files > 1 && len(nonReplicas) == 1:
		role = "source (the only server that is no replica)"
	}
	if role == "" {
		return
	}
	for _, v := range c.views {
		if !servers[v.srv] && !v.srv.Live && v.srv.Role == RoleAuto && !v.source && (c.in.HasInventory || len(nonReplicas) == 1) {
			v.source, v.role = true, role
		}
	}
}

// serverList is the distinct servers, in input order.
func (c *checker) serverList() []*Server {
	var out []*Server
	for i := range c.in.Servers {
		out = append(out, &c.in.Servers[i])
	}
	return out
}

// port is the port a server listens on (report_port, else port, else 3306).
func (v *view) port() string {
	if o, ok := v.set.Lookup("report_port"); ok && o.Value != "" && o.Value != "0" {
		return o.Value
	}
	if o, ok := v.set.Lookup("port"); ok && o.Value != "" && o.Value != "0" {
		return o.Value
	}
	return fmt.Sprint(inventory.DefaultPort)
}

// listed finds the server's report_host:port in the inventory.
func (c *checker) listed(v *view) (inventory.Entry, bool) {
	o, ok := v.set.Lookup("report_host")
	if !ok || o.Value == "" {
		return inventory.Entry{}, false
	}
	for _, e := range c.in.Inventory {
		if strings.EqualFold(e.Host, o.Value) && fmt.Sprint(e.Port) == v.port() {
			return e, true
		}
	}
	return inventory.Entry{}, false
}

// binlog says whether a view writes a binlog; known is false when that
// depends on a default the files do not pin down (flavor or version unknown).
func (v *view) binlog() (on, known bool, o mycnf.Option, explicit bool) {
	if o, ok := v.set.Lookup("log_bin"); ok {
		return o.Prefix != "skip" && o.Prefix != "disable", true, o, true
	}
	switch {
	case v.flavor == mysqlserver.FlavorMariaDB:
		return false, true, o, false
	case v.flavor == mysqlserver.FlavorMySQL && v.version != "":
		// On by default since MySQL 8.0 (WL#10470).
		return versionAtLeast(v.version, 8, 0), true, o, false
	}
	return false, false, o, false
}

// V1: server_id set, non-zero, unique across the servers and the sidecar.
func checkServerID(c *checker) {
	type use struct {
		v  *view
		o  mycnf.Option
		id uint64
	}
	var uses []use
	const fix = "set server_id to a number from 1 to 4294967295 that no other server, replica or sidecar of the topology uses"
	for _, v := range c.views {
		o, ok := v.set.Lookup("server_id")
		if !ok {
			c.report(v, "V1", SeverityError, v.at(), fix, "server_id is not set: the server falls back to its default (1 on MySQL 8.0+ and MariaDB, 0 on MySQL 5.7), which every other server left unset shares")
			continue
		}
		id, err := o.Uint()
		switch {
		case err != nil || id > math.MaxUint32:
			c.report(v, "V1", SeverityError, optAt(o), fix, "server_id=%q is not a number from 1 to 4294967295", o.Value)
			continue
		case id == 0:
			c.report(v, "V1", SeverityError, optAt(o), fix, "server_id=0: a source with id 0 refuses every replica, and a replica with id 0 refuses to start replicating")
			continue
		case id >= mysqlserver.DerivedServerIDMin:
			c.report(v, "V1", SeverityWarning, optAt(o), "use an id below 4000000000",
				"server_id=%d is in 4000000000–4294967295, where the sidecar derives its own id from its instance name; the two may collide", id)
		}
		if sc := c.in.Sidecar; sc != nil && uint64(sc.ServerID) == id {
			c.report(v, "V1", SeverityError, optAt(o), "give the sidecar another id with SIDECAR_SERVER_ID, or change this one",
				"server_id=%d is also the sidecar's server_id (%s): the server's replica connection and the sidecar would evict each other (MariaDB error 4052)", id, sc.ServerIDFrom)
		}
		if !v.srv.Live {
			uses = append(uses, use{v, o, id})
		}
	}
	for _, a := range uses {
		for _, b := range uses {
			if a.v.srv != b.v.srv && a.id == b.id {
				c.report(a.v, "V1", SeverityError, optAt(a.o), fix,
					"server_id=%d is also the server_id of %s (%s): two servers with one id evict each other's dump thread on the source, and a replica skips the other's events as its own", a.id, b.v.srv.Name, b.o.Where())
				break
			}
		}
	}
}

// V3: the binlog is on wherever something reads it.
func checkBinlog(c *checker) {
	for _, v := range c.views {
		on, known, o, explicit := v.binlog()
		if lsu, lo, ok := c.flag(v, "V3", logSlaveUpd...); ok && lsu && known && !on {
			c.report(v, "V3", SeverityWarning, optAt(lo), "turn the binlog on (log_bin) or drop "+lo.Raw,
				"%s=ON does nothing without a binlog (MySQL 5.7 refuses to start): this server's replicas would receive nothing it replicates", lo.Raw)
		}
		if known && on {
			continue
		}
		switch {
		case v.source && explicit:
			c.report(v, "V3", SeverityError, optAt(o), "remove "+o.Raw+" and set log_bin=<base name>",
				"the binlog is off (%s) but this server is a %s: its replicas and the sidecar have nothing to read", o.Raw, v.role)
		case v.source && known:
			c.report(v, "V3", SeverityError, v.at(), "add log_bin=<base name>",
				"log_bin is not set, and the binlog is off by default on %s, but this server is a %s", flavorName(v), v.role)
		case v.source:
			c.report(v, "V3", SeverityWarning, v.at(), "set log_bin=<base name> explicitly",
				"log_bin is not set: the binlog is on by default only on MySQL 8.0+, and this server is a %s", v.role)
		case !v.replica && explicit:
			c.report(v, "V3", SeverityWarning, optAt(o), "set log_bin if this server is a source; nothing to do on a replica without replicas of its own",
				"the binlog is off (%s): this server cannot be a source and the sidecar cannot read it", o.Raw)
		case !v.replica && known:
			c.report(v, "V3", SeverityWarning, v.at(), "set log_bin if this server is a source; nothing to do on a replica without replicas of its own",
				"log_bin is not set and the binlog is off by default on %s: this server cannot be a source and the sidecar cannot read it", flavorName(v))
		}
	}
}

func flavorName(v *view) string {
	switch {
	case v.flavor == mysqlserver.FlavorMariaDB:
		return "MariaDB"
	case v.version != "":
		return "MySQL " + v.version
	}
	return "MySQL"
}

// V4: binlog_format=ROW and binlog_row_image=FULL where a binlog is written.
func checkRowFormat(c *checker) {
	for _, v := range c.views {
		if on, known, _, _ := v.binlog(); known && !on && !v.source {
			continue
		}
		switch f, o, ok := v.word("binlog_format"); {
		case ok && f != "ROW":
			c.report(v, "V4", SeverityError, optAt(o), "set binlog_format=ROW",
				"binlog_format=%s: STATEMENT and MIXED binlogs carry SQL text instead of rows, and the sidecar reads rows", o.Value)
		case !ok && v.flavor == mysqlserver.FlavorMariaDB:
			c.report(v, "V4", SeverityError, v.at(), "set binlog_format=ROW",
				"binlog_format is not set and MariaDB defaults to MIXED, which logs SQL text instead of rows")
		case !ok && v.flavor == flavorUnknown:
			c.report(v, "V4", SeverityWarning, v.at(), "set binlog_format=ROW explicitly",
				"binlog_format is not set: MySQL 5.7.7+ defaults to ROW but MariaDB to MIXED")
		}
		if img, o, ok := v.word("binlog_row_image"); ok && img != "FULL" {
			c.report(v, "V4", SeverityError, optAt(o), "set binlog_row_image=FULL",
				"binlog_row_image=%s: update and delete events leave out columns, so row images are incomplete", o.Value)
		}
	}
}

// gtidModes maps gtid_mode spellings to their names.
var gtidModes = map[string]string{"OFF": "OFF", "0": "OFF", "OFF_PERMISSIVE": "OFF_PERMISSIVE", "1": "OFF_PERMISSIVE",
	"ON_PERMISSIVE": "ON_PERMISSIVE", "2": "ON_PERMISSIVE", "ON": "ON", "3": "ON"}

// V5: GTID settings that can work together.
func checkGTID(c *checker) {
	type mode struct {
		v     *view
		on    bool
		where string
	}
	var modes []mode
	for _, v := range c.views {
		gm, gmo, gmSet := v.word("gtid_mode")
		egc, egco, egcSet := v.word("enforce_gtid_consistency") // ON, OFF, WARN, or bare
		if v.flavor == mysqlserver.FlavorMariaDB {
			for _, o := range []struct {
				set bool
				o   mycnf.Option
			}{{gmSet, gmo}, {egcSet, egco}} {
				switch {
				case o.set && o.o.Loose:
					c.report(v, "V5", SeverityWarning, optAt(o.o), "remove it; MariaDB GTIDs are always on (see gtid_strict_mode, gtid_domain_id)",
						"%s is a MySQL variable: MariaDB ignores it", o.o.Raw)
				case o.set:
					c.report(v, "V5", SeverityError, optAt(o.o), "remove it; MariaDB GTIDs are always on (see gtid_strict_mode, gtid_domain_id)",
						"%s is a MySQL variable: MariaDB refuses to start (unknown variable)", o.o.Raw)
				}
			}
			continue
		}
		name := "OFF"
		if gmSet {
			n, ok := gtidModes[gm]
			if !ok {
				c.malformed(v, "V5", gmo, "OFF, OFF_PERMISSIVE, ON_PERMISSIVE or ON")
				continue
			}
			name = n
		}
		egcOn := egcSet && (egc == "ON" || egc == "1" || egc == "TRUE" || !egco.HasValue && egco.Prefix != "skip" && egco.Prefix != "disable")
		if name == "ON" && !egcOn {
			c.report(v, "V5", SeverityError, optAt(gmo), "set enforce_gtid_consistency=ON",
				"gtid_mode=ON needs enforce_gtid_consistency=ON: the server refuses to start (error 1779)")
		}
		if name == "ON" && v.version == "5.7" {
			on, known, _, _ := v.binlog()
			lsu, _, _ := c.flag(v, "V5", logSlaveUpd...)
			if !(on && known) || !lsu {
				c.report(v, "V5", SeverityError, optAt(gmo), "set log_bin and log_slave_updates=ON",
					"gtid_mode=ON on MySQL 5.7 needs log_bin and log_slave_updates: the server refuses to start")
			}
		}
		where := "its default, OFF"
		if gmSet {
			where = fmt.Sprintf("%s at %s", gmo.Value, gmo.Where())
		}
		if !v.srv.Live && (name == "ON" || name == "OFF") {
			modes = append(modes, mode{v, name == "ON", where})
		}
	}
	for _, a := range modes {
		for _, b := range modes {
			if a.v.srv != b.v.srv && !a.on && b.on {
				c.report(a.v, "V5", SeverityError, a.v.at(), "set the same gtid_mode on every server (change it step by step through OFF_PERMISSIVE and ON_PERMISSIVE)",
					"gtid_mode is OFF here (%s) but ON on %s (%s): servers with gtid_mode ON and OFF cannot replicate from each other", a.where, b.v.srv.Name, b.where)
				break
			}
		}
	}
}

// semiTimeout is the semi-sync timeout in effect, in ms (default 10000).
func (c *checker) semiTimeout(v *view) time.Duration {
	if n, _, ok := c.number(v, "V7", semiTimeout...); ok {
		if n >= NeverFallsBackMillis {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(n) * time.Millisecond
	}
	return 10 * time.Second
}

func fmtTimeout(d time.Duration) string {
	if d == time.Duration(math.MaxInt64) {
		return "forever"
	}
	return d.String()
}
