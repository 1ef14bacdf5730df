package validate

import (
	"path/filepath"
	"sort"
	"strings"

	"github.com/binlog-sidecar/binlog-sidecar/mycnf"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
)

func nameSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// The semi-sync variables each implementation defines (replication-signals
// §3.1). Old and new MySQL names are not aliases: only the loaded plugin's
// names exist.
var (
	semiMySQLOld = nameSet("rpl_semi_sync_master", "rpl_semi_sync_master_enabled", "rpl_semi_sync_master_timeout",
		"rpl_semi_sync_master_trace_level", "rpl_semi_sync_master_wait_for_slave_count", "rpl_semi_sync_master_wait_no_slave",
		"rpl_semi_sync_master_wait_point", "rpl_semi_sync_slave", "rpl_semi_sync_slave_enabled", "rpl_semi_sync_slave_trace_level")
	semiMySQLNew = nameSet("rpl_semi_sync_source", "rpl_semi_sync_source_enabled", "rpl_semi_sync_source_timeout",
		"rpl_semi_sync_source_trace_level", "rpl_semi_sync_source_wait_for_replica_count", "rpl_semi_sync_source_wait_no_replica",
		"rpl_semi_sync_source_wait_point", "rpl_semi_sync_replica", "rpl_semi_sync_replica_enabled", "rpl_semi_sync_replica_trace_level")
	semiMariaDB = nameSet("rpl_semi_sync_master_enabled", "rpl_semi_sync_master_timeout", "rpl_semi_sync_master_trace_level",
		"rpl_semi_sync_master_wait_no_slave", "rpl_semi_sync_master_wait_point", "rpl_semi_sync_slave_enabled",
		"rpl_semi_sync_slave_trace_level", "rpl_semi_sync_slave_delay_master", "rpl_semi_sync_slave_kill_conn_timeout")
)

func knownSemi(f string, name string) bool {
	switch f {
	case mysqlserver.FlavorMariaDB:
		return semiMariaDB[name]
	case mysqlserver.FlavorMySQL:
		return semiMySQLOld[name] || semiMySQLNew[name]
	}
	return semiMySQLOld[name] || semiMySQLNew[name] || semiMariaDB[name]
}

// semiFamily tells a semi-sync name's plugin family ("old": master/slave,
// "new": source/replica) and side ("source", "replica").
func semiFamily(name string) (family, side string) {
	rest := strings.TrimPrefix(name, "rpl_semi_sync_")
	word, _, _ := strings.Cut(rest, "_")
	switch word {
	case "master":
		return "old", "source"
	case "slave":
		return "old", "replica"
	case "source":
		return "new", "source"
	case "replica":
		return "new", "replica"
	}
	return "", ""
}

var toNew = strings.NewReplacer("master", "source", "slave", "replica")
var toOld = strings.NewReplacer("source", "master", "replica", "slave")

// counterpart is the same setting under the other family's name.
func counterpart(name string) string {
	if fam, _ := semiFamily(name); fam == "old" {
		return toNew.Replace(name)
	}
	return toOld.Replace(name)
}

// suggest proposes a known name for a wrong one: the name with its words
// made consistent with its own prefix (…source_wait_no_slave →
// …source_wait_no_replica), else its counterpart.
func suggest(f string, name string) string {
	rest := strings.TrimPrefix(name, "rpl_semi_sync_")
	word, tail, _ := strings.Cut(rest, "_")
	fixed := name
	if fam, _ := semiFamily(name); fam == "old" {
		fixed = "rpl_semi_sync_" + word + "_" + toOld.Replace(tail)
	} else if fam == "new" {
		fixed = "rpl_semi_sync_" + word + "_" + toNew.Replace(tail)
	}
	for _, cand := range []string{fixed, counterpart(name), counterpart(fixed)} {
		if knownSemi(f, cand) {
			return cand
		}
	}
	return ""
}

