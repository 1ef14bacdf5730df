package mytls

import "github.com/go-mysql-org/go-mysql/client"

// Conn is a connection Connect opened. Readers name the type from here, so
// that opening SQL connections, and the TLS rule that goes with it, stays
// in this package: besides it only the stream's dump reader (and test and
// bench harnesses) import go-mysql's client.
type Conn = client.Conn
