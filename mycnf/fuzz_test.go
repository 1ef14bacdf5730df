package mycnf

import (
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzParse feeds arbitrary bytes to the reader, with a small file system so
// that includes, include cycles and directory includes are exercised too.
// The reader must never panic, and what it accepts must be well formed.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[mysqld]\nserver_id=1\nlog-bin\n"))
	f.Add([]byte("!include /inc/a.cnf\n[mysqld]\nloose-skip-log-bin # c\n"))
	f.Add([]byte("[mariadb-10.11]\nreport_host=\"x # y\"\nv='a\\sb'\n!includedir /inc\n"))
	fsys := mapFS{
		"inc/a.cnf": {Data: []byte("[mysqld]\nserver_id=2\n!include /inc/b.cnf\n")},
		"inc/b.cnf": {Data: []byte("[server]\nbinlog_format=ROW\n")},
		"inc/c.cnf": {Data: []byte("!include /top.cnf\n")},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := mapFS{"top.cnf": &fstest.MapFile{Data: data}}
		for k, v := range fsys {
			fs[k] = v
		}
		file, err := Parse("/top.cnf", data, fs)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, o := range file.Options {
			switch {
			case o.Key == "" || o.Name == "" || o.Group == "":
				t.Fatalf("empty key, name or group: %+v", o)
			case Canonical(o.Key) != o.Key:
				t.Fatalf("key %q is not canonical", o.Key)
			case !strings.HasSuffix(o.Key, o.Name):
				t.Fatalf("name %q is not the end of key %q", o.Name, o.Key)
			case o.File == "/top.cnf" && (o.Line < 1 || o.Line > lines):
				t.Fatalf("line %d outside 1..%d", o.Line, lines)
			case !o.HasValue && o.Value != "":
				t.Fatalf("bare option with a value: %+v", o)
			}
		}
	})
}
