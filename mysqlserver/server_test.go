package mysqlserver

import "testing"

func TestParseVersion(t *testing.T) {
	tests := []struct {
		give string
		want Version
	}{
		{"10.11.19-MariaDB-0+deb12u1", Version{10, 11, 19}},
		{"5.5.5-10.6.12-MariaDB", Version{10, 6, 12}},
		{"8.0.36", Version{8, 0, 36}},
		{"8.4.2-log", Version{8, 4, 2}},
		{"9.1", Version{9, 1, 0}},
		{"", Version{}},
	}
	for _, tt := range tests {
		if got := ParseVersion(tt.give); got != tt.want {
			t.Errorf("ParseVersion(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		v    string
		want Version
		ok   bool
	}{
		{"8.2.0", MySQL820, true},
		{"8.1.99", MySQL820, false},
		{"9.1.0", MySQL840, true},
		{"10.5.2-MariaDB", MariaDB1052, true},
		{"10.4.34-MariaDB", MariaDB1052, false},
		{"", MySQL8022, false},
	}
	for _, tt := range tests {
		if got := VersionAtLeast(tt.v, tt.want); got != tt.ok {
			t.Errorf("VersionAtLeast(%q, %v) = %v, want %v", tt.v, tt.want, got, tt.ok)
		}
	}
}

func TestFlavor(t *testing.T) {
	tests := []struct{ version, comment, want string }{
		{"10.11.19-MariaDB-0+deb12u1", "Debian 12", FlavorMariaDB},
		{"11.4.2", "mariadb.org binary distribution", FlavorMariaDB},
		{"8.0.36", "MySQL Community Server - GPL", FlavorMySQL},
		{"", "", FlavorMySQL},
	}
	for _, tt := range tests {
		if got := Flavor(tt.version, tt.comment); got != tt.want {
			t.Errorf("Flavor(%q, %q) = %q, want %q", tt.version, tt.comment, got, tt.want)
		}
	}
}
