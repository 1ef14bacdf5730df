package mysqlserver

import (
	"slices"
	"strconv"
	"strings"
)

// Flavors, as health.Server.Flavor, /status and the events spell them.
// FlavorAuto (SIDECAR_MYSQL_FLAVOR=auto) asks for detection.
const (
	FlavorMySQL   = "mysql"
	FlavorMariaDB = "mariadb"
	FlavorAuto    = "auto"
)

// Flavor tells the flavor from the server's version and version_comment
// variables (or VERSION() alone): MariaDB says so in either, anything else
// is MySQL.
func Flavor(version, comment string) string {
	if strings.Contains(strings.ToLower(version+" "+comment), "mariadb") {
		return FlavorMariaDB
	}
	return FlavorMySQL
}

// ResolveFlavor is the flavor a setting names (FlavorMySQL or
// FlavorMariaDB), or else, for FlavorAuto, "" or anything unknown, the one
// the server's version and version_comment tell (Flavor).
func ResolveFlavor(setting, version, comment string) string {
	if setting == FlavorMySQL || setting == FlavorMariaDB {
		return setting
	}
	return Flavor(version, comment)
}

// Version is major, minor, patch.
type Version [3]int

// ParseVersion reads the leading major.minor.patch of a server version
// such as "10.11.19-MariaDB-0+deb12u1" or "8.0.36"; missing parts are 0.
// The "5.5.5-" prefix old MariaDB handshakes carry is skipped.
func ParseVersion(v string) Version {
	v = strings.TrimPrefix(v, "5.5.5-")
	var out Version
	for i, part := range strings.SplitN(v, ".", 3) {
		end := 0
		for end < len(part) && part[end] >= '0' && part[end] <= '9' {
			end++
		}
		out[i], _ = strconv.Atoi(part[:end])
		if end < len(part) {
			break
		}
	}
	return out
}

// Compare is -1, 0 or +1 as v is before, equal to or after w.
func (v Version) Compare(w Version) int { return slices.Compare(v[:], w[:]) }

// AtLeast reports whether v is w or later.
func (v Version) AtLeast(w Version) bool { return v.Compare(w) >= 0 }

// IsZero reports whether no version is known.
func (v Version) IsZero() bool { return v == Version{} }

// VersionAtLeast reports whether the version string v is at least want.
func VersionAtLeast(v string, want Version) bool { return ParseVersion(v).AtLeast(want) }

// Versions where MySQL's and MariaDB's statements, columns and names change
// (docs/mysql-checked.md, replication-signals.md).
var (
	// MySQL 8.0.22 added SHOW REPLICAS, SHOW REPLICA STATUS and
	// performance_schema.processlist, and renamed SLAVE/MASTER in statements.
	MySQL8022 = Version{8, 0, 22}
	// MySQL 8.0.26 added the rpl_semi_sync_source/replica plugins.
	MySQL8026 = Version{8, 0, 26}
	// MySQL 8.2.0 added SHOW BINARY LOG STATUS.
	MySQL820 = Version{8, 2, 0}
	// MySQL 8.4.0 removed SHOW MASTER STATUS, SHOW SLAVE HOSTS and SHOW
	// SLAVE STATUS.
	MySQL840 = Version{8, 4, 0}
	// MariaDB 10.5.1 renamed the privilege SHOW SLAVE HOSTS needs.
	MariaDB1051 = Version{10, 5, 1}
	// MariaDB 10.5.2 added SHOW BINLOG STATUS and BINLOG MONITOR.
	MariaDB1052 = Version{10, 5, 2}
	// MariaDB 10.5.9 moved SHOW ALL SLAVES STATUS to SLAVE MONITOR.
	MariaDB1059 = Version{10, 5, 9}
)

// QuoteAccount turns CURRENT_USER()'s user@host into 'user'@'host', the
// form a GRANT statement takes; "" when it has no @.
func QuoteAccount(cu string) string {
	i := strings.LastIndexByte(cu, '@')
	if i < 0 {
		return ""
	}
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	return q(cu[:i]) + "@" + q(cu[i+1:])
}
