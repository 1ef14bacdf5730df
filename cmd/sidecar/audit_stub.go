package main

// Placeholder so the tree builds until audit.go lands: DELETE THIS FILE when adding audit.go.

import (
	"context"
	"fmt"
	"io"
)

func auditCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "sidecar audit: not built yet")
	return 2
}
