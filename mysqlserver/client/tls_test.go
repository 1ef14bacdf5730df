package client

import (
	"crypto/tls"
	"errors"
	"testing"
)

func TestFallBackToPlain(t *testing.T) {
	noTLSErr := errors.New("connect: readInitialHandshake: the MySQL Server does not support TLS required by the client")
	cfg := &tls.Config{}
	tests := []struct {
		name      string
		err       error
		cfg       *tls.Config
		preferred bool
		want      bool
	}{
		{"preferred, server without TLS", noTLSErr, cfg, true, true},
		{"required, server without TLS", noTLSErr, cfg, false, false},
		{"other error", errors.New("access denied"), cfg, true, false},
		{"no TLS asked", noTLSErr, nil, true, false},
		{"no error", nil, cfg, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fallBackToPlain(tt.err, tt.cfg, tt.preferred); got != tt.want {
				t.Errorf("Preferred = %v, want %v", got, tt.want)
			}
		})
	}
}
