package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/binlog-sidecar/binlog-sidecar/api"
	"github.com/binlog-sidecar/binlog-sidecar/internal/regfile"
)

// healthcheckTimeout bounds `sidecar healthcheck`, well inside a container
// runtime's own health-check timeout (Docker's default is 30 s).
const healthcheckTimeout = 5 * time.Second

const healthcheckUsage = `usage: sidecar healthcheck

GETs /livez of the sidecar running with the same environment: at
SIDECAR_HTTP_ADDR (":9106" and "0.0.0.0:9106" are asked at 127.0.0.1:9106),
over TLS when SIDECAR_WEB_CONFIG_FILE has tls_server_config (accepting exactly
the certificate configured there), with SIDECAR_HEALTHCHECK_USER and
SIDECAR_HEALTHCHECK_PASSWORD or _PASSWORD_FILE when it has basic_auth_users.
Gives up after 5 s. Exit 0 live; 1 not live, or the check could not run.
`

// healthcheckCommand is `sidecar healthcheck`: GET the running sidecar's own
// /livez, for a container HEALTHCHECK. Exit 0 live, 1 not (including when it
// cannot ask: a check that cannot run never reads as healthy).
func healthcheckCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "sidecar healthcheck: takes no arguments, got %q\n", strings.Join(args, " "))
		return exitFatal
	}
	check, err := liveCheck(environ)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
		defer cancel()
		err = check.Run(ctx)
	}
	if err != nil {
		fmt.Fprintln(stderr, "sidecar healthcheck: not live:", err)
		return exitFatal
	}
	fmt.Fprintln(stdout, "live")
	return exitOK
}

// liveCheck reads only what the healthcheck needs from the daemon's
// variables: where it listens, its web configuration and the healthcheck's
// own credentials. Every one of them is a string, which always parses.
func liveCheck(environ []string) (api.LiveCheck, error) {
	cfg, _ := env.ParseAsWithOptions[Config](env.Options{Prefix: envPrefix, Environment: envMap(environ)})
	password := cfg.HealthcheckPassword
	if f := cfg.HealthcheckPasswordFile; f != "" {
		if password != "" {
			return api.LiveCheck{}, errors.New("SIDECAR_HEALTHCHECK_PASSWORD_FILE set together with SIDECAR_HEALTHCHECK_PASSWORD; want only one of them")
		}
		b, err := regfile.ReadFile(f)
		if err != nil {
			return api.LiveCheck{}, fmt.Errorf("SIDECAR_HEALTHCHECK_PASSWORD_FILE: %w", fileError(err))
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	return api.LiveCheck{Addr: cfg.HTTPAddr, WebConfigFile: cfg.WebConfigFile, User: cfg.HealthcheckUser, Password: password}, nil
}