// ignoredOrRefused says what the server does with a name it does not know.
func ignoredOrRefused(o mycnf.Option) string {
	if o.Loose {
		return "the server silently ignores it (loose_)"
	}
	return "the server refuses to start (unknown variable)"
}

// semiPlugins lists the semisync_* libraries plugin_load/plugin_load_add
// name ("name=lib.so;lib2.so"), by library base name.
func (v *view) semiPlugins() map[string]mycnf.Option {
	libs := map[string]mycnf.Option{}
	for _, o := range v.set {
		if o.Name != "plugin_load" && o.Name != "plugin_load_add" {
			continue
		}
		for _, item := range strings.Split(o.Value, ";") {
			if _, lib, ok := strings.Cut(item, "="); ok {
				item = lib
			}
			base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(strings.TrimSpace(item)), ".so"), ".dll")
			if strings.HasPrefix(base, "semisync_") {
				libs[base] = o
			}
		}
	}
	return libs
}

// semiReplicas counts the semi-sync replicas a source can expect: the
// inventory's `semisync` entries, else the other given files with semi-sync
// replica on. known is false with one file and no inventory.
func (c *checker) semiReplicas(v *view) (n uint64, from string, known bool) {
	if c.in.HasInventory {
		for _, e := range c.in.Inventory {
			if e.SemiSync {
				n++
			}
		}
		return n, c.in.InventoryFile, true
	}
	files := 0
	for _, s := range c.serverList() {
		if !s.Live {
			files++
		}
	}
	if files < 2 {
		return 0, "", false
	}
	counted := map[*Server]bool{}
	for _, w := range c.views {
		if on, _, ok := c.flag(w, "V6", semiReplicaOn...); ok && on && w.srv != v.srv && !counted[w.srv] {
			counted[w.srv] = true
			n++
		}
	}
	return n, "the files given", true
}

// V6: the ACKs a semi-sync source waits for can come from the replicas expected.
func checkSemiSyncCount(c *checker) {
	for _, v := range c.views {
		on, o, ok := c.flag(v, "V6", semiSourceOn...)
		if !ok || !on {
			if c.in.HasInventory && v.source {
				for _, e := range c.in.Inventory {
					if e.SemiSync {
						c.report(v, "V6", SeverityInfo, at{c.in.InventoryFile, e.Line}, "enable semi-sync on the source, or drop `semisync` from the entry",
							"%s is expected to acknowledge semi-sync, but semi-sync is not enabled on %s", e.Addr(), v.srv.Name)
						break
					}
				}
			}
			continue
		}
		need, needAt := uint64(1), o
		if v.flavor != mysqlserver.FlavorMariaDB {
			if n, wo, ok := c.number(v, "V6", semiWaitCount...); ok {
				need, needAt = n, wo
			}
		}
		have, from, known := c.semiReplicas(v)
		timeout := fmtTimeout(c.semiTimeout(v))
		switch {
		case !known:
			c.report(v, "V6", SeverityInfo, optAt(o), "pass --inventory FILE with one `host[:port] semisync` line per semi-sync replica",
				"semi-sync is enabled, but without an inventory its semi-sync replicas cannot be counted")
		case have < need:
			c.report(v, "V6", SeverityError, optAt(needAt), "mark the semi-sync replicas `semisync` in the inventory, lower the wait count, or turn semi-sync off on this source",
				"semi-sync waits for %d acknowledgement(s) but %s has %d semi-sync replica(s): commits wait %s for acknowledgements that cannot come", need, from, have, timeout)
		case have == need:
			c.report(v, "V6", SeverityInfo, optAt(needAt), "add a semi-sync replica if losing one must not cost a stall",
				"semi-sync waits for %d acknowledgement(s) and %s has exactly %d semi-sync replica(s): losing any one makes commits wait %s, then semi-sync falls back to async", need, from, have, timeout)
		}
	}
}

