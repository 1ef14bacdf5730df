package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/prometheus/exporter-toolkit/web"
	"github.com/rs/zerolog"
)

// maxWebConfigBytes caps the web configuration file: a few certificates
// inline at most.
const maxWebConfigBytes = 1 << 20

// ValidateWebConfig checks a web configuration file (the Prometheus
// exporter-toolkit format: tls_server_config, basic_auth_users,
// http_server_config, rate_limit) the way the server will read it: the YAML,
// every bcrypt hash, the certificate and key files. Errors name the file and
// the line, never the file's content, since the path may be a mistake that
// points at a secret.
func ValidateWebConfig(path string) error {
	if path == "" {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("cannot read %q: %w", path, errors.Unwrap(err))
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%q is not a regular file (%s)", path, fi.Mode().Type())
	case fi.Size() > maxWebConfigBytes:
		return fmt.Errorf("%q is %d bytes; want a web configuration file of at most %d", path, fi.Size(), maxWebConfigBytes)
	}
	if err := web.Validate(path); err != nil {
		return fmt.Errorf("%q: %s", path, describeWebConfigErr(err))
	}
	return nil
}

var (
	yamlLine  = regexp.MustCompile(`line \d+`)
	yamlField = regexp.MustCompile(`field ([a-z_]{1,40}) not found`)
)

// describeWebConfigErr keeps what locates a YAML error (its line numbers and
// the names of unknown keys) and drops everything else it quotes: a file
// that is not a web configuration at all (a shadow file, a key) would
// otherwise be echoed.
func describeWebConfigErr(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "bcrypt") {
		return msg + " (basic_auth_users takes bcrypt hashes, not passwords)"
	}
	if !strings.Contains(msg, "yaml:") {
		return msg
	}
	where := ""
	if lines := yamlLine.FindAllString(msg, 3); len(lines) > 0 {
		where = " at " + strings.Join(lines, ", ")
	}
	if m := yamlField.FindStringSubmatch(msg); m != nil {
		where += ": unknown key " + m[1]
	}
	return "not a web configuration file (YAML error" + where +
		"); want the exporter-toolkit format with tls_server_config, basic_auth_users, http_server_config, rate_limit"
}

// serveWeb serves srv on ln with the TLS and basic auth of the web
// configuration file, which the toolkit re-reads on each request and TLS
// handshake, so certificates and users can be rotated without a restart.
func serveWeb(ln net.Listener, srv *http.Server, path string, log zerolog.Logger) error {
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &[]string{}, WebSystemdSocket: &systemd, WebConfigFile: &path}
	return web.Serve(ln, srv, flags, slog.New(zerolog.NewSlogHandler(log)))
}
