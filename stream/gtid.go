package stream

import (
	"encoding/hex"
	"strconv"
)

// GTIDKind says which server family a GTID comes from.
type GTIDKind uint8

// GTID kinds.
const (
	GTIDNone GTIDKind = iota
	GTIDMariaDB
	GTIDMySQL
)

// GTID is one transaction's global id in a compact, comparable form. The
// binlog adapter fills it on the hot path without allocating; the string
// form is built only when a reader asks for it.
type GTID struct {
	Kind GTIDKind
	// Domain and Server are MariaDB's domain_id and server_id.
	Domain uint32
	Server uint32
	// Seq is MariaDB's seq_no or MySQL's GNO.
	Seq uint64
	// SID is the MySQL source UUID.
	SID [16]byte
	// Tag is a MySQL 8.4 tagged GTID's tag (GTID_TAGGED_LOG_EVENT), empty
	// for an untagged one: uuid:tag:gno and uuid:gno are different
	// transactions, each tag numbering its own GNOs. The binlog adapter sets
	// it only for tagged events, which are rare, so the untagged hot path
	// still never allocates.
	Tag string
}

// String renders the GTID as the server prints it: MariaDB
// "domain-server-seq", MySQL "uuid:gno" or, tagged, "uuid:tag:gno";
// empty for GTIDNone.
func (g GTID) String() string {
	switch g.Kind {
	case GTIDMariaDB:
		b := make([]byte, 0, 32)
		b = strconv.AppendUint(b, uint64(g.Domain), 10)
		b = append(b, '-')
		b = strconv.AppendUint(b, uint64(g.Server), 10)
		b = append(b, '-')
		b = strconv.AppendUint(b, g.Seq, 10)
		return string(b)
	case GTIDMySQL:
		var u [36]byte
		hex.Encode(u[0:8], g.SID[0:4])
		u[8] = '-'
		hex.Encode(u[9:13], g.SID[4:6])
		u[13] = '-'
		hex.Encode(u[14:18], g.SID[6:8])
		u[18] = '-'
		hex.Encode(u[19:23], g.SID[8:10])
		u[23] = '-'
		hex.Encode(u[24:], g.SID[10:16])
		if g.Tag != "" {
			return string(u[:]) + ":" + g.Tag + ":" + strconv.FormatUint(g.Seq, 10)
		}
		return string(u[:]) + ":" + strconv.FormatUint(g.Seq, 10)
	}
	return ""
}