// V7: the semi-sync timeout is bounded.
func checkSemiSyncTimeout(c *checker) {
	for _, v := range c.views {
		n, o, ok := c.number(v, "V7", semiTimeout...)
		if !ok {
			continue
		}
		d := fmtTimeout(c.semiTimeout(v))
		switch {
		case n >= NeverFallsBackMillis:
			c.report(v, "V7", SeverityError, optAt(o), "use at most 60000 ms; if never falling back is the policy, alert on binlog_sidecar_semisync_waiting_sessions instead",
				"%s=%s ms: semi-sync never falls back to async, so one missing replica stalls every commit until it returns", o.Raw, o.Value)
		case n > MaxSemiSyncTimeoutMillis:
			c.report(v, "V7", SeverityWarning, optAt(o), "use at most 60000 ms",
				"%s=%s: every commit stalls for %s whenever the semi-sync replicas are gone", o.Raw, o.Value, d)
		}
	}
}

// V8: semi-sync names match the plugin that defines them.
func checkSemiSyncNames(c *checker) {
	for _, v := range c.views {
		libs := v.semiPlugins()
		used := map[string]map[string][]mycnf.Option{"source": {}, "replica": {}}
		for _, o := range v.set {
			if !strings.HasPrefix(o.Name, "rpl_semi_sync_") {
				continue
			}
			if !knownSemi(v.flavor, o.Name) {
				c.unknownSemi(v, o)
				continue
			}
			fam, side := semiFamily(o.Name)
			used[side][fam] = append(used[side][fam], o)
		}
		if v.flavor == mysqlserver.FlavorMariaDB {
			for _, lib := range sortedKeys(libs) {
				c.report(v, "V8", SeverityWarning, optAt(libs[lib]), "drop "+lib+" from "+libs[lib].Raw,
					"%s: semi-sync is built into MariaDB since 10.3.3, there is no plugin to load", lib)
			}
			continue
		}
		for _, side := range []string{"source", "replica"} {
			c.semiFamilies(v, side, libs, used[side])
		}
	}
}

func (c *checker) unknownSemi(v *view, o mycnf.Option) {
	fix := "remove it"
	if s := suggest(v.flavor, o.Name); s != "" {
		fix = "did you mean " + s + "?"
	}
	switch {
	case v.flavor == mysqlserver.FlavorMariaDB && o.Name == "rpl_semi_sync_master_wait_for_slave_count":
		c.report(v, "V8", SeverityError, optAt(o), "remove it; on MariaDB one acknowledgement from any semi-sync replica is enough",
			"%s does not exist on MariaDB: %s", o.Raw, ignoredOrRefused(o))
	case v.flavor == mysqlserver.FlavorMariaDB && (semiMySQLNew[o.Name] || semiMySQLOld[o.Name]):
		c.report(v, "V8", SeverityError, optAt(o), fix,
			"%s is a MySQL plugin variable; MariaDB's built-in semi-sync uses rpl_semi_sync_master_*/slave_*: %s", o.Raw, ignoredOrRefused(o))
	default:
		c.report(v, "V8", SeverityError, optAt(o), fix,
			"%s is not a variable of any semi-sync plugin: %s", o.Raw, ignoredOrRefused(o))
	}
}

