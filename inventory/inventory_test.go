package inventory

import (
	"errors"
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
		{give: "db-2:port", wantMsg: `entry 1 "db-2:port": port "port" is not a number`},
		{give: "db-2:0", wantMsg: `port "0" is not a number from 1 to 65535`},
		{give: "db-2 async", wantMsg: `unknown flag "async"`},
		{give: "db-2 semisync extra", wantMsg: "too many words"},
		{give: "db_2!", wantMsg: `host "db_2!" is not a host name`},
		{give: "a, b:1, a:3306", wantMsg: `entry 3 "a:3306": listed twice (first at entry 1)`},
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
	for _, want := range []string{"entry 2 ", "entry 4 "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
