package events

import (
	"crypto/x509"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/binlog-sidecar/binlog-sidecar/internal/regfile"
)

// credsOption does what nats.UserCredentials does for a single chained
// credentials file, re-reading it on every connect (so a rotated file is
// picked up), but through regfile: nats.go reads with os.ReadFile, so a file
// swapped for a named pipe would hang every reconnect and one swapped for
// /dev/zero would grow the process without bound.
func credsOption(path string) nats.Option {
	read := func() ([]byte, error) {
		b, err := regfile.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("credentials file: %w", err)
		}
		return b, nil
	}
	return nats.UserJWT(
		func() (string, error) {
			b, err := read()
			if err != nil {
				return "", err
			}
			defer wipe(b)
			return nkeys.ParseDecoratedJWT(b)
		},
		func(nonce []byte) ([]byte, error) {
			b, err := read()
			if err != nil {
				return nil, err
			}
			defer wipe(b)
			kp, err := nkeys.ParseDecoratedNKey(b)
			if err != nil {
				return nil, fmt.Errorf("credentials file %s: %w", path, err)
			}
			defer kp.Wipe()
			return kp.Sign(nonce)
		})
}

// rootCAsOption does what nats.RootCAs does for one file, through regfile,
// on every TLS connect.
func rootCAsOption(path string) nats.Option {
	return nats.ClientTLSConfig(nil, func() (*x509.CertPool, error) {
		pem, err := regfile.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate found", path)
		}
		return pool, nil
	})
}

// wipe overwrites secret bytes once used, as nats.go does with its own reads.
func wipe(b []byte) {
	for i := range b {
		b[i] = 'x'
	}
}

// AuthOptions are the connection options for a credentials file and a CA
// file (either may be empty), read as the publisher reads them: through
// regfile, on every connect. For other clients of the same bus (`sidecar
// fleet`).
func AuthOptions(credsFile, caFile string) []nats.Option {
	var out []nats.Option
	if credsFile != "" {
		out = append(out, credsOption(credsFile))
	}
	if caFile != "" {
		out = append(out, rootCAsOption(caFile))
	}
	return out
}
