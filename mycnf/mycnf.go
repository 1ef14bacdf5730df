package mycnf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/binlog-sidecar/binlog-sidecar/internal/regfile"
)

// MaxIncludeDepth is how deep !include nesting may go. The server silently
// skips files nested deeper, which would hide their options from it, so the
// reader refuses instead.
const MaxIncludeDepth = 10

// Option is one name=value line of an option file.
type Option struct {
	Group    string // group it appeared in, lower case: "mysqld", "mariadb-10.11"
	Key      string // canonical name: lower case, '_' for '-', without loose_: "skip_log_bin"
	Name     string // Key without a skip_/disable_/enable_ prefix: "log_bin"
	Prefix   string // "skip", "disable", "enable" or ""
	Raw      string // name as written: "loose-skip-log-bin"
	Value    string // value without quotes and escapes; "" when bare
	HasValue bool   // false for a bare option such as "log-bin"
	Loose    bool   // written with loose-/loose_: the server ignores it when unknown
	File     string
	Line     int
}

// Where is "file:line", for messages.
func (o Option) Where() string { return fmt.Sprintf("%s:%d", o.File, o.Line) }

// Bool reads the option as the server reads a boolean: a bare option is ON,
// skip- and disable- turn it OFF, and a value is one of ON/OFF, 1/0,
// TRUE/FALSE, YES/NO in any case.
func (o Option) Bool() (bool, error) {
	v := true
	if o.HasValue {
		b, err := ParseBool(o.Value)
		if err != nil {
			return false, fmt.Errorf("%s: %s: %w", o.Where(), o.Raw, err)
		}
		v = b
	}
	if o.Prefix == "skip" || o.Prefix == "disable" {
		v = !v
	}
	return v, nil
}

// Uint reads the option as an unsigned number with an optional K, M, G, T,
// P or E suffix (powers of 1024), as the server reads sizes.
func (o Option) Uint() (uint64, error) {
	n, err := ParseUint(o.Value)
	if err != nil {
		return 0, fmt.Errorf("%s: %s: %w", o.Where(), o.Raw, err)
	}
	return n, nil
}

// ErrNotBool and ErrNotNumber say a value has the wrong form.
var (
	ErrNotBool   = errors.New("not a boolean (ON/OFF, 1/0, TRUE/FALSE, YES/NO)")
	ErrNotNumber = errors.New("not a number (digits with an optional K, M, G suffix)")
)

// ParseBool accepts the boolean spellings of the server's option parser.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "on", "1", "true", "yes":
		return true, nil
	case "off", "0", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q: %w", s, ErrNotBool)
}

