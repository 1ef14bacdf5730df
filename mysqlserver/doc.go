// Package mysqlserver holds what the sidecar knows about the server it talks
// to, independent of any connection: the flavor (MySQL or MariaDB) and the
// version (parsed and compared), so that every statement table decides
// "which SQL on which server" from the same facts. It imports the standard
// library only, so the pure packages (health, validate) can use it;
// connections are opened by internal/mytls.Connect and their results copied
// by mysqlserver/result.
package mysqlserver
