package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/inventory"
	"github.com/binlog-sidecar/binlog-sidecar/mycnf"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
	"github.com/binlog-sidecar/binlog-sidecar/validate"
)

// Exit codes of `sidecar validate` and `sidecar audit`, per the contract.
const (
	exitClean     = 0 // no error-level finding
	exitFindings  = 1 // at least one error-level finding
	exitCannotRun = 2 // unreadable file, parse error, bad flag, no connection
)

// liveTimeout bounds connecting to and reading from the server for --live.
const liveTimeout = 10 * time.Second

const validateUsage = `usage: sidecar validate [--role source|replica|auto] [--format text|json] [--inventory FILE] [--live] [--sidecar-server-id N] FILE...

Checks MySQL/MariaDB option files (one per server of a topology) for
replication misconfiguration. Exit 0: no error; 1: error findings; 2: could not run.

  --role source|replica|auto  judge every FILE as a source or a replica; auto (the
                              default) reads the role from the files themselves
  --format text|json          the report's form (default text)
  --inventory FILE            the source's expected replicas, one host[:port][ semisync] a line
  --live                      also check the server named by SIDECAR_MYSQL_*
  --sidecar-server-id N       the sidecar's server_id, checked for uniqueness
`

type validateArgs struct {
	role      validate.Role
	format    string
	inventory string
	live      bool
	sidecarID uint
	files     []string
}

// parseValidateArgs accepts flags before and after the files, because
// Puppet's validate_cmd puts the file (%) wherever the manifest says.
func parseValidateArgs(args []string) (validateArgs, error) {
	var a validateArgs
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.format, "format", "text", "text or json")
	role := fs.String("role", "auto", "source, replica or auto")
	fs.StringVar(&a.inventory, "inventory", "", "expected replicas, one `host[:port][ semisync]` a line")
	fs.BoolVar(&a.live, "live", false, "also check the server named by SIDECAR_MYSQL_*")
	fs.UintVar(&a.sidecarID, "sidecar-server-id", 0, "the sidecar's server_id, checked for uniqueness")
	rest := args
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return a, err
		}
		next := fs.Args()
		if len(next) == 0 {
			break
		}
		if i := len(args) - len(next); i > 0 && args[i-1] == "--" {
			a.files = append(a.files, next...) // after "--" everything is a file
			break
		}
		a.files, rest = append(a.files, next[0]), next[1:]
	}
	var err error
	if a.role, err = validate.ParseRole(*role); err != nil {
		return a, fmt.Errorf("--%w", err)
	}
	switch {
	case a.format != "text" && a.format != "json":
		return a, fmt.Errorf("--format %q: want text or json", a.format)
	case a.sidecarID > 1<<32-1:
		return a, fmt.Errorf("--sidecar-server-id %d: want 1 to 4294967295", a.sidecarID)
	case len(a.files) == 0 && !a.live:
		return a, errors.New("no option file given")
	}
	return a, nil
}

// validateCommand implements `sidecar validate`.
func validateCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	a, err := parseValidateArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar validate: %v\n%s", err, validateUsage)
		return exitCannotRun
	}
	in, err := validateInput(ctx, a, environ)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar validate: %v\n", err)
		return exitCannotRun
	}
	findings := validate.Check(in)
	var names []string
	for _, s := range in.Servers {
		names = append(names, s.Name)
	}
	sum := validate.Summarize(findings, names)
	if a.format == "json" {
		err = validate.WriteJSON(stdout, findings, sum)
	} else {
		err = validate.WriteText(stdout, findings, sum)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sidecar validate: write report: %v\n", err)
		return exitCannotRun
	}
	if sum.Errors > 0 {
		return exitFindings
	}
	return exitClean
}

// validateInput reads the files, the inventory, the sidecar's settings
// (only when some SIDECAR_* variable is set; they never decide a file's
// role, --role or the file itself does) and, with --live, the server.
func validateInput(ctx context.Context, a validateArgs, environ []string) (validate.Input, error) {
	var in validate.Input
	for _, path := range a.files {
		f, err := mycnf.Load(path)
		if err != nil {
			return in, err
		}
		in.Servers = append(in.Servers, validate.Server{Name: path, File: f, Role: a.role})
	}
	if a.inventory != "" {
		entries, err := inventory.ReadFile(a.inventory) // the daemon reads the same format
		if err != nil {
			return in, err // names the file (and line), never its content
		}
		in.Inventory, in.InventoryFile, in.HasInventory = entries, a.inventory, true
	}

	configured := false
	for _, kv := range environ {
		configured = configured || strings.HasPrefix(kv, envPrefix)
	}
	var cfg Config
	if configured || a.live {
		var err error
		cfg, err = loadConfig(environ)
		var cerr *ConfigError
		switch {
		case errors.As(err, &cerr):
			if a.live && hasProblem(cerr, "SIDECAR_MYSQL_") {
				return in, fmt.Errorf("--live: %w", err)
			}
		case err != nil:
			return in, err
		}
		if configured {
			in.Sidecar = &validate.Sidecar{ServerID: cfg.ServerID, Flavor: cfg.MySQL.Flavor,
				ServerIDFrom: "derived from the instance name " + cfg.Instance}
			if envSet(environ, envPrefix+"SERVER_ID") {
				in.Sidecar.ServerIDFrom = envPrefix + "SERVER_ID"
			}
			if cerr != nil {
				in.Sidecar.Problems = cerr.Problems
			}
		}
		if !in.HasInventory && cfg.InventoryConfigured {
			in.Inventory, in.HasInventory = cfg.Inventory, true
			in.InventoryFile = cfg.ExpectedReplicasFile
			if in.InventoryFile == "" {
				in.InventoryFile = envPrefix + "EXPECTED_REPLICAS"
			}
		}
	}
	if a.sidecarID != 0 {
		if in.Sidecar == nil {
			in.Sidecar = &validate.Sidecar{Flavor: mysqlserver.FlavorAuto}
		}
		in.Sidecar.ServerID, in.Sidecar.ServerIDFrom = uint32(a.sidecarID), "--sidecar-server-id"
	}
	if a.live {
		vars, err := readGlobalVariables(ctx, cfg)
		if err != nil {
			return in, fmt.Errorf("--live: %w", err)
		}
		in.Servers = append(in.Servers, validate.LiveServer("live "+cfg.MySQL.Addr, cfg.MySQL.Addr, vars))
	}
	return in, nil
}

func hasProblem(e *ConfigError, prefix string) bool {
	for _, p := range e.Problems {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

func envSet(environ []string, key string) bool {
	for _, kv := range environ {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// readGlobalVariables connects as the sidecar (TLS "preferred" falls back
// to plain text when the server offers no TLS, as the mode's name promises)
// and reads every global variable, names in lower case.
func readGlobalVariables(ctx context.Context, cfg Config) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	tlsCfg, err := cfg.MySQLTLS()
	if err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	c, err := client.Connect(ctx, client.Target{Addr: cfg.MySQL.Addr, User: cfg.MySQL.User, Password: cfg.MySQL.Password,
		TLS: tlsCfg, TLSPreferred: cfg.MySQL.TLSMode == "preferred"}, dl)
	if err != nil {
		return nil, err
	}
	defer c.Quit()
	rows, err := c.Query(mysqlserver.SQLAllVariables)
	if err != nil {
		return nil, fmt.Errorf("read variables: %w", err)
	}
	vars := make(map[string]string, len(rows.Rows))
	for i := range rows.Rows {
		if name := rows.Value(i, 0); name != "" {
			vars[strings.ToLower(name)] = rows.Value(i, 1)
		}
	}
	return vars, nil
}
