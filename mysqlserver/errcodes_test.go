package mysqlserver

import "testing"

func TestErrorCodes(t *testing.T) {
	tests := []struct {
		code           uint16
		priv, readOnly bool
	}{
		{ErrAccessDenied, true, false},
		{ErrSpecificAccessDenied, true, false},
		{ErrKillDenied, true, false},
		{ErrColumnAccessDenied, true, false},
		{ErrOptionPrevents, false, true},
		{ErrReadOnlyMode, false, true},
		{1146, false, false}, // no such table
	}
	for _, tt := range tests {
		if got := IsPrivilegeError(tt.code); got != tt.priv {
			t.Errorf("IsPrivilegeError(%d) = %v, want %v", tt.code, got, tt.priv)
		}
		if got := IsReadOnlyError(tt.code); got != tt.readOnly {
			t.Errorf("IsReadOnlyError(%d) = %v, want %v", tt.code, got, tt.readOnly)
		}
	}
}
