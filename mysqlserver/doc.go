// Package mysqlserver holds what the sidecar knows about the server it talks
// to, independent of any connection: the flavor (MySQL or MariaDB), the
// version (parsed and compared), the statement table (which SQL, which
// columns, which privilege, per flavor and version range) and the meaning
// of the server's error codes. It imports the standard library only, so the
// pure packages (health, validate) can use it; connections are opened, and
// their results copied, by mysqlserver/client.
package mysqlserver
