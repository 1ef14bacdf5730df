package health

import (
	"slices"
	"strconv"
	"strings"
)

// Flavors of Server.Flavor.
const (
	FlavorMySQL   = "mysql"
	FlavorMariaDB = "mariadb"
)

// ParseVersion reads the leading major.minor.patch of a server version
// such as "10.11.19-MariaDB-0+deb12u1" or "8.0.36"; missing parts are 0.
// The "5.5.5-" prefix old MariaDB handshakes carry is skipped.
func ParseVersion(v string) [3]int {
	v = strings.TrimPrefix(v, "5.5.5-")
	var out [3]int
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

// VersionAtLeast reports whether version v is at least want.
func VersionAtLeast(v string, want [3]int) bool {
	got := ParseVersion(v)
	return slices.Compare(got[:], want[:]) >= 0
}

// words are the statement names remediation text uses, by flavor and
// version: MySQL 8.0.22+ renamed SLAVE to REPLICA and MASTER to SOURCE.
type words struct {
	showStatus, start, stop, change, host, port, channelFmt string
}

func wordsFor(s Server) words {
	if s.Flavor == FlavorMySQL && VersionAtLeast(s.Version, [3]int{8, 0, 22}) {
		return words{"SHOW REPLICA STATUS", "START REPLICA", "STOP REPLICA", "CHANGE REPLICATION SOURCE TO",
			"SOURCE_HOST", "SOURCE_PORT", " FOR CHANNEL '%s'"}
	}
	if s.Flavor == FlavorMySQL {
		return words{"SHOW SLAVE STATUS", "START SLAVE", "STOP SLAVE", "CHANGE MASTER TO",
			"MASTER_HOST", "MASTER_PORT", " FOR CHANNEL '%s'"}
	}
	return words{"SHOW ALL SLAVES STATUS", "START SLAVE", "STOP SLAVE", "CHANGE MASTER TO",
		"MASTER_HOST", "MASTER_PORT", ""}
}
