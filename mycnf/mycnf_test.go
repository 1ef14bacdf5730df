package mycnf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/binlog-sidecar/binlog-sidecar/internal/regfile"
)

// mapFS serves absolute paths from an fstest.MapFS (whose names are unrooted).
type mapFS fstest.MapFS

func (m mapFS) ReadFile(name string) ([]byte, error) {
	return fs.ReadFile(fstest.MapFS(m), unroot(name))
}

func (m mapFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return fs.ReadDir(fstest.MapFS(m), unroot(name))
}

func unroot(name string) string {
	if name = strings.TrimPrefix(filepath.Clean(name), "/"); name == "" {
		return "."
	}
	return name
}

// short is the part of an Option a table compares.
type short struct {
	Group, Key, Name, Prefix, Value string
	HasValue, Loose                 bool
	Line                            int
}

func shorten(f *File) []short {
	var out []short
	for _, o := range f.Options {
		out = append(out, short{o.Group, o.Key, o.Name, o.Prefix, o.Value, o.HasValue, o.Loose, o.Line})
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []short
	}{
		{
			name: "groups, dashes and comments",
			give: "# top\n; also a comment\n[mysqld]\nserver-id = 7 # inline\n\n[Client]\nport=3307\n",
			want: []short{
				{Group: "mysqld", Key: "server_id", Name: "server_id", Value: "7", HasValue: true, Line: 4},
				{Group: "client", Key: "port", Name: "port", Value: "3307", HasValue: true, Line: 7},
			},
		},
		{
			name: "bare, loose and prefixed names",
			give: "[mysqld]\nlog-bin\nloose_rpl_semi_sync_master_enabled=ON\nskip-log-bin\nloose-disable-log-slave-updates\nenable-foo\n",
			want: []short{
				{Group: "mysqld", Key: "log_bin", Name: "log_bin", Line: 2},
				{Group: "mysqld", Key: "rpl_semi_sync_master_enabled", Name: "rpl_semi_sync_master_enabled", Value: "ON", HasValue: true, Loose: true, Line: 3},
				{Group: "mysqld", Key: "skip_log_bin", Name: "log_bin", Prefix: "skip", Line: 4},
				{Group: "mysqld", Key: "disable_log_slave_updates", Name: "log_slave_updates", Prefix: "disable", Loose: true, Line: 5},
				{Group: "mysqld", Key: "enable_foo", Name: "foo", Prefix: "enable", Line: 6},
			},
		},
		{
			name: "quotes, escapes and hashes inside quotes",
			give: "[mysqld-8.0]\nreport_host = \"db # 1\" # comment\ninit_connect='SET x=1'\npath=a\\sb\\\\c\\qd\nempty=\n",
			want: []short{
				{Group: "mysqld-8.0", Key: "report_host", Name: "report_host", Value: "db # 1", HasValue: true, Line: 2},
				{Group: "mysqld-8.0", Key: "init_connect", Name: "init_connect", Value: "SET x=1", HasValue: true, Line: 3},
				{Group: "mysqld-8.0", Key: "path", Name: "path", Value: `a b\c\qd`, HasValue: true, Line: 4},
				{Group: "mysqld-8.0", Key: "empty", Name: "empty", HasValue: true, Line: 5},
			},
		},
		{
			name: "CRLF line ends and spaces around the group",
			give: "[ mariadb-10.11 ]\r\nbinlog_format = ROW\r\n",
			want: []short{
				{Group: "mariadb-10.11", Key: "binlog_format", Name: "binlog_format", Value: "ROW", HasValue: true, Line: 2},
			},
		},
		{
			name: "empty file",
			give: "",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("my.cnf", []byte(tt.give), nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := shorten(f)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d options %+v, want %d %+v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("option %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParse_errors(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string // the error starts with file:line and contains this
	}{
		{name: "option before group", give: "\nserver_id=1\n", want: "my.cnf:2: option before any [group]"},
		{name: "open group header", give: "[mysqld\n", want: "my.cnf:1: group header without ']'"},
		{name: "empty group", give: "[]\n", want: "my.cnf:1: empty group name"},
		{name: "no name", give: "[mysqld]\n = 3\n", want: "my.cnf:2: option without a name"},
		{name: "only loose", give: "[mysqld]\nloose-\n", want: "my.cnf:2: option without a name"},
		{name: "unknown directive", give: "[mysqld]\n!inlcude /etc/x.cnf\n", want: "my.cnf:2: unknown directive, not !include or !includedir"},
		{name: "include without path", give: "!includedir   \n", want: "my.cnf:1: !includedir without a path"},
		{name: "include without fs", give: "!include /etc/x.cnf\n", want: "my.cnf:1: !include /etc/x.cnf: includes are not followed here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("my.cnf", []byte(tt.give), nil)
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("got %v, want an *Error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %q, want it to start with %q", err, tt.want)
			}
		})
	}
}

func TestParse_includes(t *testing.T) {
	fsys := mapFS{
		"etc/my.cnf":              {Data: []byte("[mysqld]\nserver_id=1\n!includedir /etc/conf.d\n!include extra.cnf\nbinlog_format=MIXED\n")},
		"etc/conf.d/20-b.cnf":     {Data: []byte("[mysqld]\nserver_id=3\n")},
		"etc/conf.d/10-a.cnf":     {Data: []byte("[mysqld]\nserver_id=2\n")},
		"etc/conf.d/30-c.cnf.bak": {Data: []byte("[mysqld]\nserver_id=99\n")},
		"etc/conf.d/README":       {Data: []byte("not an option file\n")},
		"etc/extra.cnf":           {Data: []byte("[mariadb]\nbinlog_format=ROW\n")},
	}
	f, err := Parse("/etc/my.cnf", fsys["etc/my.cnf"].Data, fsys)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	wantFiles := []string{"/etc/my.cnf", "/etc/conf.d/10-a.cnf", "/etc/conf.d/20-b.cnf", "/etc/extra.cnf"}
	if strings.Join(f.Files, " ") != strings.Join(wantFiles, " ") {
		t.Errorf("files: got %v, want %v", f.Files, wantFiles)
	}
	all := f.Set(func(string) bool { return true })
	id, _ := all.Lookup("server-id")
	if id.Value != "3" || id.File != "/etc/conf.d/20-b.cnf" || id.Line != 2 {
		t.Errorf("server_id: got %s at %s, want 3 at /etc/conf.d/20-b.cnf:2", id.Value, id.Where())
	}
	// The includer's later line wins over the included file, and the
	// included file's own group does not leak back into the includer.
	bf, _ := all.Lookup("binlog_format")
	if bf.Value != "MIXED" || bf.Group != "mysqld" || bf.Line != 5 {
		t.Errorf("binlog_format: got %s [%s] at %s, want MIXED [mysqld] at line 5", bf.Value, bf.Group, bf.Where())
	}
	if got := strings.Join(f.Groups(), ","); got != "mysqld,mariadb" {
		t.Errorf("groups: got %s, want mysqld,mariadb", got)
	}
}

func TestParse_includeErrors(t *testing.T) {
	fsys := mapFS{
		"a.cnf":        {Data: []byte("[mysqld]\n!include /b.cnf\n")},
		"b.cnf":        {Data: []byte("\n\n!include /a.cnf\n")},
		"s/self.cnf":   {Data: []byte("!includedir /s\n")},
		"missing.cnf":  {Data: []byte("[mysqld]\n!include /nope.cnf\n")},
		"nogroup.cnf":  {Data: []byte("[mysqld]\n!include /nogroup2.cnf\n")},
		"nogroup2.cnf": {Data: []byte("server_id=2\n")},
	}
	tests := []struct {
		give string
		want string
	}{
		{give: "/a.cnf", want: "/b.cnf:3: !include /a.cnf: include cycle"},
		{give: "/s/self.cnf", want: "/s/self.cnf:1: !includedir /s/self.cnf: include cycle"},
		{give: "/missing.cnf", want: "/missing.cnf:2: !include /nope.cnf: open nope.cnf: file does not exist"},
		{give: "/nogroup.cnf", want: "/nogroup2.cnf:1: option before any [group]"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			_, err := Parse(tt.give, fsys[tt.give[1:]].Data, fsys)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// TestLoad_noContentInErrors: an include of a file that is not an option
// file names the file and line, never a byte of the content (it printed
// /etc/shadow's lines and, from /proc/self/environ, the MySQL password).
func TestLoad_noContentInErrors(t *testing.T) {
	const secret = "Zq9-s3cr3t-hash"
	tests := []struct {
		name, content, want string
	}{
		{"shadow", "root:$6$" + secret + ":19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n", "secret:1: option before any [group]"},
		{"environ", "PATH=/usr/bin\x00MYSQL_PWD=" + secret + "\x00HOME=/root\x00", "secret:1: option before any [group]"},
		{"group header", "[" + secret + "\n", "secret:1: group header without ']'"},
		{"directive", "!" + secret + "\n", "secret:1: unknown directive"},
		{"no name", "[x]\n=" + secret + "\n", "secret:2: option without a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			secretFile := filepath.Join(dir, "secret")
			if err := os.WriteFile(secretFile, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			top := filepath.Join(dir, "my.cnf")
			if err := os.WriteFile(top, []byte("[mysqld]\nserver_id=1\n!include "+secretFile+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(top)
			if err == nil {
				t.Fatal("Load = nil error, want one")
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "MYSQL_PWD") {
				t.Errorf("error carries the file's content: %q", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestLoad_specialFiles: an include, an !includedir entry or the file
// itself that is a named pipe, a symlink to one, or an endless device fails
// at once with an error naming it (a plain read blocked forever, or grew
// without bound on /dev/zero).
func TestLoad_specialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.cnf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.cnf")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	confd := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(confd, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(confd, "10-ok.cnf"), []byte("[mysqld]\nlog_bin=on\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(confd, "20-pipe.cnf"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		top  string
		want string
	}{
		{"include of a named pipe", write("a.cnf", "[mysqld]\n!include "+fifo+"\n"), fifo + " is a named pipe, not a regular file"},
		{"include of a symlink to a named pipe", write("b.cnf", "[mysqld]\n!include "+link+"\n"), link + " is a named pipe, not a regular file"},
		{"include of /dev/zero", write("c.cnf", "[mysqld]\n!include /dev/zero\n"), "/dev/zero is a character device, not a regular file"},
		{"includedir with a named pipe", write("d.cnf", "[mysqld]\n!includedir "+confd+"\n"), "20-pipe.cnf is a named pipe, not a regular file"},
		{"the file itself", fifo, fifo + " is a named pipe, not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.top)
			if !errors.Is(err, regfile.ErrNotRegular) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParse_depth(t *testing.T) {
	fsys := mapFS{}
	for i := 0; i <= MaxIncludeDepth+1; i++ {
		fsys[filepath.Join("d", string(rune('a'+i))+".cnf")] = &fstest.MapFile{
			Data: []byte("!include /d/" + string(rune('a'+i+1)) + ".cnf\n"),
		}
	}
	fsys["d/"+string(rune('a'+MaxIncludeDepth+2))+".cnf"] = &fstest.MapFile{Data: []byte("[mysqld]\n")}
	_, err := Parse("/d/a.cnf", fsys["d/a.cnf"].Data, fsys)
	if err == nil || !strings.Contains(err.Error(), "nested deeper than 10") {
		t.Errorf("got %v, want a nesting error", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	// Puppet's validate_cmd hands over a temp file whose name does not end
	// in .cnf; only !includedir cares about the extension.
	top := filepath.Join(dir, "my.cnf20261126-1-xyz")
	if err := os.WriteFile(top, []byte("[mysqld]\n!include inc.cnf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "inc.cnf"), []byte("[mysqld]\nserver_id=5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(top)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if o, _ := f.Set(func(string) bool { return true }).Lookup("server_id"); o.Value != "5" {
		t.Errorf("server_id: got %q, want 5", o.Value)
	}
	if _, err := Load(filepath.Join(dir, "absent.cnf")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent file: got %v, want fs.ErrNotExist", err)
	}
}

func TestOption_Bool(t *testing.T) {
	tests := []struct {
		give    string
		want    bool
		wantErr bool
	}{
		{give: "log_bin", want: true},
		{give: "skip-log-bin", want: false},
		{give: "disable_log_bin", want: false},
		{give: "enable-log-bin", want: true},
		{give: "x=ON", want: true},
		{give: "x=off", want: false},
		{give: "x=1", want: true},
		{give: "x=0", want: false},
		{give: "x=TRUE", want: true},
		{give: "x=false", want: false},
		{give: "x=Yes", want: true},
		{give: "x=no", want: false},
		{give: "skip-x=0", want: true},
		{give: "x=2", wantErr: true},
		{give: "x=", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			o, err := option(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			got, err := o.Bool()
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseUint(t *testing.T) {
	tests := []struct {
		give    string
		want    uint64
		wantErr bool
	}{
		{give: "0", want: 0},
		{give: "10000", want: 10000},
		{give: "64K", want: 64 << 10},
		{give: "16m", want: 16 << 20},
		{give: "1G", want: 1 << 30},
		{give: "2T", want: 2 << 40},
		{give: "18446744073709551615", want: 18446744073709551615},
		{give: "16E", wantErr: true},
		{give: "-1", wantErr: true},
		{give: "1.5G", wantErr: true},
		{give: "G", wantErr: true},
		{give: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := ParseUint(tt.give)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSet_Lookup(t *testing.T) {
	f, err := Parse("my.cnf", []byte(`[mysqld]
log_replica_updates=ON
log-slave-updates=OFF
log-bin=mysql-bin
skip_log_bin
skip-name-resolve
[client]
server_id=9
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Set(func(g string) bool { return g == "mysqld" })
	tests := []struct {
		give     []string
		wantLine int // 0: not found (the zero Option)
		wantBool bool
	}{
		{give: []string{"log_slave_updates", "log_replica_updates"}, wantLine: 3, wantBool: false},
		{give: []string{"log_replica_updates"}, wantLine: 2, wantBool: true},
		{give: []string{"log-bin"}, wantLine: 5, wantBool: false},
		{give: []string{"skip_name_resolve"}, wantLine: 6, wantBool: true},
		{give: []string{"server_id"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.give, ","), func(t *testing.T) {
			o, _ := s.Lookup(tt.give...)
			b, _ := o.Bool()
			if o.Line != tt.wantLine || (o.Line != 0 && b != tt.wantBool) {
				t.Errorf("got line %d bool %v, want line %d bool %v", o.Line, b, tt.wantLine, tt.wantBool)
			}
		})
	}
}
