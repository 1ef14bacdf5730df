package binlog

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// rowsEvent is the header of a rows event and its row images.
type rowsEvent struct {
	tableID uint64
	ncols   int
	bm1     []byte // columns present in the before (or only) image
	bm2     []byte // columns present in the after image of an update
	data    []byte // the row images
}

var errRowsShort = errors.New("rows event too short")

// decodeRowsEvent splits a rows event body (after the header, checksum
// removed) into its header fields and row data.
func decodeRowsEvent(body []byte, kind rowsKind, idSize int) (rowsEvent, error) {
	var ev rowsEvent
	if len(body) < idSize+2 {
		return ev, errRowsShort
	}
	ev.tableID = leUint(body, idSize)
	p := idSize + 2 // flags
	if kind.v2 {
		if len(body) < p+2 {
			return ev, errRowsShort
		}
		extra := int(binary.LittleEndian.Uint16(body[p:])) // includes its own 2 bytes
		if extra < 2 {
			extra = 2
		}
		p += extra
	}
	if p > len(body) {
		return ev, errRowsShort
	}
	ncols, n := lenencInt(body[p:])
	if n == 0 {
		return ev, errRowsShort
	}
	p += n
	bm := int((ncols + 7) / 8)
	need := bm
	if kind.update {
		need += bm
	}
	if ncols > 1<<16 || p+need > len(body) {
		return ev, errRowsShort
	}
	ev.ncols = int(ncols)
	ev.bm1 = body[p : p+bm]
	p += bm
	if kind.update {
		ev.bm2 = body[p : p+bm]
		p += bm
	}
	ev.data = body[p:]
	return ev, nil
}

// rowWalker counts the rows of rows events by stepping over each value
// with the column specs of the table map: no value is decoded and nothing
// is allocated once its scratch slices have grown. It is the reason the
// sidecar can measure rows at close to raw-stream speed.
type rowWalker struct {
	present1, present2 []colSpec
	inflated           []byte
}

var errRowImage = errors.New("row image overruns its event")

// count returns the number of rows in ev; an UPDATE row (before and after
// image) counts one.
func (w *rowWalker) count(ev rowsEvent, ti *tableInfo, kind rowsKind) (int, error) {
	if ti.err != nil {
		return 0, ti.err
	}
	if ev.ncols > len(ti.cols) {
		return 0, fmt.Errorf("rows event has %d columns, table map %d", ev.ncols, len(ti.cols))
	}
	data := ev.data
	if kind.compressed {
		var err error
		if data, err = w.inflate(data); err != nil {
			return 0, err
		}
	}
	cols1 := presentCols(ti.cols[:ev.ncols], ev.bm1, &w.present1)
	var cols2 []colSpec
	if kind.update {
		cols2 = presentCols(ti.cols[:ev.ncols], ev.bm2, &w.present2)
	}
	rows, p := 0, 0
	var err error
	for p < len(data) {
		if p, err = walkImage(data, p, cols1); err != nil {
			return rows, err
		}
		if kind.update {
			if kind.partial {
				if p, err = skipPartialHeader(data, p, ti.jsonCols); err != nil {
					return rows, err
				}
			}
			if p, err = walkImage(data, p, cols2); err != nil {
				return rows, err
			}
		}
		rows++
	}
	return rows, nil
}

// canaryRow reads the first two columns (sequence number and write time
// in microseconds, both BIGINT) of the first row of a canary rows event:
// the after image of an update, the only image otherwise. ok is false when
// either column is absent (a minimal row image without it) or NULL.
func (w *rowWalker) canaryRow(ev rowsEvent, ti *tableInfo, kind rowsKind) (seq uint64, us int64, ok bool) {
	if ti.err != nil || ev.ncols < 2 || ev.ncols > len(ti.cols) {
		return 0, 0, false
	}
	data := ev.data
	if kind.compressed {
		var err error
		if data, err = w.inflate(data); err != nil {
			return 0, 0, false
		}
	}
	p, bm := 0, ev.bm1
	if kind.update {
		var err error
		if p, err = walkImage(data, 0, presentCols(ti.cols[:ev.ncols], ev.bm1, &w.present1)); err != nil {
			return 0, 0, false
		}
		if kind.partial {
			if p, err = skipPartialHeader(data, p, ti.jsonCols); err != nil {
				return 0, 0, false
			}
		}
		bm = ev.bm2
	}
	if len(bm) == 0 || bm[0]&3 != 3 {
		return 0, 0, false
	}
	nb := (bits(bm, ev.ncols) + 7) / 8
	if p+nb+16 > len(data) || data[p]&3 != 0 {
		return 0, 0, false
	}
	p += nb
	return binary.LittleEndian.Uint64(data[p:]), int64(binary.LittleEndian.Uint64(data[p+8:])), true
}

