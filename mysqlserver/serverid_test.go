package mysqlserver

import "testing"

func TestDerivedServerID(t *testing.T) {
	for _, give := range []string{"", "db-1", "db-2", "a-very-long-instance-name.example.com"} {
		got := DerivedServerID(give)
		if got < DerivedServerIDMin {
			t.Errorf("DerivedServerID(%q) = %d, below %d", give, got, DerivedServerIDMin)
		}
		if again := DerivedServerID(give); again != got {
			t.Errorf("DerivedServerID(%q) not stable: %d then %d", give, got, again)
		}
	}
	if DerivedServerID("db-1") == DerivedServerID("db-2") {
		t.Error("db-1 and db-2 derive the same server_id")
	}
}
