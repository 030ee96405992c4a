package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Format versions: the first byte of each encoded value. A decoder refuses versions
// it does not know, so a downgrade fails loudly instead of misreading data.
const (
	// recordFormat 2 added the hibernation reason; records of format 1
	// (without it) still decode.
	recordFormat  = 2
	versionFormat = 1
	alarmFormat   = 1
)

// errMalformed is wrapped by every decoding error.
var errMalformed = errors.New("malformed")

// encoder appends values to a byte slice.
type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *encoder) string(s string)  { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }

// time writes t as varint Unix seconds and uvarint nanoseconds, which covers every
// time.Time, the zero one included; the location is not kept.
func (e *encoder) time(t time.Time) {
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

// decoder reads values from a byte slice; the first error sticks and later reads
// return zero values, so callers check err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at %d bytes from the end", errMalformed, what, len(d.b))
	}
	d.b = nil
}

func (d *decoder) byte1(what string) byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number of items each taking at least minSize bytes, refusing counts
// the remaining input cannot hold; so slices sized by it stay bounded by the input.
func (d *decoder) count(what string, minSize int) int {
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.fail(what + " count")
		return 0
	}
	return int(n)
}

// raw returns the next length-prefixed bytes without copying; nil when empty.
func (d *decoder) raw(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what + " length")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	if n == 0 {
		return nil
	}
	return p
}

// bytes returns a copy of the next length-prefixed bytes; nil when empty.
func (d *decoder) bytes(what string) []byte {
	p := d.raw(what)
	if p == nil {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) string(what string) string { return string(d.raw(what)) }

// time is the inverse of encoder.time; the result is in UTC, and the zero time
// decodes as time.Time{}.
func (d *decoder) time(what string) time.Time {
	sec := d.varint(what)
	nsec := d.uvarint(what)
	if d.err == nil && nsec >= 1e9 {
		d.fail(what + " nanoseconds")
	}
	if d.err != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) format(what string, want byte) {
	if v := d.byte1(what + " format"); d.err == nil && v != want {
		d.err = fmt.Errorf("%w: %s format %d, want %d", errMalformed, what, v, want)
	}
}

// end fails if input remains: trailing bytes mean a format this code does not know.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

// encodeObjectRecord encodes r as: format byte, version, snapshot, conns (count, then
// id, attachment, tags), auto-responses (count, then request, response), failed,
// hibernated, last event. Bytes and strings are uvarint length + bytes.
func encodeObjectRecord(r ObjectRecord) []byte {
	e := encoder{b: make([]byte, 0, 64+len(r.Snapshot))}
	e.b = append(e.b, recordFormat)
	e.string(r.Version)
	e.bytes(r.Snapshot)
	e.uvarint(uint64(len(r.Conns)))
	for _, c := range r.Conns {
		e.uvarint(c.ID)
		e.bytes(c.Attachment)
		e.uvarint(uint64(len(c.Tags)))
		for _, t := range c.Tags {
			e.string(t)
		}
	}
	e.uvarint(uint64(len(r.AutoResponses)))
	for _, a := range r.AutoResponses {
		e.bytes(a.Request)
		e.bytes(a.Response)
	}
	e.string(r.Failed)
	e.time(r.Hibernated)
	e.time(r.LastEvent)
	e.string(r.HibernatedWhy)
	return e.b
}

// decodeObjectRecord is the inverse of encodeObjectRecord. It returns an error for
// any malformed input, never panics, and allocates at most in proportion to len(b).
// Empty byte fields decode as nil, times as UTC.
func decodeObjectRecord(b []byte) (ObjectRecord, error) {
	d := decoder{b: b}
	var r ObjectRecord
	format := d.byte1("record format")
	if d.err == nil && (format < 1 || format > recordFormat) {
		d.err = fmt.Errorf("%w: record format %d, want 1 to %d", errMalformed, format, recordFormat)
	}
	r.Version = d.string("version")
	r.Snapshot = d.bytes("snapshot")
	if n := d.count("conns", 3); n > 0 { // id, attachment length, tag count
		r.Conns = make([]ConnRecord, n)
		for i := range r.Conns {
			c := &r.Conns[i]
			c.ID = d.uvarint("conn id")
			c.Attachment = d.bytes("attachment")
			if nt := d.count("tags", 1); nt > 0 {
				c.Tags = make([]string, nt)
				for j := range c.Tags {
					c.Tags[j] = d.string("tag")
				}
			}
		}
	}
	if n := d.count("auto-responses", 2); n > 0 {
		r.AutoResponses = make([]AutoResponse, n)
		for i := range r.AutoResponses {
			r.AutoResponses[i].Request = d.bytes("auto-response request")
			r.AutoResponses[i].Response = d.bytes("auto-response response")
		}
	}
	r.Failed = d.string("failed")
	r.Hibernated = d.time("hibernated")
	r.LastEvent = d.time("last event")
	if format >= 2 {
		r.HibernatedWhy = d.string("hibernation reason")
	}
	if err := d.end(); err != nil {
		return ObjectRecord{}, fmt.Errorf("decode object record: %w", err)
	}
	return r, nil
}

// versionMeta is what a version key holds; name, sha and Active come from elsewhere.
type versionMeta struct {
	size    int64
	created time.Time
}

func encodeVersionMeta(m versionMeta) []byte {
	e := encoder{b: []byte{versionFormat}}
	e.uvarint(uint64(m.size))
	e.time(m.created)
	return e.b
}

func decodeVersionMeta(b []byte) (versionMeta, error) {
	d := decoder{b: b}
	d.format("plugin version", versionFormat)
	size := d.uvarint("size")
	m := versionMeta{created: d.time("created")}
	if err := d.end(); err != nil {
		return versionMeta{}, fmt.Errorf("decode plugin version: %w", err)
	}
	if size > math.MaxInt64 {
		return versionMeta{}, fmt.Errorf("decode plugin version: %w: size %d", errMalformed, size)
	}
	m.size = int64(size)
	return m, nil
}

// encodeAlarm encodes the per-object alarm value: format, u64 Unix ms, uvarint retry.
func encodeAlarm(ms int64, retry int) []byte {
	b := make([]byte, 9, 9+binary.MaxVarintLen64)
	b[0] = alarmFormat
	binary.BigEndian.PutUint64(b[1:], uint64(ms))
	return binary.AppendUvarint(b, uint64(max(retry, 0)))
}

func decodeAlarm(b []byte) (ms int64, retry int, err error) {
	d := decoder{b: b}
	d.format("alarm", alarmFormat)
	if d.err == nil && len(d.b) < 8 {
		d.fail("alarm time")
	}
	if d.err == nil {
		ms = int64(binary.BigEndian.Uint64(d.b))
		d.b = d.b[8:]
	}
	r := d.uvarint("retry")
	if err := d.end(); err != nil {
		return 0, 0, fmt.Errorf("decode alarm: %w", err)
	}
	if r > math.MaxInt32 {
		return 0, 0, fmt.Errorf("decode alarm: %w: retry %d", errMalformed, r)
	}
	return ms, int(r), nil
}
