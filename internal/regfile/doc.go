// Package regfile reads the files an operator points the sidecar at
// (inventory, option files and their includes, password, credentials and CA
// files) the one safe way: regular files only, and at most MaxSize bytes.
//
// A named pipe would block a plain open or read forever (the health monitor
// froze on an inventory swapped for a FIFO, start-up ignored SIGTERM), and a
// character device such as /dev/zero never ends (a credentials file pointed
// at it grew the process until the OOM killer ended it). The type is checked
// on the opened descriptor, after symlinks are followed, so a file swapped
// between a check and the open cannot slip through.
//
// Errors name the file and what it is, never its content.
package regfile
