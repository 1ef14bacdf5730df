package validate

import (
	"net"
	"strings"

	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
)

// MaxNetTimeoutSeconds is the largest slave_net_timeout accepted without a
// warning; the default is 60.
const MaxNetTimeoutSeconds = 300

// V10: every replica reports a host, so the source's replica list can be
// matched with the inventory.
func checkReportHost(c *checker) {
	for _, v := range c.views {
		if !v.replica || v.srv.Live {
			continue
		}
		if o, ok := v.set.Lookup("report_host"); !ok || o.Value == "" {
			c.report(v, "V10", SeverityWarning, v.at(), "set report_host (and report_port) to the name the inventory uses",
				"this replica sets no report_host: the source's SHOW REPLICAS / SHOW SLAVE HOSTS row shows only its connecting address, which may not match the inventory")
		}
	}
}

// V11: the replica's network timeout, whose half is the default heartbeat
// period. The heartbeat itself is set by CHANGE MASTER / CHANGE REPLICATION
// SOURCE, which option files cannot express.
func checkNetTimeout(c *checker) {
	for _, v := range c.views {
		n, o, ok := c.number(v, "V11", netTimeout...)
		if !ok || n <= MaxNetTimeoutSeconds {
			continue
		}
		c.report(v, "V11", SeverityWarning, optAt(o), "keep it at most 300 s (default 60), or set the heartbeat period explicitly",
			"%s=%d s: a replica notices a dead source only after %d s, and the heartbeat it asks for defaults to half of that (%d s), so its source notices a dead replica's idle dump thread just as late", o.Raw, n, n, n/2)
	}
}

// selfAddrs are the addresses a server is known by: report_host,
// bind_address (unless a wildcard), or the address a live server was
// reached at.
func (v *view) selfAddrs() []string {
	var out []string
	if v.srv.Addr != "" {
		out = append(out, v.srv.Addr)
	}
	for _, name := range []string{"report_host", "bind_address"} {
		if o, ok := v.set.Lookup(name); ok && o.Value != "" && !strings.ContainsAny(o.Value, ", *") && o.Value != "0.0.0.0" && o.Value != "::" {
			out = append(out, net.JoinHostPort(o.Value, v.port()))
		}
	}
	return out
}

// V13: no expected replica is the source itself.
func checkSelfReplica(c *checker) {
	if !c.in.HasInventory {
		return
	}
	for _, v := range c.views {
		if !v.source {
			continue
		}
		for _, addr := range v.selfAddrs() {
			for _, e := range c.in.Inventory {
				if strings.EqualFold(e.Addr(), addr) {
					c.report(v, "V13", SeverityError, at{c.in.InventoryFile, e.Line}, "remove it from the inventory, or list the replica's own report_host",
						"%s is the address of the source %s: a server cannot replicate from itself (replica error 1593), so this expected replica would be missing forever", e.Addr(), v.srv.Name)
				}
			}
		}
	}
}

// V14: replication chains and rings.
func checkChains(c *checker) {
	for _, v := range c.views {
		lsu, lo, lset := c.flag(v, "V14", logSlaveUpd...)
		// log_replica_updates is ON by default since MySQL 8.0; OFF on MariaDB and 5.7.
		lsuOn, lsuKnown := lsu, lset
		if !lset {
			switch {
			case v.flavor == mysqlserver.FlavorMySQL:
				lsuOn, lsuKnown = v.version == "" || versionAtLeast(v.version, 8, 0), v.version != ""
			case v.flavor == mysqlserver.FlavorMariaDB:
				lsuOn, lsuKnown = false, true
			}
		}
		if rs, ro, ok := c.flag(v, "V14", "replicate_same_server_id"); ok && rs {
			switch {
			case lset && lsu:
				c.report(v, "V14", SeverityError, optAt(ro), "turn off one of the two",
					"replicate_same_server_id=ON together with %s=ON (%s): MariaDB refuses to start, and in a ring every event would loop forever", lo.Raw, lo.Where())
			case lsuOn:
				c.report(v, "V14", SeverityWarning, optAt(ro), "set log_replica_updates=OFF or drop replicate_same_server_id",
					"replicate_same_server_id=ON while log_replica_updates is ON by default on MySQL 8.0+: in a ring every event would loop forever")
			}
		}
		if v.source && v.replica && lsuKnown && !lsuOn {
			where := v.at()
			if lset {
				where = optAt(lo)
			}
			c.report(v, "V14", SeverityWarning, where, "set log_slave_updates=ON (log_replica_updates on MySQL 8.0.26+)",
				"this replica is also a %s, but it does not log what it replicates (log_slave_updates off): its own replicas and the sidecar never see those changes", v.role)
		}
	}
}

