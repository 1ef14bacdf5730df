package stream

import "testing"

func TestPosition_Compare(t *testing.T) {
	tests := []struct {
		name string
		a, b Position
		want int
	}{
		{"equal", Position{File: "b.000001", Pos: 4}, Position{File: "b.000001", Pos: 4}, 0},
		{"same file lower pos", Position{File: "b.000001", Pos: 4}, Position{File: "b.000001", Pos: 400}, -1},
		{"same file higher pos", Position{File: "b.000001", Pos: 500}, Position{File: "b.000001", Pos: 400}, 1},
		{"later file wins over pos", Position{File: "b.000002", Pos: 4}, Position{File: "b.000001", Pos: 9999}, 1},
		{"extension grows a digit", Position{File: "b.1000000", Pos: 4}, Position{File: "b.999999", Pos: 4}, 1},
		{"empty file first", Position{}, Position{File: "b.000001", Pos: 4}, -1},
		{"gtid ignored", Position{File: "b.000001", Pos: 4, GTID: "0-1-5"}, Position{File: "b.000001", Pos: 4}, 0},
		{"different bases compare as strings", Position{File: "a.000009", Pos: 4}, Position{File: "b.000001", Pos: 4}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Compare(tt.b); got != tt.want {
				t.Errorf("Compare(%v, %v) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := tt.b.Compare(tt.a); got != -tt.want {
				t.Errorf("Compare(%v, %v) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestPosition_String(t *testing.T) {
	tests := []struct {
		give Position
		want string
	}{
		{Position{File: "p1-bin.000003", Pos: 379}, "p1-bin.000003:379"},
		{Position{}, ""},
	}
	for _, tt := range tests {
		if got := tt.give.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestGTID_String(t *testing.T) {
	tests := []struct {
		name string
		give GTID
		want string
	}{
		{"none", GTID{}, ""},
		{"mariadb", GTID{Kind: GTIDMariaDB, Domain: 0, Server: 11, Seq: 150004}, "0-11-150004"},
		{"mysql", GTID{Kind: GTIDMySQL, Seq: 23, SID: [16]byte{
			0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62}},
			"3e11fa47-71ca-11e1-9e33-c80aa9429562:23"},
		{"mysql tagged", GTID{Kind: GTIDMySQL, Seq: 1, Tag: "foobaz", SID: [16]byte{
			0x89, 0x6e, 0x78, 0x82, 0x18, 0xfe, 0x11, 0xef, 0xab, 0x88, 0x22, 0x22, 0x2d, 0x34, 0xd4, 0x11}},
			"896e7882-18fe-11ef-ab88-22222d34d411:foobaz:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.give.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
