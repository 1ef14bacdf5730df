package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/health/audit"
	"github.com/binlog-sidecar/binlog-sidecar/health/probe"
	"github.com/binlog-sidecar/binlog-sidecar/inventory"
	"github.com/binlog-sidecar/binlog-sidecar/stream/binlog"
	"github.com/binlog-sidecar/binlog-sidecar/validate"
)

const auditUsage = `usage: sidecar audit [--format markdown|json]

Connects as SIDECAR_MYSQL_* and prints the server's identity, binlog and
semi-sync settings, replicas (seen and expected) and dump threads, with the
validator's findings on the live values and the health rules' problems.
Exit 0: no error; 1: error findings or critical problems; 2: could not run.
`

// auditCommand implements `sidecar audit`.
func auditCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	format := fs.String("format", "markdown", "markdown or json")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || (*format != "markdown" && *format != "json") {
		fmt.Fprintf(stderr, "sidecar audit: bad arguments %q\n%s", args, auditUsage)
		return exitCannotRun
	}
	a, err := runAudit(ctx, environ)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar audit: %v\n", err)
		return exitCannotRun
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		err = enc.Encode(a)
	} else {
		_, err = io.WriteString(stdout, a.Markdown())
	}
	if err != nil {
		fmt.Fprintf(stderr, "sidecar audit: write report: %v\n", err)
		return exitCannotRun
	}
	if a.Summary.Errors > 0 {
		return exitFindings
	}
	return exitClean
}

// runAudit judges the server once, as one poll of the daemon's monitor
// would (health.Monitor.Assess: the same observation, DNS lookups and
// handshakes), with a zombie grace of 0: an audit reports what is true now
// rather than waiting for it to last. The validator checks the server's
// live variables beside it.
func runAudit(ctx context.Context, environ []string) (audit.Report, error) {
	cfg, err := loadConfig(environ)
	var cerr *ConfigError
	if err != nil && (!errors.As(err, &cerr) || hasProblem(cerr, envPrefix+"MYSQL_")) {
		return audit.Report{}, err
	}
	vars, err := readGlobalVariables(ctx, cfg)
	if err != nil {
		return audit.Report{}, err
	}
	tlsCfg, _ := cfg.MySQLTLS() // readGlobalVariables has checked it
	p := probe.New(probe.Config{Addr: cfg.MySQL.Addr, User: cfg.MySQL.User, Password: cfg.MySQL.Password,
		Flavor: cfg.MySQL.Flavor, TLS: tlsCfg, TLSPreferred: cfg.MySQL.TLSMode == "preferred"}, zerolog.Nop())
	defer p.Close()
	monitor := health.NewMonitor(health.Options{
		PollInterval: cfg.PollInterval, ProbeTimeout: cfg.ProbeTimeout, ZombieGrace: 0,
		Inventory:    func() ([]inventory.Entry, bool) { return cfg.Inventory, cfg.InventoryConfigured },
		SelfServerID: cfg.ServerID, SelfRegisterHost: binlog.RegisterHost,
	}, p, zerolog.Nop())
	obs, rep := monitor.Assess(ctx)
	if r := obs.Read(health.ReadVariables); !r.OK() {
		return audit.Report{}, fmt.Errorf("observe %s: %s%s", cfg.MySQL.Addr, r.Err, r.MissingPrivilege)
	}

	vin := validate.Input{
		Servers:   []validate.Server{validate.LiveServer("live "+cfg.MySQL.Addr, cfg.MySQL.Addr, vars)},
		Inventory: cfg.Inventory, HasInventory: cfg.InventoryConfigured, InventoryFile: cfg.ExpectedReplicasFile,
		Sidecar: &validate.Sidecar{ServerID: cfg.ServerID, ServerIDFrom: "the sidecar's configuration", Flavor: cfg.MySQL.Flavor},
	}
	if vin.InventoryFile == "" {
		vin.InventoryFile = envPrefix + "EXPECTED_REPLICAS"
	}
	if cerr != nil {
		vin.Sidecar.Problems = cerr.Problems
	}
	return audit.New(cfg.MySQL.Addr, version, obs, rep, vars, validate.Check(vin)), nil
}
