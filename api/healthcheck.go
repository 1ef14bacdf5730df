package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// LiveCheck asks a running sidecar, from the same host or container, whether
// it is live: GET /livez at its own SIDECAR_HTTP_ADDR, the way its web
// configuration requires.
type LiveCheck struct {
	// Addr is the server's listen address; an unspecified host (":9106",
	// "0.0.0.0:9106", "[::]:9106") is reached on loopback.
	Addr string
	// WebConfigFile is the server's SIDECAR_WEB_CONFIG_FILE. With TLS the
	// check accepts exactly the certificate configured there, whatever names
	// it carries: it is talking to itself, not to a host it must identify.
	WebConfigFile string
	// User and Password are presented when the web configuration has
	// basic_auth_users, which hold only bcrypt hashes.
	User, Password string
}

// Run returns nil when /livez answered 200, else why not. ctx bounds it.
func (c LiveCheck) Run(ctx context.Context) error {
	target, err := loopbackTarget(c.Addr)
	if err != nil {
		return err
	}
	// No proxy: the check talks to its own process, whatever HTTP_PROXY says.
	transport := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	scheme := "http"
	users := false
	if c.WebConfigFile != "" {
		wc, err := readClientView(c.WebConfigFile)
		if err != nil {
			return err
		}
		users = wc.users
		if wc.tls != nil {
			scheme, transport.TLSClientConfig = "https", wc.tls
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+target+"/livez", nil)
	if err != nil {
		return err
	}
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return fmt.Errorf("GET /livez: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusUnauthorized && users && c.User == "":
		return errors.New("GET /livez: 401: the web configuration has basic_auth_users; set SIDECAR_HEALTHCHECK_USER and SIDECAR_HEALTHCHECK_PASSWORD_FILE")
	}
	return fmt.Errorf("GET /livez: %s %s", resp.Status, bytes.TrimSpace(body))
}

// loopbackTarget turns a listen address into one to dial from the same host.
func loopbackTarget(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}

// clientView is what a client of the server needs from its web
// configuration.
type clientView struct {
	tls   *tls.Config // nil: plain HTTP
	users bool
}

// readClientView reads the web configuration as the server does
// (ValidateWebConfig first), keeping only the client's side of it.
func readClientView(path string) (clientView, error) {
	if err := ValidateWebConfig(path); err != nil {
		return clientView{}, err
	}
	doc, err := readWebConfig(path)
	if err != nil {
		return clientView{}, err
	}
	view := clientView{users: len(doc.Users) > 0}
	certPEM := []byte(doc.TLS.Cert)
	if doc.TLS.CertFile != "" {
		if certPEM, err = readRegular(doc.TLS.CertFile); err != nil {
			return clientView{}, fmt.Errorf("cert_file: %w", err)
		}
	}
	if len(certPEM) == 0 {
		return view, nil
	}
	if strings.HasPrefix(doc.TLS.ClientAuth, "Require") {
		return clientView{}, fmt.Errorf("%q: client_auth_type %s: the server requires a client certificate, which the healthcheck does not present", path, doc.TLS.ClientAuth)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return clientView{}, errors.New("the web configuration's certificate is not PEM")
	}
	want := block.Bytes
	view.tls = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The name check is replaced by an exact match of the certificate
		// the server was configured with.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], want) {
				return errors.New("the server presented a certificate other than the web configuration's")
			}
			return nil
		},
	}
	return view, nil
}
