package api

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/exporter-toolkit/web"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/binlog-sidecar/binlog-sidecar/internal/regfile"
)

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
	doc, err := readWebConfig(path)
	if err != nil {
		return err
	}
	// The toolkit reads these without a bound: refuse a pipe or a device
	// before it would hang on one. In a fixed order (a map's varies), so
	// that the same file always gets the same error.
	files := []struct{ key, path string }{
		{"cert_file", doc.TLS.CertFile}, {"key_file", doc.TLS.KeyFile}, {"client_ca_file", doc.TLS.ClientCAFile},
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if _, err := readRegular(f.path); err != nil {
			return fmt.Errorf("%q: %s: %w", path, f.key, err)
		}
	}
	if err := web.Validate(path); err != nil {
		return fmt.Errorf("%q: %s", path, describeWebConfigErr(err))
	}
	return nil
}

// webConfigDoc is the part of a web configuration the sidecar reads itself;
// the toolkit reads the whole of it.
type webConfigDoc struct {
	TLS struct {
		Cert         string `yaml:"cert"`
		CertFile     string `yaml:"cert_file"`
		KeyFile      string `yaml:"key_file"`
		ClientCAFile string `yaml:"client_ca_file"`
		ClientAuth   string `yaml:"client_auth_type"`
	} `yaml:"tls_server_config"`
	Users map[string]string `yaml:"basic_auth_users"`
}

// readWebConfig reads the file, with its relative paths made relative to
// the file's directory as the toolkit does.
func readWebConfig(path string) (webConfigDoc, error) {
	var doc webConfigDoc
	raw, err := readRegular(path)
	if err != nil {
		return doc, err
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return doc, fmt.Errorf("%q: %s", path, describeWebConfigErr(err))
	}
	for _, f := range []*string{&doc.TLS.CertFile, &doc.TLS.KeyFile, &doc.TLS.ClientCAFile} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(filepath.Dir(path), *f)
		}
	}
	return doc, nil
}

// readRegular reads an operator-named file: a regular file of at most
// 1 MiB; a pipe, a device or a directory is refused without being read.
func readRegular(path string) ([]byte, error) {
	b, err := regfile.ReadFile(path)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("cannot read %q: %w", pe.Path, pe.Err)
	}
	return b, err
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