// semiFamilies checks one side (source or replica) of a MySQL server: at
// most one of its plugins loaded, and only that plugin's names used.
func (c *checker) semiFamilies(v *view, side string, libs map[string]mycnf.Option, used map[string][]mycnf.Option) {
	lib := map[string]string{"old": "semisync_master", "new": "semisync_source"}
	if side == "replica" {
		lib = map[string]string{"old": "semisync_slave", "new": "semisync_replica"}
	}
	lo, hasOld := libs[lib["old"]]
	ln, hasNew := libs[lib["new"]]
	loaded := ""
	switch {
	case hasOld && hasNew:
		c.report(v, "V8", SeverityError, optAt(ln), "load only "+lib["new"]+" (MySQL 8.0.26+) or only "+lib["old"],
			"%s and %s are both loaded (%s, %s): the two cannot be installed together", lib["old"], lib["new"], lo.Where(), ln.Where())
	case hasOld:
		loaded = "old"
	case hasNew:
		loaded = "new"
	}
	if loaded != "" {
		for _, fam := range []string{"old", "new"} {
			for _, o := range used[fam] {
				if fam != loaded {
					c.report(v, "V8", SeverityError, optAt(o), "use "+counterpart(o.Name),
						"%s belongs to the %s plugin, but %s loads %s: %s", o.Raw, lib[fam], libs[lib[loaded]].Where(), lib[loaded], ignoredOrRefused(o))
				}
			}
		}
	}
	if loaded == "" && len(used["old"]) > 0 && len(used["new"]) > 0 {
		c.mixedSemi(v, used)
	}
	if len(used["old"]) > 0 && v.flavor == mysqlserver.FlavorMySQL && versionAtLeast(v.version, 9, 0) {
		o := used["old"][0]
		c.report(v, "V8", SeverityWarning, optAt(o), "use "+counterpart(o.Name),
			"%s: MySQL 9.x removed the %s plugin, only the rpl_semi_sync_source/replica names exist", o.Raw, lib["old"])
	}
}

// mixedSemi judges a file that sets both families' names for one side with
// no plugin named: fine only when all are loose_ and they agree, because
// only the installed plugin's names take effect (Bug #117291).
func (c *checker) mixedSemi(v *view, used map[string][]mycnf.Option) {
	for _, fam := range []string{"old", "new"} {
		for _, o := range used[fam] {
			if !o.Loose {
				c.report(v, "V8", SeverityError, optAt(o), "write loose_"+o.Key+", or keep only the installed plugin's names",
					"%s is set together with names of the other semi-sync plugin: whichever plugin is installed, one set is unknown, and %s is not loose_, so the server refuses to start", o.Raw, o.Raw)
				return
			}
		}
	}
	last := map[string]mycnf.Option{}
	for _, fam := range []string{"old", "new"} {
		for _, o := range used[fam] {
			last[o.Name] = o
		}
	}
	for _, o := range used["old"] {
		p, ok := last[counterpart(o.Name)]
		if o != last[o.Name] || !ok || strings.EqualFold(o.Value, p.Value) {
			continue
		}
		c.report(v, "V8", SeverityError, optAt(p), "give both names the same value",
			"%s=%s disagrees with %s=%s (%s): only the installed plugin's name takes effect, so the setting depends on which plugin is loaded", p.Raw, p.Value, o.Raw, o.Value, o.Where())
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// V15: relay-log durability on semi-sync replicas.
func checkRelayLog(c *checker) {
	for _, v := range c.views {
		on, o, ok := c.flag(v, "V15", semiReplicaOn...)
		if !ok || !on {
			continue
		}
		switch n, so, set := c.number(v, "V15", "sync_relay_log"); {
		case !set:
			c.report(v, "V15", SeverityWarning, optAt(o), "set sync_relay_log=1 on semi-sync replicas",
				"semi-sync replica with sync_relay_log at its default (10000): a crash can lose relay-log events it already acknowledged")
		case n != 1:
			c.report(v, "V15", SeverityWarning, optAt(so), "set sync_relay_log=1 on semi-sync replicas",
				"sync_relay_log=%d on a semi-sync replica: a crash can lose relay-log events it already acknowledged", n)
		}
		purge, po, pset := c.flag(v, "V15", "relay_log_purge")
		recovery, _, _ := c.flag(v, "V15", "relay_log_recovery")
		if pset && !purge && recovery {
			c.report(v, "V15", SeverityWarning, optAt(po), "keep relay_log_purge=ON with relay_log_recovery=ON",
				"relay_log_purge=OFF together with relay_log_recovery=ON: recovery discards relay logs that were meant to be kept")
		}
	}
}
