package validate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/binlog-sidecar/binlog-sidecar/mycnf"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
)

// flavorUnknown is a Server's flavor when the files did not say (the
// others are mysqlserver.FlavorMySQL and FlavorMariaDB): checks whose
// answer depends on it either cover both or ask for an explicit setting.
const flavorUnknown = ""

// Server is one server of the topology: an option file, or the values a live
// server reported.
type Server struct {
	Name    string      // the file as given, or "live <addr>"
	File    *mycnf.File // its options (synthetic for a live server)
	Flavor  string      // mysqlserver.FlavorMySQL or FlavorMariaDB; "": inferred from the file
	Version string      // known version ("10.11.19-MariaDB"); "": from version groups
	Live    bool        // values read from a running server
	Addr    string      // host:port the server is reached at, when known
	// Role is what the server is, when the caller knows (sidecar validate
	// --role); RoleAuto infers it from the file itself.
	Role Role
}

// Role is a server's part in replication.
type Role string

// Roles; the zero value is RoleAuto.
const (
	RoleAuto    Role = ""
	RoleSource  Role = "source"
	RoleReplica Role = "replica"
)

// ParseRole reads a --role value: source, replica or auto.
func ParseRole(s string) (Role, error) {
	switch s {
	case "auto":
		return RoleAuto, nil
	case string(RoleSource), string(RoleReplica):
		return Role(s), nil
	}
	return RoleAuto, fmt.Errorf("role %q: want source, replica or auto", s)
}

// LiveServer turns a running server's global variables (lower-case names,
// as SHOW GLOBAL VARIABLES prints them) into a Server, so the file checks
// run unchanged on observed values.
func LiveServer(name, addr string, vars map[string]string) Server {
	f := &mycnf.File{Path: name, Files: []string{name}}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		key := mycnf.Canonical(k)
		o := mycnf.Option{Group: "mysqld", Key: key, Name: key, Raw: k, Value: vars[k], HasValue: true, File: name}
		// In an option file any log_bin value is a base name and turns the
		// binlog on; a running server reports ON or OFF instead.
		if key == "log_bin" && strings.EqualFold(vars[k], "OFF") {
			o.Key, o.Prefix, o.HasValue, o.Value = "skip_log_bin", "skip", false, ""
		}
		f.Options = append(f.Options, o)
	}
	version := vars["version"]
	flavor := mysqlserver.Flavor(version, vars["version_comment"])
	return Server{Name: name, File: f, Flavor: flavor, Version: version, Live: true, Addr: addr}
}

// serverGroup reports whether a server reads group, and for a version group
// ("mysqld-8.0", "mariadb-10.11") that version.
func serverGroup(g string) (ok bool, version string) {
	switch g {
	case "mysqld", "server", "mariadb", "mariadbd", "client-server":
		return true, ""
	}
	for _, p := range []string{"mysqld-", "mariadb-", "mariadbd-"} {
		if v, ok := strings.CutPrefix(g, p); ok && majorMinor(v) != "" {
			return true, v
		}
	}
	return false, ""
}

// majorMinor returns "8.0" for "8.0", "8.0.36-log", "10.11.19-MariaDB"; ""
// when s does not start with two numbers.
func majorMinor(s string) string {
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 {
		return ""
	}
	minor := parts[1]
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	if _, err := strconv.Atoi(parts[0]); err != nil || minor == "" {
		return ""
	}
	return parts[0] + "." + minor
}

// versionAtLeast compares a "major.minor" version with want; a string
// that is no version is never at least anything.
func versionAtLeast(v string, major, minor int) bool {
	return majorMinor(v) != "" && mysqlserver.VersionAtLeast(v, mysqlserver.Version{major, minor, 0})
}

// view is a server as a server of one version reads it: the base groups
// plus that version's groups. A file without version groups has one view; a
// file with [mysqld-5.7] and [mysqld-8.0] has two, each checked on its own,
// so that version-specific names do not look like a conflict.
type view struct {
	srv     *Server
	set     mycnf.Set
	flavor  string
	version string // major.minor, "" when unknown
	group   string // the version group, "" when none

	source, replica bool
	role            string // why it is a source: "semi-sync source (…)"
	note            string // appended to messages when a file has several views
}

func viewsOf(s *Server) []*view {
	known := majorMinor(s.Version)
	var versions []string
	seen := map[string]bool{}
	for _, g := range s.File.Groups() {
		if ok, v := serverGroup(g); ok && v != "" && !seen[majorMinor(v)] && (known == "" || majorMinor(v) == known) {
			seen[majorMinor(v)] = true
			versions = append(versions, majorMinor(v))
		}
	}
	if len(versions) == 0 {
		versions = []string{""}
	}
	var out []*view
	for _, ver := range versions {
		v := &view{srv: s, version: known}
		if ver != "" {
			v.version = ver
		}
		var vgroups []string
		v.set = s.File.Set(func(g string) bool {
			ok, gv := serverGroup(g)
			if ok && gv != "" && majorMinor(gv) == ver {
				vgroups = append(vgroups, g)
			}
			return ok && (gv == "" || majorMinor(gv) == ver)
		})
		if len(vgroups) > 0 {
			v.group = vgroups[0]
		}
		v.flavor = inferFlavor(s, v)
		out = append(out, v)
	}
	return out
}

// Options that exist on one flavor only, so their presence tells which
// server a file is for.
var (
	mariadbOnly = []string{"gtid_domain_id", "gtid_strict_mode", "gtid_ignore_duplicates", "gtid_pos_auto_engines",
		"binlog_annotate_row_events", "slave_connections_needed_for_purge", "rpl_semi_sync_slave_delay_master",
		"rpl_semi_sync_slave_kill_conn_timeout", "log_basename", "aria_log_dir_path", "wsrep_on"}
	mysqlOnly = []string{"gtid_mode", "enforce_gtid_consistency", "log_replica_updates", "replica_net_timeout",
		"rpl_semi_sync_source_enabled", "rpl_semi_sync_replica_enabled", "binlog_transaction_dependency_tracking",
		"mysqlx", "mysqlx_port", "default_authentication_plugin", "authentication_policy", "binlog_expire_logs_seconds"}
)

func inferFlavor(s *Server, v *view) string {
	if s.Flavor != flavorUnknown {
		return s.Flavor
	}
	if v.version != "" {
		if versionAtLeast(v.version, 10, 0) {
			return mysqlserver.FlavorMariaDB
		}
		return mysqlserver.FlavorMySQL
	}
	for _, o := range v.set {
		if strings.HasPrefix(o.Group, "mariadb") || o.Group == "client-server" {
			return mysqlserver.FlavorMariaDB
		}
	}
	has := func(names []string) bool {
		for _, n := range names {
			if o, ok := v.set.Lookup(n); ok && !o.Loose {
				return true
			}
		}
		return false
	}
	switch my, maria := has(mysqlOnly), has(mariadbOnly); {
	case my && !maria:
		return mysqlserver.FlavorMySQL
	case maria && !my:
		return mysqlserver.FlavorMariaDB
	}
	return flavorUnknown
}
