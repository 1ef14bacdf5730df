package stream

import (
	"strconv"
	"strings"
)

// String renders the position as FILE:POS, the form SIDECAR_START accepts.
func (p Position) String() string {
	if p.File == "" {
		return ""
	}
	return p.File + ":" + strconv.FormatUint(uint64(p.Pos), 10)
}

// Compare orders two positions: -1 when p is before q, 0 when equal, +1
// when after. Files compare by their numeric extension (mysql-bin.000010
// comes after mysql-bin.000009 even when the extension grows a digit);
// names without one, or with different base names, compare as strings. An
// empty file sorts first. GTIDs are ignored: they are not ordered across
// domains.
func (p Position) Compare(q Position) int {
	if c := CompareFiles(p.File, q.File); c != 0 {
		return c
	}
	switch {
	case p.Pos < q.Pos:
		return -1
	case p.Pos > q.Pos:
		return 1
	}
	return 0
}

// CompareFiles orders binlog file names by their numeric extension; see
// Position.Compare.
func CompareFiles(a, b string) int {
	if a == b {
		return 0
	}
	if a == "" {
		return -1
	}
	if b == "" {
		return 1
	}
	abase, aseq, aok := splitFile(a)
	bbase, bseq, bok := splitFile(b)
	if aok && bok && abase == bbase {
		switch {
		case aseq < bseq:
			return -1
		case aseq > bseq:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

// splitFile splits "p1-bin.000012" into ("p1-bin", 12, true).
func splitFile(name string) (base string, seq uint64, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return name, 0, false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	if err != nil {
		return name, 0, false
	}
	return name[:i], n, true
}
