package inventory

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strconv"
	"strings"

	"github.com/binlog-sidecar/binlog-sidecar/internal/regfile"
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

// ParseError names the entry that could not be parsed and what was
// expected. It never carries the entry's text: an inventory path pointed at
// the wrong file (/etc/shadow, a password file) would otherwise copy that
// file's content into logs and the unauthenticated /status. The file and
// line are enough to find it.
type ParseError struct {
	File  string // the file, empty for the comma-separated list
	Line  int    // line (file) or position (list), 1-based
	Msg   string
	First int // for an address listed twice: where it was first
}

func (e *ParseError) Error() string {
	where, unit := fmt.Sprintf("entry %d", e.Line), "entry"
	if e.File != "" {
		where, unit = fmt.Sprintf("%s:%d", e.File, e.Line), "line"
	}
	if e.First > 0 {
		return fmt.Sprintf("%s: the same address as %s %d", where, unit, e.First)
	}
	return fmt.Sprintf("%s: %s (want host[:port][ semisync], e.g. db-2.example.com:3306 semisync)", where, e.Msg)
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
		e, err := parseEntry("", item, i+1)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, checkDuplicates("", out)
}

// Parse reads the file form: one entry a line; `#` starts a comment.
func Parse(r io.Reader) ([]Entry, error) { return parseFile("", r) }

// ReadFile reads and parses the inventory file at path. Only a regular file
// of at most regfile.MaxSize is read (a named pipe would block, a device
// never end), and errors cite path:line, never the content.
func ReadFile(path string) ([]Entry, error) {
	entries, _, _, err := readFile(path)
	return entries, err
}

// readFile is ReadFile that also returns the file's metadata and whether
// it holds a comment line (see Source on emptied inventories).
func readFile(path string) (entries []Entry, fi fs.FileInfo, commented bool, err error) {
	data, fi, err := regfile.ReadFileInfo(path)
	if err != nil {
		return nil, nil, false, fmt.Errorf("inventory file: %w", err)
	}
	entries, err = parseFile(path, bytes.NewReader(data))
	return entries, fi, hasComment(data), err
}

func hasComment(data []byte) bool {
	for _, line := range bytes.Split(data, []byte("\n")) {
		if l := bytes.TrimSpace(line); len(l) > 0 && l[0] == '#' {
			return true
		}
	}
	return false
}

func parseFile(name string, r io.Reader) ([]Entry, error) {
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
		e, err := parseEntry(name, line, n)
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
	return out, checkDuplicates(name, out)
}

func parseEntry(file, text string, line int) (Entry, error) {
	fields := strings.Fields(text)
	bad := func(msg string) (Entry, error) {
		return Entry{}, &ParseError{File: file, Line: line, Msg: msg}
	}
	if len(fields) > 2 {
		return bad("too many words")
	}
	e := Entry{Port: DefaultPort, Line: line}
	if len(fields) == 2 {
		if !strings.EqualFold(fields[1], "semisync") {
			return bad("unknown flag after the address, only \"semisync\" is allowed")
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
			return bad("port is not a number from 1 to 65535")
		}
		e.Port = p
	}
	if !validHost(host) {
		return bad("host is not a host name (RFC 1123: letters, digits, '-' and '.') or an IP address")
	}
	e.Host = host
	return e, nil
}

// validHost accepts IP addresses and RFC 1123 host names: labels of 1–63
// letters, digits and inner hyphens, 253 characters in all, and a last
// label that is not all digits (RFC 3696: "999.1" is no name). Strict on
// purpose: a file that is not an inventory (a password, a shadow line)
// should fail here rather than become a replica name in events.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	h = strings.TrimSuffix(h, ".") // a fully qualified name may end in a dot
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

// checkDuplicates rejects an address listed twice: it would make one replica
// count as two expected ones.
func checkDuplicates(file string, entries []Entry) error {
	seen := make(map[string]int, len(entries))
	var errs []error
	for _, e := range entries {
		key := strings.ToLower(e.Addr())
		if first, ok := seen[key]; ok {
			errs = append(errs, &ParseError{File: file, Line: e.Line, First: first})
			continue
		}
		seen[key] = e.Line
	}
	return errors.Join(errs...)
}