// ParseUint accepts digits with an optional size suffix: 64K, 16M, 1G.
func ParseUint(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	mult := uint64(1)
	if s != "" {
		if i := strings.IndexByte("kmgtpe", lower(s[len(s)-1])); i >= 0 {
			mult = 1 << (10 * (i + 1))
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > ^uint64(0)/mult {
		return 0, fmt.Errorf("%q: %w", s, ErrNotNumber)
	}
	return n * mult, nil
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Canonical is the name the server matches on: lower case, with '_' for '-'.
func Canonical(name string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "_")
}

// Set is the options one server reads, in the order it reads them.
type Set []Option

// Lookup returns the option that sets any of names last, so that of two
// aliases (log_slave_updates, log_replica_updates) the later line wins as it
// does in the server. A name matches its own key and its skip_/disable_/
// enable_ forms: Lookup("log_bin") finds "skip-log-bin", whose Bool is false,
// while Lookup("skip_name_resolve") finds "skip-name-resolve" as an option
// of that name, whose Bool is true.
func (s Set) Lookup(names ...string) (Option, bool) {
	for i := range names {
		names[i] = Canonical(names[i])
	}
	for i := len(s) - 1; i >= 0; i-- {
		for _, n := range names {
			o := s[i]
			if o.Key == n {
				// Matched as written (skip_name_resolve is an option of its
				// own), so the prefix is part of the name, not a negation.
				o.Name, o.Prefix = o.Key, ""
				return o, true
			}
			if o.Name == n {
				return o, true
			}
		}
	}
	return Option{}, false
}

// File is an option file with everything it includes.
type File struct {
	Path    string
	Options []Option // every option of every group, in read order
	Files   []string // every file read, the top one first
}

// Set returns the options of the groups keep accepts, in read order.
func (f *File) Set(keep func(group string) bool) Set {
	var s Set
	for _, o := range f.Options {
		if keep(o.Group) {
			s = append(s, o)
		}
	}
	return s
}

// Groups lists the distinct groups that hold options, in order of first use.
func (f *File) Groups() []string {
	var gs []string
	seen := map[string]bool{}
	for _, o := range f.Options {
		if !seen[o.Group] {
			seen[o.Group] = true
			gs = append(gs, o.Group)
		}
	}
	return gs
}

// Error is a problem at a line of an option file. Err is set when the
// problem is an I/O error (an include that cannot be read).
//
// Msg never quotes the line: a file that is not an option file at all
// (!include /etc/shadow, /proc/self/environ) would otherwise print its
// secrets in the error. File and line are enough to find it.
type Error struct {
	File string
	Line int
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// FS is what the reader needs to follow !include and !includedir.
type FS interface {
	ReadFile(name string) ([]byte, error)
	ReadDir(name string) ([]fs.DirEntry, error)
}

type osFS struct{}

func (osFS) ReadFile(name string) ([]byte, error)       { return regfile.ReadFile(name) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// OS reads the machine's own files: regular files only, each at most
// regfile.MaxSize, so that an include of a named pipe or /dev/zero fails
// at once instead of hanging or growing without bound.
var OS FS = osFS{}

// Load reads the option file at path and everything it includes.
func Load(path string) (*File, error) {
	data, err := regfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read option file: %w", err)
	}
	return Parse(path, data, OS)
}

// Parse reads an option file held in data. name is used in messages and to
// resolve relative include paths (against name's directory; the server would
// use its working directory, which a validator cannot know). fsys follows the
// includes; with a nil fsys any include is an error.
func Parse(name string, data []byte, fsys FS) (*File, error) {
	p := &parser{fsys: fsys, out: &File{Path: name}}
	if err := p.file(name, data); err != nil {
		return nil, err
	}
	return p.out, nil
}

type parser struct {
	fsys  FS
	stack []string // files being read, outermost first
	out   *File
}

func (p *parser) file(name string, data []byte) error {
	p.stack = append(p.stack, name)
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	p.out.Files = append(p.out.Files, name)

	// Each file starts outside any group, as in the server: an included file
	// does not inherit the includer's group.
	group, inGroup := "", false
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		errorf := func(format string, a ...any) error {
			return &Error{File: name, Line: n, Msg: fmt.Sprintf(format, a...)}
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '!':
			if err := p.directive(name, n, line); err != nil {
				return err
			}
		case line[0] == '[':
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return errorf("group header without ']'")
			}
			group, inGroup = strings.ToLower(strings.TrimSpace(line[1:end])), true
			if group == "" {
				return errorf("empty group name")
			}
		case !inGroup:
			return errorf("option before any [group] (is this an option file?)")
		default:
			o, err := option(line)
			if err != nil {
				return errorf("%v", err)
			}
			o.Group, o.File, o.Line = group, name, n
			p.out.Options = append(p.out.Options, o)
		}
	}
	return nil
}

// directive follows !include FILE and !includedir DIR. The path is the rest
// of the line, comments included, exactly as the server takes it.
func (p *parser) directive(name string, n int, line string) error {
	kw, arg := line, ""
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		kw, arg = line[:i], strings.TrimSpace(line[i:])
	}
	fail := func(err error, format string, a ...any) error {
		return &Error{File: name, Line: n, Msg: fmt.Sprintf(format, a...), Err: err}
	}
	if kw != "!include" && kw != "!includedir" {
		return fail(nil, "unknown directive, not !include or !includedir (the server would skip the line)")
	}
	if arg == "" {
		return fail(nil, "%s without a path", kw)
	}
	if p.fsys == nil {
		return fail(nil, "%s %s: includes are not followed here", kw, arg)
	}
	if len(p.stack) > MaxIncludeDepth {
		return fail(nil, "%s %s: nested deeper than %d (the server ignores it)", kw, arg, MaxIncludeDepth)
	}
	if !filepath.IsAbs(arg) {
		arg = filepath.Join(filepath.Dir(name), arg)
	}
	files := []string{arg}
	if kw == "!includedir" {
		ents, err := p.fsys.ReadDir(arg)
		if err != nil {
			return fail(err, "%s %s", kw, arg)
		}
		files = files[:0]
		for _, e := range ents {
			// The server reads only *.cnf files of the directory (on Unix), in name order.
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".cnf") {
				files = append(files, filepath.Join(arg, e.Name()))
			}
		}
		sort.Strings(files)
	}
	for _, f := range files {
		for _, open := range p.stack {
			if filepath.Clean(open) == filepath.Clean(f) {
				return fail(nil, "%s %s: include cycle (%s is already being read)", kw, f, open)
			}
		}
		data, err := p.fsys.ReadFile(f)
		if err != nil {
			return fail(err, "%s %s", kw, f)
		}
		if err := p.file(f, data); err != nil {
			return err
		}
	}
	return nil
}

// option parses "name", "name = value" or "name = 'quoted value'" the way
// the server's option file reader does.
func option(line string) (Option, error) {
	line = cutComment(line)
	raw, value, hasValue := strings.Cut(line, "=")
	raw = strings.TrimSpace(raw)
	o := Option{Raw: raw, HasValue: hasValue}
	if hasValue {
		o.Value = unquote(strings.TrimSpace(value))
	}
	key := Canonical(raw)
	if k, ok := strings.CutPrefix(key, "loose_"); ok {
		key, o.Loose = k, true
	}
	if key == "" {
		return o, errors.New("option without a name")
	}
	o.Key, o.Name = key, key
	for _, pre := range []string{"skip", "disable", "enable"} {
		if rest, ok := strings.CutPrefix(key, pre+"_"); ok && rest != "" {
			o.Prefix, o.Name = pre, rest
			break
		}
	}
	return o, nil
}

// cutComment drops a '#' comment that is outside quotes, as the server's
// remove_end_comment does.
func cutComment(s string) string {
	var quote byte
	escape := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c == '\'' || c == '"') && !escape {
			switch quote {
			case 0:
				quote = c
			case c:
				quote = 0
			}
		}
		if quote == 0 && c == '#' {
			return s[:i]
		}
		escape = quote != 0 && c == '\\' && !escape
	}
	return s
}

// unquote strips one pair of matching quotes and resolves the server's
// escapes (\n \t \r \b \s \" \' \\); an unknown escape keeps its backslash.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' || i == len(v)-1 {
			b.WriteByte(v[i])
			continue
		}
		i++
		switch c := v[i]; c {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 's':
			b.WriteByte(' ')
		case '"', '\'', '\\':
			b.WriteByte(c)
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}