// bits counts the columns set in the first n bits of bitmap.
func bits(bitmap []byte, n int) int {
	c := 0
	for i := 0; i < n; i++ {
		if bitmap[i>>3]&(1<<(i&7)) != 0 {
			c++
		}
	}
	return c
}

// presentCols returns the specs of the columns set in bitmap: all of cols
// when every column is present (a FULL row image, the common case), else
// the subset, built in *scratch.
func presentCols(cols []colSpec, bitmap []byte, scratch *[]colSpec) []colSpec {
	n := len(cols)
	full := true
	for i := 0; i < n/8; i++ {
		if bitmap[i] != 0xff {
			full = false
			break
		}
	}
	if full && n%8 != 0 {
		mask := byte(1)<<(n%8) - 1
		full = bitmap[n/8]&mask == mask
	}
	if full {
		return cols
	}
	s := (*scratch)[:0]
	for i := 0; i < n; i++ {
		if bitmap[i>>3]&(1<<(i&7)) != 0 {
			s = append(s, cols[i])
		}
	}
	*scratch = s
	return s
}

// walkImage steps over one row image starting at p and returns the offset
// after it: the NULL bitmap of the present columns, then each non-NULL value.
func walkImage(data []byte, p int, cols []colSpec) (int, error) {
	nb := (len(cols) + 7) / 8
	if p+nb > len(data) {
		return p, errRowImage
	}
	nulls := data[p : p+nb]
	p += nb
	for j, c := range cols {
		if nulls[j>>3]&(1<<(j&7)) != 0 {
			continue
		}
		if c.prefix == 0 {
			p += int(c.fixed)
			continue
		}
		if p+int(c.prefix) > len(data) {
			return p, errRowImage
		}
		var l int
		switch c.prefix {
		case 1:
			l = int(data[p])
		case 2:
			l = int(binary.LittleEndian.Uint16(data[p:]))
		case 3:
			l = int(data[p]) | int(data[p+1])<<8 | int(data[p+2])<<16
		default:
			l = int(binary.LittleEndian.Uint32(data[p:]))
		}
		p += int(c.prefix) + l
	}
	if p > len(data) {
		return p, errRowImage
	}
	return p, nil
}

// skipPartialHeader steps over what MySQL's PARTIAL_UPDATE_ROWS_EVENT puts
// before an after image: binlog_row_value_options and, when partial JSON
// updates are on, a bitmap over the table's JSON columns. The partial JSON
// values themselves are length-prefixed like whole ones.
func skipPartialHeader(data []byte, p, jsonCols int) (int, error) {
	opts, n := lenencInt(data[p:])
	if n == 0 {
		return p, errRowImage
	}
	p += n
	if opts&1 != 0 {
		p += (jsonCols + 7) / 8
	}
	if p > len(data) {
		return p, errRowImage
	}
	return p, nil
}

// inflate decompresses a MariaDB compressed row body (log_bin_compress):
// one byte whose low 3 bits give the size of the big-endian uncompressed
// length that follows, then a zlib stream. The buffer is reused.
func (w *rowWalker) inflate(b []byte) ([]byte, error) {
	if len(b) < 1 {
		return nil, errRowsShort
	}
	hs := int(b[0] & 0x07)
	if hs < 1 || hs > 4 || len(b) < 1+hs {
		return nil, errRowsShort
	}
	var size uint64
	for _, c := range b[1 : 1+hs] {
		size = size<<8 | uint64(c)
	}
	if size > 1<<30 {
		return nil, fmt.Errorf("compressed rows claim %d bytes", size)
	}
	r, err := zlib.NewReader(bytes.NewReader(b[1+hs:]))
	if err != nil {
		return nil, fmt.Errorf("inflate rows: %w", err)
	}
	defer r.Close()
	if cap(w.inflated) < int(size) {
		w.inflated = make([]byte, size)
	}
	w.inflated = w.inflated[:size]
	if _, err := io.ReadFull(r, w.inflated); err != nil {
		return nil, fmt.Errorf("inflate rows: %w", err)
	}
	return w.inflated, nil
}
