package client

import (
	"errors"
	"fmt"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// ServerError is an error the server answered with (an ERR packet), as
// opposed to a network or protocol failure: the connection is still good.
type ServerError struct {
	Code    uint16
	State   string
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("ERROR %d (%s): %s", e.Code, e.State, e.Message)
}

// AsServerError finds the server's answer in err's chain: go-mysql's error
// from a connection, or a *ServerError (recorded results in tests).
func AsServerError(err error) (*ServerError, bool) {
	var se *ServerError
	if errors.As(err, &se) {
		return se, true
	}
	var my *gomysql.MyError
	if errors.As(err, &my) {
		return &ServerError{Code: my.Code, State: my.State, Message: my.Message}, true
	}
	return nil, false
}

// IsServerError reports whether the server answered err (AsServerError).
func IsServerError(err error) bool {
	_, ok := AsServerError(err)
	return ok
}
