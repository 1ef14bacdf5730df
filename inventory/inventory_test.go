package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseList(t *testing.T) {
	tests := []struct {
		give string
		want []Entry
	}{
		{give: "", want: nil},
		{give: "db-2", want: []Entry{{Host: "db-2", Port: 3306, Line: 1}}},
		{give: "db-2:3307 semisync, 10.0.0.5", want: []Entry{
			{Host: "db-2", Port: 3307, SemiSync: true, Line: 1},
			{Host: "10.0.0.5", Port: 3306, Line: 2},
		}},
		{give: "[::1]:3310 SEMISYNC,", want: []Entry{{Host: "::1", Port: 3310, SemiSync: true, Line: 1}}},
		{give: "::1", want: []Entry{{Host: "::1", Port: 3306, Line: 1}}},
		{give: "[fd00::5]", want: []Entry{{Host: "fd00::5", Port: 3306, Line: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := ParseList(tt.give)
			if err != nil {
				t.Fatalf("ParseList(%q): %v", tt.give, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseList(%q) = %+v, want %+v", tt.give, got, tt.want)
			}
		})
	}
}

func TestParseList_Errors(t *testing.T) {
	tests := []struct {
		give    string
		wantMsg string
	}{
		{give: "db-2:port", wantMsg: "entry 1: port is not a number from 1 to 65535"},
		{give: "db-2:0", wantMsg: "port is not a number from 1 to 65535"},
		{give: "db-2:65536", wantMsg: "port is not a number from 1 to 65535"},
		{give: "db-2 async", wantMsg: `unknown flag after the address, only "semisync" is allowed`},
		{give: "db-2 semisync extra", wantMsg: "too many words"},
		{give: "db_2!", wantMsg: "host is not a host name"},
		{give: "a, b:1, a:3306", wantMsg: "entry 3: the same address as entry 1"},
		{give: "x:1:2", wantMsg: "malformed address"},
		{give: "[mariadb]", wantMsg: "brackets are only for IPv6 addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			_, err := ParseList(tt.give)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("ParseList(%q) error = %v, want it to contain %q", tt.give, err, tt.wantMsg)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v does not wrap ErrSyntax", err)
			}
		})
	}
}

// TestValidHost: host names are RFC 1123, strictly, so that text that is
// not an inventory fails to parse instead of becoming a replica's name.
func TestValidHost(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"db-2", true},
		{"db-2.example.com", true},
		{"db-2.example.com.", true},
		{"DB-2.Example.COM", true},
		{"10.0.0.5", true},
		{"::1", true},
		{"fd00::5", true},
		{"3com.net", true},
		{strings.Repeat("a", 63) + ".example", true},
		{"db_2", false}, // no underscore in host names
		{"-db", false},
		{"db-", false},
		{"a..b", false},
		{".", false},
		{"", false},
		{"999.1", false}, // an all-digit last label is no name (RFC 3696)
		{"10.0.0.256", false},
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 127) + "ab", false}, // 255 characters
		{"root:$6$x", false},
		{"Sup3r$ecret!", false},
		{"pass word", false},
		{"caf\u00e9", false},
	}
	for _, tt := range tests {
		if got := validHost(tt.give); got != tt.want {
			t.Errorf("validHost(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

// TestReadFile_noContentInErrors: a file that is not an inventory (shadow,
// a process environment, a password file given by mistake) fails with
// file:line and never a byte of its content; it put /etc/shadow into
// /status and a password into replica.missing summaries.
func TestReadFile_noContentInErrors(t *testing.T) {
	const secret = "Zq9s3cr3tHash"
	tests := []struct {
		name, content string
		wantLines     []int
	}{
		{"shadow", "root:$6$" + secret + ":19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n", []int{1, 2}},
		{"environ", "PATH=/usr/bin\x00MYSQL_PWD=" + secret + "\x00HOME=/root\x00", []int{1}},
		{"password file", "S3cr3t!" + secret + "\n", []int{1}},
		{"password with a colon", "db:" + secret + "\n", []int{1}},
		{"password as two words", secret + " " + secret + "\n", []int{1}},
		{"underscore password", "pass_" + secret + "\n", []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "replicas")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadFile(path)
			if err == nil {
				t.Fatalf("ReadFile = %+v, nil; want an error", got)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "MYSQL_PWD") || strings.Contains(err.Error(), "root") {
				t.Errorf("error carries the file's content: %q", err)
			}
			for _, n := range tt.wantLines {
				if want := fmt.Sprintf("%s:%d: ", path, n); !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not cite %q", err, want)
				}
			}
		})
	}
}

func TestParse_File(t *testing.T) {
	const give = `# managed by Puppet
db-2.example.com:3306 semisync   # the semi-sync replica

db-3.example.com  # async
`
	got, err := Parse(strings.NewReader(give))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Host: "db-2.example.com", Port: 3306, SemiSync: true, Line: 2},
		{Host: "db-3.example.com", Port: 3306, Line: 4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse = %+v, want %+v", got, want)
	}
	if got[0].Addr() != "db-2.example.com:3306" {
		t.Errorf("Addr() = %q", got[0].Addr())
	}
}

func TestParse_FileErrorsNameEveryLine(t *testing.T) {
	_, err := Parse(strings.NewReader("ok-host\nbad host here\n\nother:99999\n"))
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"entry 2: ", "entry 4: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
