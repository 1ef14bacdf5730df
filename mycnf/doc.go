// Package mycnf reads MySQL and MariaDB option files (my.cnf) the way the
// server does, so the validator judges the values the server will actually
// use, not the ones a reader expects.
//
// What it follows: [group] headers (kept on every option, so callers decide
// which groups a server reads, including version groups such as
// [mysqld-8.0] or [mariadb-10.11]), !include FILE, !includedir DIR (only
// *.cnf files, sorted by name), the loose- prefix (remembered, because a
// loose option the server does not know is silently ignored), skip-,
// disable- and enable- prefixes, dashes and underscores as equals, quoted
// values with the server's backslash escapes, # comments anywhere outside
// quotes, and "last value wins". Every option carries its file and line.
//
// The package does no I/O of its own beyond the FS it is given, and it never
// interprets what an option means: that is the validator's job.
package mycnf
