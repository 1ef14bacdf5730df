package binlog

import (
	"fmt"
	"strings"
	"testing"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// typesTable has a column of every type the row walker steps over,
// including the encodings with a twist: CHAR over 255 bytes (length bits in
// the real-type byte), ENUM with 2-byte and SET with 3-byte storage,
// fractional temporals, BIT, DECIMAL of both sizes, GEOMETRY, MariaDB's
// INET6 and UUID.
func typesTable() string {
	e2 := make([]string, 300)
	for i := range e2 {
		e2[i] = fmt.Sprintf("'v%d'", i)
	}
	s2 := make([]string, 20)
	for i := range s2 {
		s2[i] = fmt.Sprintf("'m%d'", i)
	}
	return `CREATE TABLE sbtest.types (
  id INT PRIMARY KEY,
  ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT, bi BIGINT,
  f FLOAT, d DOUBLE, dec1 DECIMAL(10,2), dec2 DECIMAL(65,30),
  dt DATETIME, dt6 DATETIME(6), ts3 TIMESTAMP(3) NULL DEFAULT NULL, tm TIME, tm2 TIME(2), dte DATE, yr YEAR,
  b1 BIT(1), b13 BIT(13),
  e ENUM('a','b','c'), e2 ENUM(` + strings.Join(e2, ",") + `),
  s SET('x','y','z'), s2 SET(` + strings.Join(s2, ",") + `),
  ch CHAR(10), chl CHAR(255) CHARACTER SET utf8mb4, vc VARCHAR(20), vcl VARCHAR(400) CHARACTER SET utf8mb4,
  vb VARBINARY(300), bn BINARY(4),
  tb TINYBLOB, bl BLOB, mt MEDIUMTEXT, lb LONGBLOB,
  j JSON, g GEOMETRY, pt POINT,
  ip INET6, u UUID
)`
}

func typesRow(i int) string {
	return fmt.Sprintf(`%d, %d, %d, %d, %d, %d.5, %d.25, %d.99, -%d.123456789,
  '2026-11-%02d 12:34:56', '2026-11-26 12:34:56.%06d', '2026-11-26 12:34:56.%03d', '-%d:02:03', '12:00:00.%02d', '2026-01-%02d', %d,
  b'%d', b'%013b',
  '%c', 'v%d', '%s', '%s',
  '%s', '%s', '%s', '%s',
  UNHEX('%s'), 'abcd',
  '%s', REPEAT('b', %d), REPEAT('m', %d), REPEAT('L', %d),
  '{"k": %d, "a": [1, 2, "%s"]}', ST_GeomFromText('LINESTRING(0 0, %d %d)'), POINT(%d, 1),
  '2001:db8::%x', 'e9f1c6a0-4b1e-11ef-9c4e-%012x'`,
		i, i%127, i*7, i*1000, int64(i)*1e12, i, i, i, i,
		i%28+1, i*13%1000000, i%1000, i%800, i%100, i%28+1, 1901+i%200,
		i%2, i*37%8192,
		'a'+byte(i%3), i*7%300, []string{"", "x", "x,y", "x,y,z"}[i%4], fmt.Sprintf("m%d,m%d", i%20, (i+5)%20),
		strings.Repeat("c", i%11), strings.Repeat("é", i*13%120), strings.Repeat("v", i%21), strings.Repeat("ü", i*7%200),
		strings.Repeat("ab", i*5%300), strings.Repeat("t", i*3%256), i*101%3000, i*997%70000, i*4099%300000,
		i, strings.Repeat("j", i%40), i, i+1, i,
		i, i)
}

// workload writes a known mix of statements on srv: DDL, single- and
// multi-row writes, a 5000-row transaction, a multi-statement transaction,
// MINIMAL-image updates and deletes, and (when rotate) FLUSH BINARY LOGS
// halfway. It returns the rows it changed.
func workload(t *testing.T, srv *testdb.Server, rotate bool) stream.Rows {
	t.Helper()
	var rows stream.Rows
	srv.Exec(t, "CREATE TABLE sbtest.kv (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL, KEY (k))")
	srv.Exec(t, typesTable())

	srv.Exec(t, "INSERT INTO sbtest.kv VALUES (1, 1, 'one', 'p')")
	rows.Insert++
	srv.Exec(t, "INSERT INTO sbtest.kv VALUES (2, 2, 'two', 'p'), (3, 3, 'three', 'p'), (4, 4, 'four', 'p')")
	rows.Insert += 3
	srv.Exec(t, "UPDATE sbtest.kv SET k = k + 1 WHERE id <= 2")
	rows.Update += 2
	srv.Exec(t, "DELETE FROM sbtest.kv WHERE id = 3")
	rows.Delete++

	srv.Exec(t, "INSERT INTO sbtest.types (id) VALUES (1)") // all NULL but the key
	rows.Insert++
	srv.Exec(t, "INSERT INTO sbtest.types VALUES "+insertValues(2, 51, typesRow))
	rows.Insert += 51

	if rotate {
		srv.Exec(t, "FLUSH BINARY LOGS")
	}

	// One transaction of 5000 rows, split by the server into many events.
	srv.Exec(t, "BEGIN")
	srv.Exec(t, "INSERT INTO sbtest.kv SELECT seq + 100, seq, REPEAT('c', 120), REPEAT('p', 60) FROM seq_1_to_5000")
	srv.Exec(t, "COMMIT")
	rows.Insert += 5000

	// A multi-statement transaction.
	srv.Exec(t, "BEGIN")
	srv.Exec(t, "INSERT INTO sbtest.kv VALUES (10, 10, 'ten', 'p')")
	srv.Exec(t, "UPDATE sbtest.kv SET c = 'x' WHERE id BETWEEN 101 AND 110")
	srv.Exec(t, "DELETE FROM sbtest.kv WHERE id BETWEEN 111 AND 115")
	srv.Exec(t, "COMMIT")
	rows.Insert++
	rows.Update += 10
	rows.Delete += 5

	// A rolled-back transaction writes nothing.
	srv.Exec(t, "BEGIN")
	srv.Exec(t, "INSERT INTO sbtest.kv VALUES (11, 11, 'eleven', 'p')")
	srv.Exec(t, "ROLLBACK")

	srv.Exec(t, "UPDATE sbtest.types SET vcl = REPEAT('é', 150), j = '{\"a\": [1, 2, 3]}', chl = NULL WHERE id % 2 = 0")
	rows.Update += 26 // even ids 2..52

	// Partial row images: the walker must follow the column bitmaps.
	srv.Exec(t, "SET SESSION binlog_row_image = MINIMAL")
	srv.Exec(t, "UPDATE sbtest.types SET ti = ti + 1, vc = 'minimal' WHERE id <= 10")
	rows.Update += 10
	srv.Exec(t, "DELETE FROM sbtest.types WHERE id > 45")
	rows.Delete += 7
	srv.Exec(t, "SET SESSION binlog_row_image = NOBLOB")
	srv.Exec(t, "UPDATE sbtest.types SET si = si + 1 WHERE id BETWEEN 11 AND 15")
	rows.Update += 5
	srv.Exec(t, "SET SESSION binlog_row_image = FULL")

	srv.Exec(t, "ALTER TABLE sbtest.kv ADD COLUMN extra INT NULL")
	srv.Exec(t, "UPDATE sbtest.kv SET extra = 1 WHERE id <= 4") // ids 1, 2, 4: the table map changed
	rows.Update += 3
	return rows
}
