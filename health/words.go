package health

import "github.com/binlog-sidecar/binlog-sidecar/mysqlserver"

// Flavors of Server.Flavor (mysqlserver owns flavor detection).
const (
	FlavorMySQL   = mysqlserver.FlavorMySQL
	FlavorMariaDB = mysqlserver.FlavorMariaDB
)

// words are the statement names remediation text uses, by flavor and
// version: MySQL 8.0.22+ renamed SLAVE to REPLICA and MASTER to SOURCE.
type words struct {
	showStatus, start, stop, change, host, port, channelFmt string
}

func wordsFor(s Server) words {
	if s.Flavor == FlavorMySQL && mysqlserver.VersionAtLeast(s.Version, mysqlserver.MySQL8022) {
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
