package binlog

import (
	"bytes"
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
	if n, ok := noMetaWidth(t); ok {
		return colSpec{fixed: n}, 0, nil
	}
	switch used = metaSize(t); {
	case used == 0:
		return colSpec{}, 0, fmt.Errorf("%w: %d", errUnsupportedType, t)
	case len(meta) < used:
		return colSpec{}, 0, errTableMapShort
	case used == 1:
		spec, err = oneByteMetaSpec(t, meta[0])
	default:
		spec, err = twoByteMetaSpec(t, meta[0], meta[1])
	}
	if err != nil {
		return colSpec{}, 0, err
	}
	return spec, used, nil
}

// noMetaWidth is the stored width of the types that have no table-map
// metadata; ok is false for the others.
func noMetaWidth(t byte) (width uint16, ok bool) {
	switch t {
	case typeTiny, typeYear:
		return 1, true
	case typeShort:
		return 2, true
	case typeInt24, typeDate, typeTime, typeNewDate:
		return 3, true
	case typeLong, typeTimestamp:
		return 4, true
	case typeLongLong, typeDatetime:
		return 8, true
	case typeNull:
		return 0, true
	}
	return 0, false
}

// metaSize is how many table-map metadata bytes a type with metadata has;
// 0 for a type not known here.
func metaSize(t byte) int {
	switch t {
	case typeFloat, typeDouble, typeTimestamp2, typeDatetime2, typeTime2,
		typeBlob, typeGeometry, typeJSON, typeVector, typeBlobCompressed:
		return 1
	case typeVarchar, typeVarString, typeVarcharCompressed, typeBit, typeNewDecimal,
		typeString, typeEnum, typeSet:
		return 2
	}
	return 0
}

// oneByteMetaSpec is the spec of a type with one metadata byte m.
func oneByteMetaSpec(t, m byte) (colSpec, error) {
	switch t {
	case typeFloat: // m is the storage size (4)
		return colSpec{fixed: 4}, nil
	case typeDouble:
		return colSpec{fixed: 8}, nil
	case typeTimestamp2: // m is the fractional digits, two per byte
		return colSpec{fixed: 4 + (uint16(m)+1)/2}, nil
	case typeDatetime2:
		return colSpec{fixed: 5 + (uint16(m)+1)/2}, nil
	case typeTime2:
		return colSpec{fixed: 3 + (uint16(m)+1)/2}, nil
	}
	// The blobs, JSON, geometry, vector: m is the length prefix size, 1 to 4 bytes.
	if m < 1 || m > 4 {
		return colSpec{}, fmt.Errorf("%w: blob length size %d", errUnsupportedType, m)
	}
	return colSpec{prefix: m}, nil
}

// twoByteMetaSpec is the spec of a type with two metadata bytes m0, m1.
func twoByteMetaSpec(t, m0, m1 byte) (colSpec, error) {
	switch t {
	case typeVarchar, typeVarString, typeVarcharCompressed:
		// The maximum length in bytes, little-endian.
		return colSpec{prefix: stringPrefix(int(m0) | int(m1)<<8)}, nil
	case typeBit:
		// Bits in the last byte, then whole bytes.
		nbits := uint16(m1)*8 + uint16(m0)
		return colSpec{fixed: (nbits + 7) / 8}, nil
	case typeNewDecimal:
		return colSpec{fixed: uint16(decimalSize(int(m0), int(m1)))}, nil
	case typeString:
		return stringSpec(m0, m1)
	}
	// ENUM and SET: not written as such by servers (they use STRING), but
	// the metadata layout is the same if one does: m1 is the pack length.
	return colSpec{fixed: uint16(m1)}, nil
}

// stringSpec is the spec of a STRING column from its metadata: the real
// type (with two bits of the length folded in when the length is over
// 255), then the length or pack size.
func stringSpec(b0, b1 byte) (colSpec, error) {
	real, length := b0, int(b1)
	switch {
	case b0 == 0:
		real = typeString
	case b0&0x30 != 0x30:
		// CHAR longer than 255 bytes: the real type is b0|0x30 and the
		// length's top bits are the complemented 0x30 bits.
		length = int(b1) | int((b0&0x30)^0x30)<<4
		real = b0 | 0x30
	}
	switch real {
	case typeEnum, typeSet:
		// Stored as its pack length (1 or 2 for ENUM, 1..8 for SET).
		return colSpec{fixed: uint16(b1)}, nil
	case typeString:
		return colSpec{prefix: stringPrefix(length)}, nil
	}
	return colSpec{}, fmt.Errorf("%w: STRING with real type %d", errUnsupportedType, real)
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
