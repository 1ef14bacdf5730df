package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
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
	os.Exit(mainCode(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// mainCode dispatches the subcommand and maps its result to an exit code;
// it is the only place that decides one.
func mainCode(args, environ []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		ctx, stop := signalContext()
		defer stop()
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
	case "validate":
		ctx, stop := signalContext()
		defer stop()
		return validateCommand(ctx, args, environ, stdout, stderr)
	case "audit":
		ctx, stop := signalContext()
		defer stop()
		return auditCommand(ctx, args, environ, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "sidecar %s (commit %s, %s %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "sidecar: unknown command %q\n%s", cmd, usage)
	return exitConfig
}

const usage = `usage:
  sidecar [run]                      the daemon, configured by SIDECAR_* variables
  sidecar validate [--format text|json] [--inventory FILE] [--live] FILE...
                                     check MySQL/MariaDB option files for replication misconfiguration
  sidecar audit [--format markdown|json]
                                     print an audit of the live replication configuration and topology
  sidecar version                    version, commit, Go version
`

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
