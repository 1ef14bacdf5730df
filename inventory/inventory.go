package inventory

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// DefaultPort is the port assumed when an entry names none.
const DefaultPort = 3306

// Entry is one expected replica.
type Entry struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	SemiSync bool   `json:"semisync"`
	// Line is the 1-based line of the entry in a file, or its 1-based
	// position in a comma-separated list.
	Line int `json:"-"`
}

// Addr returns host:port, bracketing IPv6 hosts.
func (e Entry) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// ErrSyntax is wrapped by every parse error, so callers can tell a bad
// inventory from an I/O failure.
var ErrSyntax = errors.New("inventory syntax")

// ParseError names the entry that could not be parsed and what was expected.
type ParseError struct {
	Line  int    // line (file) or position (list), 1-based
	Entry string // the text as written
	Msg   string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("entry %d %q: %s (want host[:port][ semisync], e.g. db-2.example.com:3306 semisync)", e.Line, e.Entry, e.Msg)
}

// Unwrap lets errors.Is match ErrSyntax.
func (e *ParseError) Unwrap() error { return ErrSyntax }

// ParseList parses the comma-separated form of SIDECAR_EXPECTED_REPLICAS.
// Empty items (e.g. a trailing comma) are ignored.
func ParseList(s string) ([]Entry, error) {
	var out []Entry
	var errs []error
	for i, item := range strings.Split(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		e, err := parseEntry(item, i+1)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, checkDuplicates(out)
}

// Parse reads the file form: one entry a line; `#` starts a comment.
func Parse(r io.Reader) ([]Entry, error) {
	var out []Entry
	var errs []error
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := parseEntry(line, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, checkDuplicates(out)
}

func parseEntry(text string, line int) (Entry, error) {
	fields := strings.Fields(text)
	bad := func(msg string) (Entry, error) {
		return Entry{}, &ParseError{Line: line, Entry: strings.TrimSpace(text), Msg: msg}
	}
	if len(fields) > 2 {
		return bad("too many words")
	}
	e := Entry{Port: DefaultPort, Line: line}
	if len(fields) == 2 {
		if !strings.EqualFold(fields[1], "semisync") {
			return bad(fmt.Sprintf("unknown flag %q, only \"semisync\" is allowed", fields[1]))
		}
		e.SemiSync = true
	}
	addr := fields[0]
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: a bare host name, an IP address, or a bracketed IPv6
		// address (brackets around anything else, e.g. a my.cnf group
		// header pasted by mistake, are refused).
		host = addr
		if strings.HasPrefix(addr, "[") && strings.HasSuffix(addr, "]") {
			host = addr[1 : len(addr)-1]
			if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
				return bad("brackets are only for IPv6 addresses")
			}
		}
		if strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return bad("malformed address")
		}
	} else {
		p, perr := strconv.Atoi(port)
		if perr != nil || p < 1 || p > 65535 {
			return bad(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
		}
		e.Port = p
	}
	if !validHost(host) {
		return bad(fmt.Sprintf("host %q is not a host name or IP address", host))
	}
	e.Host = host
	return e, nil
}

// validHost accepts IP addresses and RFC 1123 host names.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checkDuplicates rejects an address listed twice: it would make one replica
// count as two expected ones.
func checkDuplicates(entries []Entry) error {
	seen := make(map[string]int, len(entries))
	var errs []error
	for _, e := range entries {
		key := strings.ToLower(e.Addr())
		if first, ok := seen[key]; ok {
			errs = append(errs, &ParseError{Line: e.Line, Entry: e.Addr(), Msg: fmt.Sprintf("listed twice (first at entry %d)", first)})
			continue
		}
		seen[key] = e.Line
	}
	return errors.Join(errs...)
}
