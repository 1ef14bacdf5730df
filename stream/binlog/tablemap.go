package binlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Column type codes as they appear in TABLE_MAP events (MySQL field_types.h;
// MariaDB uses the same codes).
const (
	typeDecimal    = 0
	typeTiny       = 1
	typeShort      = 2
	typeLong       = 3
	typeFloat      = 4
	typeDouble     = 5
	typeNull       = 6
	typeTimestamp  = 7
	typeLongLong   = 8
	typeInt24      = 9
	typeDate       = 10
	typeTime       = 11
	typeDatetime   = 12
	typeYear       = 13
	typeNewDate    = 14
	typeVarchar    = 15
	typeBit        = 16
	typeTimestamp2 = 17
	typeDatetime2  = 18
	typeTime2      = 19
	// MariaDB's compressed columns (10.3+), as its table maps log them
	// (checked on the server: VARCHAR ... COMPRESSED is 141, BLOB ...
	// COMPRESSED is 140). The value is stored like VARCHAR's and BLOB's,
	// the compressed bytes behind the same length prefix.
	typeBlobCompressed    = 140
	typeVarcharCompressed = 141
	typeVector            = 242
	typeJSON              = 245
	typeNewDecimal        = 246
	typeEnum              = 247
	typeSet               = 248
	typeTinyBlob          = 249
	typeMediumBlob        = 250
	typeLongBlob          = 251
	typeBlob              = 252
	typeVarString         = 253
	typeString            = 254
	typeGeometry          = 255
)

// colSpec says how to step over one column's value in a row image: prefix
// bytes of little-endian length followed by that many bytes, or, when
// prefix is 0, exactly fixed bytes.
type colSpec struct {
	fixed  uint16
	prefix uint8
}

// tableInfo is what the row walker needs from a TABLE_MAP event. It is
// cached by table id and re-parsed only when the event's bytes change.
type tableInfo struct {
	raw      []byte // the table-map body last parsed, to detect changes
	schema   string
	table    string
	cols     []colSpec
	jsonCols int   // JSON columns, for partial-update bitmaps
	err      error // why rows of this table cannot be walked, if they cannot
	warned   bool  // err already logged
	// canary marks the canary's table (CanaryTable): its rows go to
	// Config.OnCanary. Decided once per table map parse, so other tables
	// pay one boolean test per rows event.
	canary bool
}

var errTableMapShort = errors.New("table map event too short")

// parseTableMap fills ti from a TABLE_MAP body (after the header, checksum
// removed) and returns the table id. Strings and slices of ti are reused
// when the names did not change. A column type the walker cannot step over
// is not an error of the event: it is kept in ti.err, so the table still
// gets its bytes counted.
func (ti *tableInfo) parse(body []byte, idSize int) (uint64, error) {
	if len(body) < idSize+2+1 {
		return 0, errTableMapShort
	}
	id := leUint(body, idSize)
	p := idSize + 2 // flags
	schema, p, ok := lenStr(body, p)
	if !ok {
		return 0, errTableMapShort
	}
	table, p, ok := lenStr(body, p)
	if !ok {
		return 0, errTableMapShort
	}
	ncols, n := lenencInt(body[p:])
	if n == 0 || uint64(len(body)-p-n) < ncols {
		return 0, errTableMapShort
	}
	p += n
	types := body[p : p+int(ncols)]
	p += int(ncols)
	metaLen, n := lenencInt(body[p:])
	if n == 0 || uint64(len(body)-p-n) < metaLen {
		return 0, errTableMapShort
	}
	p += n
	meta := body[p : p+int(metaLen)]

	if ti.schema != string(schema) {
		ti.schema = string(schema)
	}
	if ti.table != string(table) {
		ti.table = string(table)
	}
	ti.canary = ti.schema == CanarySchema && ti.table == CanaryTable &&
		len(types) >= 2 && types[0] == typeLongLong && types[1] == typeLongLong
	ti.raw = append(ti.raw[:0], body...)
	ti.cols = ti.cols[:0]
	ti.jsonCols = 0
	ti.err = nil
	ti.warned = false
	mp := 0
	for i, t := range types {
		spec, used, err := columnSpec(t, meta[mp:])
		if err != nil {
			ti.err = fmt.Errorf("column %d: %w", i+1, err)
			ti.cols = ti.cols[:0]
			break
		}
		mp += used
		if t == typeJSON {
			ti.jsonCols++
		}
		ti.cols = append(ti.cols, spec)
	}
	return id, nil
}

// matches reports whether body is the table map ti was parsed from.
func (ti *tableInfo) matches(body []byte) bool { return bytes.Equal(ti.raw, body) }

// lenStr reads a 1-byte-length string followed by a NUL.
func lenStr(b []byte, p int) ([]byte, int, bool) {
	if p >= len(b) {
		return nil, p, false
	}
	l := int(b[p])
	p++
	if p+l+1 > len(b) {
		return nil, p, false
	}
	return b[p : p+l], p + l + 1, true
}

var errUnsupportedType = errors.New("unsupported column type")

// columnSpec derives how to step over a value of column type t from its
// table-map metadata, and how many metadata bytes the type uses. It follows
// log_event_print_value in MySQL's sql/log_event.cc and MariaDB's
// Field::binlog_type/ save_field_metadata.
func columnSpec(t byte, meta []byte) (spec colSpec, used int, err error) {
	need := func(n int) bool { return len(meta) >= n }
	switch t {
	case typeTiny, typeYear:
		return colSpec{fixed: 1}, 0, nil
	case typeShort:
		return colSpec{fixed: 2}, 0, nil
	case typeInt24, typeDate, typeTime, typeNewDate:
		return colSpec{fixed: 3}, 0, nil
	case typeLong, typeTimestamp:
		return colSpec{fixed: 4}, 0, nil
	case typeLongLong, typeDatetime:
		return colSpec{fixed: 8}, 0, nil
	case typeNull:
		return colSpec{fixed: 0}, 0, nil
	case typeFloat, typeDouble:
		// Metadata is the storage size (4 or 8).
		if !need(1) {
			return colSpec{}, 0, errTableMapShort
		}
		if t == typeFloat {
			return colSpec{fixed: 4}, 1, nil
		}
		return colSpec{fixed: 8}, 1, nil
	case typeTimestamp2:
		if !need(1) {
			return colSpec{}, 0, errTableMapShort
		}
		return colSpec{fixed: 4 + (uint16(meta[0])+1)/2}, 1, nil
	case typeDatetime2:
		if !need(1) {
			return colSpec{}, 0, errTableMapShort
		}
		return colSpec{fixed: 5 + (uint16(meta[0])+1)/2}, 1, nil
	case typeTime2:
		if !need(1) {
			return colSpec{}, 0, errTableMapShort
		}
		return colSpec{fixed: 3 + (uint16(meta[0])+1)/2}, 1, nil
	case typeBlob, typeGeometry, typeJSON, typeVector, typeBlobCompressed:
		// Metadata is the length prefix size, 1 to 4 bytes.
		if !need(1) {
			return colSpec{}, 0, errTableMapShort
		}
		if meta[0] < 1 || meta[0] > 4 {
			return colSpec{}, 0, fmt.Errorf("%w: blob length size %d", errUnsupportedType, meta[0])
		}
		return colSpec{prefix: meta[0]}, 1, nil
	case typeVarchar, typeVarString, typeVarcharCompressed:
		// Metadata is the maximum length in bytes (2 bytes LE).
		if !need(2) {
			return colSpec{}, 0, errTableMapShort
		}
		return colSpec{prefix: stringPrefix(int(binary.LittleEndian.Uint16(meta)))}, 2, nil
	case typeBit:
		// Metadata: bits in the last byte, then whole bytes.
		if !need(2) {
			return colSpec{}, 0, errTableMapShort
		}
		nbits := uint16(meta[1])*8 + uint16(meta[0])
		return colSpec{fixed: (nbits + 7) / 8}, 2, nil
	case typeNewDecimal:
		if !need(2) {
			return colSpec{}, 0, errTableMapShort
		}
		return colSpec{fixed: uint16(decimalSize(int(meta[0]), int(meta[1])))}, 2, nil
	case typeString:
		// Metadata: real type (with two bits of the length folded in
		// when the length is over 255), then length or pack size.
		if !need(2) {
			return colSpec{}, 0, errTableMapShort
		}
		b0, b1 := meta[0], meta[1]
		real, length := b0, int(b1)
		switch {
		case b0 == 0:
			real = typeString
		case b0&0x30 != 0x30:
			// CHAR longer than 255 bytes: the real type is b0|0x30 and
			// the length's top bits are the complemented 0x30 bits.
			length = int(b1) | int((b0&0x30)^0x30)<<4
			real = b0 | 0x30
		}
		switch real {
		case typeEnum, typeSet:
			// Stored as its pack length (1 or 2 for ENUM, 1..8 for SET).
			return colSpec{fixed: uint16(b1)}, 2, nil
		case typeString:
			return colSpec{prefix: stringPrefix(length)}, 2, nil
		}
		return colSpec{}, 0, fmt.Errorf("%w: STRING with real type %d", errUnsupportedType, real)
	case typeEnum, typeSet:
		// Not written as such by servers (they use STRING), but the
		// metadata layout is the same if one does.
		if !need(2) {
			return colSpec{}, 0, errTableMapShort
		}
		return colSpec{fixed: uint16(meta[1])}, 2, nil
	}
	return colSpec{}, 0, fmt.Errorf("%w: %d", errUnsupportedType, t)
}

// stringPrefix is the length prefix of a string column whose maximum length
// in bytes is maxLen.
func stringPrefix(maxLen int) uint8 {
	if maxLen < 256 {
		return 1
	}
	return 2
}

// digitsToBytes is the storage of 0..9 leftover decimal digits.
var digitsToBytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

// decimalSize is the binary size of DECIMAL(precision, scale).
func decimalSize(precision, scale int) int {
	intg := precision - scale
	return intg/9*4 + digitsToBytes[intg%9] + scale/9*4 + digitsToBytes[scale%9]
}
