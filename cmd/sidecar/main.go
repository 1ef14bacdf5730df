package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// Set by the build (scripts/build.sh) with -ldflags -X.
var (
	version = "dev"
	commit  = "unknown"
)

// Exit codes of the daemon, per the contract.
const (
	exitOK     = 0
	exitFatal  = 1
	exitConfig = 2
)

func main() {
	version, commit = fromBuildInfo(version, commit, debug.ReadBuildInfo)
	os.Exit(mainCode(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// pseudoVersion matches the version Go derives from a commit
// (v0.0.0-20261204210308-bbd6ae0a8099, +dirty with local changes).
var pseudoVersion = regexp.MustCompile(`-(0\.)?\d{14}-[0-9a-f]{12}(\+dirty)?$`)

// fromBuildInfo fills in what -ldflags did not set from the Go build info:
// the VCS revision a plain `go build` in a checkout records (with
// "-modified" for uncommitted changes), and the module version of a
// `go install module@version`.
func fromBuildInfo(version, commit string, read func() (*debug.BuildInfo, bool)) (string, string) {
	info, ok := read()
	if !ok {
		return version, commit
	}
	if v := info.Main.Version; version == "dev" && v != "" && v != "(devel)" && !pseudoVersion.MatchString(v) {
		version = v // a tagged go install; a pseudo-version only repeats the commit
	}
	if commit != "unknown" {
		return version, commit
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return version, commit
	}
	if modified == "true" {
		rev += "-modified"
	}
	return version, rev
}

// command is one subcommand: its line in the usage and what runs it.
// Adding a subcommand is adding a row to commands.
type command struct {
	name, args, summary string
	// usage is the command's own help (`sidecar NAME --help`); empty
	// prints its usage line.
	usage string
	run   func(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int
}

// commands lists every subcommand, in the order the usage shows them.
var commands = []command{
	{name: "run", summary: "the daemon, configured by SIDECAR_* variables (the default command)", usage: runUsage, run: runCommand},
	{name: "validate", args: "[--role source|replica|auto] [--format text|json] [--inventory FILE] [--live] FILE...",
		summary: "check MySQL/MariaDB option files for replication misconfiguration", usage: validateUsage, run: validateCommand},
	{name: "audit", args: "[--format markdown|json]",
		summary: "print an audit of the live replication configuration and topology", usage: auditUsage, run: auditCommand},
	{name: "healthcheck", summary: "GET the running sidecar's own /livez, for a container HEALTHCHECK; exit 0 live, 1 not",
		usage: healthcheckUsage, run: healthcheckCommand},
	{name: "fleet", args: "[--once] [--format text|json] [--cluster NAME] [--publish] [--http ADDR]",
		summary: "show every primary's status and the findings across primaries, from the bus", usage: fleetUsage, run: fleetCommand},
	{name: "version", summary: "version, commit, Go version (also --version, -v)", run: versionCommand},
	{name: "help", args: "[COMMAND]", summary: "this text, or a command's help (also --help, -h)"}, // mainCode runs it: it reads this table
}

// mainCode dispatches the subcommand and maps its result to an exit code;
// it is the only place that decides one. `--help` after any subcommand
// prints that command's help and starts nothing.
func mainCode(args, environ []string, stdout, stderr io.Writer) int {
	name := "run"
	switch {
	case len(args) > 0 && (args[0] == "--help" || args[0] == "-h"):
		name, args = "help", args[1:]
	case len(args) > 0 && (args[0] == "--version" || args[0] == "-v"):
		name, args = "version", args[1:]
	case len(args) > 0 && strings.HasPrefix(args[0], "-"):
		fmt.Fprintf(stderr, "sidecar: unknown flag %q\n%s", args[0], usage())
		return exitConfig
	case len(args) > 0:
		name, args = args[0], args[1:]
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "sidecar: unknown command %q\n%s", name, usage())
		return exitConfig
	}
	switch {
	case cmd.name == "help":
		return helpCommand(args, stdout, stderr)
	case wantsHelp(args):
		fmt.Fprint(stdout, cmd.help())
		return exitOK
	}
	ctx, stop := signalContext()
	defer stop()
	return cmd.run(ctx, args, environ, stdout, stderr)
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// wantsHelp reports whether -h or --help comes before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

func (c command) line() string {
	return strings.TrimSpace("sidecar " + c.name + " " + c.args)
}

func (c command) help() string {
	if c.usage != "" {
		return c.usage
	}
	return "usage: " + c.line() + "\n\n" + c.summary + "\n"
}

// usage is the top-level help, built from commands.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: sidecar [COMMAND] [ARGS]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %s\n        %s\n", c.line(), c.summary)
	}
	b.WriteString("\nRun 'sidecar COMMAND --help' for a command's flags. The daemon's configuration is the\n" +
		"SIDECAR_* environment (see deploy/env.example); exit codes: 0 ok, 1 failure or error findings,\n" +
		"2 bad configuration or arguments.\n")
	return b.String()
}

func helpCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 { // sidecar help validate
		if c, ok := lookup(args[0]); ok {
			fmt.Fprint(stdout, c.help())
			return exitOK
		}
		fmt.Fprintf(stderr, "sidecar help: unknown command %q\n%s", args[0], usage())
		return exitConfig
	}
	fmt.Fprint(stdout, usage())
	return exitOK
}

func versionCommand(_ context.Context, _, _ []string, stdout, _ io.Writer) int {
	fmt.Fprintf(stdout, "sidecar %s (commit %s, %s %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

const runUsage = `usage: sidecar [run]

Runs the daemon: tails the binlog of the server at SIDECAR_MYSQL_ADDR, polls its
replication state, serves /livez /readyz /metrics /status on SIDECAR_HTTP_ADDR and
publishes events to SIDECAR_NATS_URL. Every setting is a SIDECAR_* environment
variable (deploy/env.example lists them all). Exit 0 after SIGTERM/SIGINT; 2 on a
configuration error, naming each bad variable; 1 on another fatal error.
`

// runCommand runs the daemon until a signal.
func runCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "sidecar run: unexpected argument %q (the daemon is configured by SIDECAR_* variables)\n%s", args[0], runUsage)
		return exitConfig
	}
	err := run(ctx, environ, stdout, stderr)
	var cerr *ConfigError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &cerr):
		fmt.Fprintln(stderr, "sidecar:", err)
		return exitConfig
	default:
		fmt.Fprintln(stderr, "sidecar:", err)
		return exitFatal
	}
}

// signalContext is cancelled by the first SIGTERM or SIGINT; a second one
// aborts at once, so an operator is never stuck behind a slow flush.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
			return
		}
		<-ch
		os.Exit(exitFatal)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}