// defaultRetry is the replica's reconnect attempt limit when
// master_retry_count is not set.
func defaultRetry(v *view) string {
	switch {
	case v.flavor == mysqlserver.FlavorMariaDB && v.version != "" && versionAtLeast(v.version, 10, 6):
		return "100000 attempts (MariaDB 10.6+)"
	case v.flavor == mysqlserver.FlavorMariaDB && v.version != "":
		return "86400 attempts (MariaDB up to 10.5)"
	case v.flavor == mysqlserver.FlavorMariaDB:
		return "86400 (MariaDB up to 10.5) or 100000 (10.6+) attempts"
	case v.flavor == mysqlserver.FlavorMySQL && v.version != "" && versionAtLeast(v.version, 8, 4):
		return "10 attempts (SOURCE_RETRY_COUNT default since MySQL 8.4)"
	case v.flavor == mysqlserver.FlavorMySQL && v.version != "" && !versionAtLeast(v.version, 8, 1):
		return "86400 attempts (60 days at the default 60 s interval)"
	case v.flavor == mysqlserver.FlavorMySQL:
		return "86400 (MySQL up to 8.0) or 10 (8.4+) attempts"
	}
	return "86400 (MySQL up to 8.0, MariaDB up to 10.5), 10 (MySQL 8.4+) or 100000 (MariaDB 10.6+) attempts"
}

// V17: how long a replica keeps reconnecting, which differs by version.
func checkRetryCount(c *checker) {
	for _, v := range c.views {
		if !v.replica {
			continue
		}
		if n, o, ok := c.number(v, "V17", "master_retry_count"); ok {
			c.report(v, "V17", SeverityInfo, optAt(o), "",
				"master_retry_count=%d: the replica stops reconnecting after %d failed attempts (one every MASTER_CONNECT_RETRY, 60 s by default); the default here is %s", n, n, defaultRetry(v))
			continue
		}
		c.report(v, "V17", SeverityInfo, v.at(), "set master_retry_count (or SOURCE_RETRY_COUNT) if the default does not match your failover runbook",
			"master_retry_count is not set: the replica stops reconnecting after %s", defaultRetry(v))
	}
}

// replicaCount is how many replicas a source can expect to be connected:
// the inventory's entries, else the other given files that are replicas.
func (c *checker) replicaCount(v *view) (n uint64, from string, known bool) {
	if c.in.HasInventory {
		return uint64(len(c.in.Inventory)), c.in.InventoryFile, true
	}
	counted := map[*Server]bool{}
	files := map[*Server]bool{}
	for _, w := range c.views {
		if !w.srv.Live {
			files[w.srv] = true
		}
		if w.replica && w.srv != v.srv && !counted[w.srv] {
			counted[w.srv] = true
			n++
		}
	}
	return n, "the files given", len(files) > 1
}

// V18: MariaDB 11.4+ keeps binlogs until enough replicas are connected.
func checkPurgeConnections(c *checker) {
	for _, v := range c.views {
		n, o, set := c.number(v, "V18", "slave_connections_needed_for_purge")
		supported := v.flavor == mysqlserver.FlavorMariaDB && versionAtLeast(v.version, 11, 4)
		known := v.flavor == mysqlserver.FlavorMySQL || v.flavor == mysqlserver.FlavorMariaDB && v.version != ""
		where := optAt(o)
		switch {
		case set && known && !supported && o.Loose:
			c.report(v, "V18", SeverityInfo, where, "remove it", "%s exists only on MariaDB 11.4+: this server ignores it", o.Raw)
			continue
		case set && known && !supported:
			c.report(v, "V18", SeverityError, where, "remove it", "%s exists only on MariaDB 11.4+: this server refuses to start (unknown variable)", o.Raw)
			continue
		case !set && !supported:
			continue
		case !set:
			n, where = 1, v.at() // the 11.4 default
		}
		have, from, ok := c.replicaCount(v)
		if !v.source || !ok || n <= have {
			continue
		}
		c.report(v, "V18", SeverityWarning, where, "set slave_connections_needed_for_purge to at most the number of replicas (0 turns the guard off)",
			"binlog purge waits until %d replica(s) are connected (slave_connections_needed_for_purge) but %s expects %d: binlogs are never purged and fill the disk (whether the sidecar's own connection counts is unconfirmed)", n, from, have)
	}
}

// V19: the sidecar's own configuration.
func checkSidecar(c *checker) {
	sc := c.in.Sidecar
	if sc == nil {
		return
	}
	for _, p := range sc.Problems {
		key, msg, ok := strings.Cut(p, ": ")
		if !ok {
			key, msg = "", p
		}
		c.report(nil, "V19", SeverityError, at{key, 0}, "correct the variable; deploy/env.example lists every one with its default", "%s", msg)
	}
	if sc.Flavor != mysqlserver.FlavorMySQL && sc.Flavor != mysqlserver.FlavorMariaDB {
		return
	}
	for _, v := range c.views {
		if v.source && v.flavor != flavorUnknown && v.flavor != sc.Flavor {
			c.report(v, "V19", SeverityError, v.at(), "set SIDECAR_MYSQL_FLAVOR=auto or "+string(v.flavor),
				"SIDECAR_MYSQL_FLAVOR=%s but %s is a %s server: the sidecar would misread its GTID events", sc.Flavor, v.srv.Name, flavorName(v))
		}
	}
}
