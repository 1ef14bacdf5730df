package mysqlserver

// Server error codes the sidecar acts on (MySQL's and MariaDB's agree on
// these numbers).
const (
	ErrDBAccessDenied       = 1044 // ER_DBACCESS_DENIED_ERROR
	ErrAccessDenied         = 1045 // ER_ACCESS_DENIED_ERROR
	ErrKillDenied           = 1095 // ER_KILL_DENIED_ERROR: KILL of another account's thread
	ErrTableAccessDenied    = 1142 // ER_TABLEACCESS_DENIED_ERROR
	ErrColumnAccessDenied   = 1143 // ER_COLUMNACCESS_DENIED_ERROR
	ErrSpecificAccessDenied = 1227 // ER_SPECIFIC_ACCESS_DENIED_ERROR: e.g. SHOW SLAVE HOSTS without REPLICATION MASTER ADMIN
	ErrOptionPrevents       = 1290 // ER_OPTION_PREVENTS_STATEMENT: e.g. --read-only
	ErrReadOnlyMode         = 1836 // ER_READ_ONLY_MODE
	// ErrFatalReadingBinlog (ER_MASTER_FATAL_ERROR_READING_BINLOG) ends a
	// dump: a purged or unknown position, or another replica with the same
	// server_id or UUID (the message tells which).
	ErrFatalReadingBinlog = 1236
	ErrMariaDBSameID      = 4052 // ER_SLAVE_SAME_ID (MariaDB): a replica with the same server_id is connected
)

// IsPrivilegeError reports whether a server error code means the account
// lacks a grant.
func IsPrivilegeError(code uint16) bool {
	switch code {
	case ErrDBAccessDenied, ErrAccessDenied, ErrKillDenied, ErrTableAccessDenied, ErrColumnAccessDenied, ErrSpecificAccessDenied:
		return true
	}
	return false
}

// IsReadOnlyError reports whether a server error code means the server
// refuses writes because it is read-only.
func IsReadOnlyError(code uint16) bool { return code == ErrOptionPrevents || code == ErrReadOnlyMode }
