// Package datamerge coalesces a WebAssembly module's active data segments
// before it is compiled. Go's linker cuts a module's data wherever it finds a
// run of eight or more zero bytes, so a Go plugin carries 20,000 to 40,000
// data segments. wazero keeps a slice entry per segment in every instance and
// evaluates and copies the segments one by one when it instantiates: half a
// MiB of heap or more per instance and about a quarter of an activation's CPU.
// Merge joins neighbouring segments, filling the short gaps between them with
// the zeros they would have read anyway, so the same memory image comes from
// a handful of segments.
//
// The rewrite changes nothing a guest or the host can observe:
//
//   - Only consecutive segments (in section order) that are active in memory
//     0 at an i32.const offset join, and only while each starts at or past
//     the end of the one before it, so no write the original makes is
//     reordered against another that touches the same bytes.
//   - A gap is filled only when no other segment of the module writes into
//     it (or may, at an offset given by global.get), and only when the memory
//     is the module's own: a defined memory is zero at instantiation, so its
//     gaps hold zeros either way. A module whose memory is imported is left
//     as it is.
//   - Instantiation fails exactly when the original's does. A merged segment
//     starts where its first member starts and ends where its last member
//     ends, which is the furthest end of all its members; so it is out of
//     bounds exactly when one of its members is. A failed instantiation of a
//     defined memory leaves nothing behind to observe, so it does not matter
//     that the original would have written the members before the faulty one
//     (only the error's segment index may differ).
//   - A module with a data count section is left as it is: memory.init and
//     data.drop name segments by index, and merging renumbers them. Without
//     that section the runtime rejects both instructions, so no code can
//     depend on the numbering. (Go's linker writes no data count section.)
//   - Every other section is copied byte for byte, in place.
package datamerge

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// maxGap is the longest run of zeros Merge writes to join two segments.
// Joining saves wazero a segment (a slice entry per instance, an offset
// evaluation with an allocation, a copy call: some tens to a hundred and
// more nanoseconds); writing a KiB of zeros costs about as much, so longer
// gaps stop paying. And a gap shorter than a 4 KiB page lies in pages its
// neighbours write anyway, so the zeros never make a fresh page of the
// memory resident that the original left untouched. Go's gaps are almost
// all under 64 bytes.
const maxGap = 1024

// Section ids used here.
const (
	secImport    = 2
	secMemory    = 5
	secData      = 11
	secDataCount = 12
)

// Merge returns wasm with its active data segments coalesced, or wasm itself
// when there is nothing to merge or merging could change what the module
// does (see the package doc). The input is left unchanged. It returns an
// error for a module it cannot parse; the caller should then use the
// original and let the runtime judge it. Merge is safe for concurrent use.
//
// The zeros Merge writes into gaps add at most max(len(wasm), 64 KiB)
// bytes: a small module is not held to a tiny allowance, a large one comes
// back less than twice its size, however its gaps are arranged.
func Merge(wasm []byte) ([]byte, error) {
	m, err := scan(wasm)
	if err != nil {
		return nil, err
	}
	if m.data == nil || m.hasDataCount || m.importsMemory || m.memories != 1 {
		return wasm, nil
	}
	segs, err := parseData(m.data)
	if err != nil {
		return nil, fmt.Errorf("data section: %w", err)
	}
	runs := plan(segs, max(len(wasm), 64<<10))
	if len(runs) == len(segs) {
		return wasm, nil
	}
	content := encode(segs, runs)
	if uint64(len(content)) > math.MaxUint32 {
		return nil, errors.New("merged data section too large")
	}
	out := make([]byte, 0, len(wasm)-(m.dataEnd-m.dataStart)+len(content)+6)
	out = append(out, wasm[:m.dataStart]...)
	out = append(out, secData)
	out = appendU32(out, uint32(len(content)))
	out = append(out, content...)
	return append(out, wasm[m.dataEnd:]...), nil
}

// module is what Merge needs to know of a module's sections.
type module struct {
	data               []byte // content of the data section; nil without one
	dataStart, dataEnd int    // the data section, header included, in the module
	hasDataCount       bool
	importsMemory      bool
	memories           uint32 // defined memories
	memory             []byte // content of the (last) memory section; nil without one
}

func scan(wasm []byte) (*module, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("bad magic number")
	}
	if string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, errors.New("unsupported binary version")
	}
	m := &module{}
	r := &reader{b: wasm, off: 8}
	for !r.done() {
		start := r.off
		id := r.byte()
		content := r.take(r.u32())
		if r.err != nil {
			return nil, fmt.Errorf("section %d at offset %d: %w", id, start, r.err)
		}
		switch id {
		case secImport:
			imports, err := importsMemory(content)
			if err != nil {
				return nil, fmt.Errorf("import section: %w", err)
			}
			m.importsMemory = m.importsMemory || imports
		case secMemory:
			m.memory = content
			cr := &reader{b: content}
			m.memories += cr.u32()
			if cr.err != nil {
				return nil, fmt.Errorf("memory section: %w", cr.err)
			}
		case secData:
			if m.data != nil {
				return nil, errors.New("two data sections")
			}
			m.data, m.dataStart, m.dataEnd = content, start, r.off
		case secDataCount:
			m.hasDataCount = true
		}
	}
	return m, nil
}

// importsMemory reports whether an import section imports a memory. It knows
// the import forms of WebAssembly 2.0 and tags, and refuses the rest.
func importsMemory(b []byte) (bool, error) {
	r := &reader{b: b}
	memory := false
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.take(r.u32()) // module
		r.take(r.u32()) // name
		switch kind := r.byte(); kind {
		case 0: // function: type index
			r.u32()
		case 1: // table: reference type, limits
			if t := r.byte(); r.err == nil && t != 0x70 && t != 0x6F {
				return false, fmt.Errorf("table import of type 0x%02x", t)
			}
			r.limits()
		case 2: // memory: limits
			r.limits()
			memory = true
		case 3: // global: value type, mutability
			switch t := r.byte(); t {
			case 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F:
			default:
				if r.err == nil {
					return false, fmt.Errorf("global import of type 0x%02x", t)
				}
			}
			r.byte()
		case 4: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			if r.err == nil {
				return false, fmt.Errorf("import kind %d", kind)
			}
		}
	}
	if r.err == nil && !r.done() {
		return false, errors.New("bytes after the last import")
	}
	return memory, r.err
}

// segment is one data segment as the input encodes it.
type segment struct {
	raw  []byte // its whole encoding, flags to the last data byte
	flag uint32 // 0 active in memory 0, 1 passive, 2 active in an explicit memory
	// fixed marks a segment active in memory 0 at an i32.const offset: one
	// Merge may join to its neighbours.
	fixed  bool
	offset uint32
	init   []byte
}

func (s *segment) end() uint64 { return uint64(s.offset) + uint64(len(s.init)) }

func parseData(b []byte) ([]segment, error) {
	r := &reader{b: b}
	n := r.u32()
	// Each segment takes at least two bytes: do not trust n for the
	// allocation.
	segs := make([]segment, 0, min(int(n), len(b)/2))
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := r.off
		s := segment{flag: r.u32()}
		switch s.flag {
		case 0:
			s.fixed = r.offsetExpr(&s.offset)
		case 1:
		case 2:
			memidx := r.u32()
			fixed := r.offsetExpr(&s.offset)
			s.fixed = fixed && memidx == 0
		default:
			return nil, fmt.Errorf("segment %d: flags %d", i, s.flag)
		}
		s.init = r.take(r.u32())
		if r.err != nil {
			return nil, fmt.Errorf("segment %d: %w", i, r.err)
		}
		s.raw = b[start:r.off]
		segs = append(segs, s)
	}
	if r.err != nil {
		return nil, r.err
	}
	if !r.done() {
		return nil, errors.New("bytes after the last segment")
	}
	return segs, nil
}

// run is segs[first:last+1], written as one segment.
type run struct{ first, last int }

// plan groups segs into runs, in order; a run of one is a segment kept as
// it is. Gaps take zeros from a budget of at most budget bytes.
func plan(segs []segment, budget int) []run {
	g := newGapIndex(segs)
	var runs []run
	open := false
	var start, end uint64 // of the open run
	for i := range segs {
		s := &segs[i]
		if open && s.fixed && s.flag == segs[runs[len(runs)-1].first].flag && uint64(s.offset) >= end {
			gap := uint64(s.offset) - end
			if s.end()-start <= math.MaxUint32 &&
				(gap == 0 || gap <= maxGap && gap <= uint64(budget) && g.free(end, uint64(s.offset))) {
				budget -= int(gap)
				end = s.end()
				runs[len(runs)-1].last = i
				continue
			}
		}
		runs = append(runs, run{i, i})
		open = s.fixed
		start, end = uint64(s.offset), s.end()
	}
	return runs
}

// gapIndex answers whether any segment writes into a range of memory 0.
type gapIndex struct {
	unknown bool     // some active segment writes at an offset only known at instantiation
	starts  []uint64 // of the non-empty fixed segments, ascending
	maxEnd  []uint64 // maxEnd[i]: the furthest end of the segments starting at starts[:i+1]
}

func newGapIndex(segs []segment) *gapIndex {
	g := &gapIndex{}
	type span struct{ start, end uint64 }
	var spans []span
	for i := range segs {
		s := &segs[i]
		switch {
		case s.fixed && len(s.init) > 0:
			spans = append(spans, span{uint64(s.offset), s.end()})
		case !s.fixed && s.flag != 1:
			g.unknown = true
		}
	}
	slices.SortFunc(spans, func(a, b span) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	g.starts = make([]uint64, len(spans))
	g.maxEnd = make([]uint64, len(spans))
	var furthest uint64
	for i, s := range spans {
		furthest = max(furthest, s.end)
		g.starts[i], g.maxEnd[i] = s.start, furthest
	}
	return g
}

// free reports whether no segment writes into [a, b), where a is the end of
// a segment of the run being built and b the start of the next. The run's
// own members never count: those before the gap end at or before a, the
// one after it starts at b.
func (g *gapIndex) free(a, b uint64) bool {
	if g.unknown {
		return false
	}
	i, _ := slices.BinarySearch(g.starts, a) // the first starting at or after a
	if i < len(g.starts) && g.starts[i] < b {
		return false
	}
	return i == 0 || g.maxEnd[i-1] <= a
}

// encode writes the data section's content for runs.
func encode(segs []segment, runs []run) []byte {
	size := 5
	for _, r := range runs {
		if r.first == r.last {
			size += len(segs[r.first].raw)
		} else {
			size += 13 + int(segs[r.last].end()-uint64(segs[r.first].offset))
		}
	}
	out := appendU32(make([]byte, 0, size), uint32(len(runs)))
	for _, r := range runs {
		first := &segs[r.first]
		if r.first == r.last {
			out = append(out, first.raw...)
			continue
		}
		if first.flag == 2 {
			out = append(out, 2, 0) // memory 0, explicitly, as the members say
		} else {
			out = append(out, 0)
		}
		out = append(out, 0x41) // i32.const
		out = appendS32(out, int32(first.offset))
		out = append(out, 0x0B) // end
		out = appendU32(out, uint32(segs[r.last].end()-uint64(first.offset)))
		end := uint64(first.offset)
		for i := r.first; i <= r.last; i++ {
			s := &segs[i]
			out = append(out, make([]byte, uint64(s.offset)-end)...)
			out = append(out, s.init...)
			end = s.end()
		}
	}
	return out
}

// reader decodes the binary format, as strictly as wazero does or more; the
// first error sticks and every read after it returns zero.
type reader struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("unexpected end")

func (r *reader) done() bool { return r.err != nil || r.off >= len(r.b) }

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail(errTruncated)
		return 0
	}
	b := r.b[r.off]
	r.off++
	return b
}

func (r *reader) take(n uint32) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail(errTruncated)
		return nil
	}
	b := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return b
}

// u32 decodes an unsigned LEB128 of at most five bytes whose unused bits
// are zero, as the format requires.
func (r *reader) u32() uint32 {
	var v uint32
	for i := range 5 {
		b := r.byte()
		if r.err != nil {
			return 0
		}
		if i == 4 && b&0xF0 != 0 {
			r.fail(errors.New("integer overflows 32 bits"))
			return 0
		}
		v |= uint32(b&0x7F) << (7 * i)
		if b&0x80 == 0 {
			return v
		}
	}
	return 0 // not reached: the fifth byte ends the number or fails
}

// s32 decodes a signed LEB128 of at most five bytes whose unused bits all
// repeat the sign bit, as the format requires (wazero checks two of the
// three).
func (r *reader) s32() int32 {
	var v int64
	for i := range 5 {
		b := r.byte()
		if r.err != nil {
			return 0
		}
		if i == 4 {
			if hi := b & 0x78; b&0x80 != 0 || hi != 0 && hi != 0x78 {
				r.fail(errors.New("integer overflows 32 bits"))
				return 0
			}
		}
		v |= int64(b&0x7F) << (7 * i)
		if b&0x80 == 0 {
			if b&0x40 != 0 {
				v |= -1 << (7 * (i + 1))
			}
			return int32(v)
		}
	}
	return 0 // not reached: the fifth byte ends the number or fails
}

// limits skips a table's or memory's limits.
func (r *reader) limits() {
	switch flag := r.byte(); flag {
	case 0, 2:
		r.u32()
	case 1, 3:
		r.u32()
		r.u32()
	default:
		r.fail(fmt.Errorf("limits flags 0x%02x", flag))
	}
}

// offsetExpr reads a data segment's offset expression and reports whether
// it is exactly an i32.const, whose value it stores in offset (as the
// unsigned address it stands for). It skips the other forms a valid offset
// can take (global.get and the extended-const arithmetic) and refuses
// anything else.
func (r *reader) offsetExpr(offset *uint32) bool {
	if r.err == nil && r.off+1 < len(r.b) && r.b[r.off] == 0x41 {
		save := r.off
		r.off++
		v := r.s32()
		if r.err == nil && r.off < len(r.b) && r.b[r.off] == 0x0B {
			r.off++
			*offset = uint32(v)
			return true
		}
		if r.err != nil {
			return false
		}
		r.off = save
	}
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0B: // end
			return false
		case 0x41: // i32.const
			r.s32()
		case 0x23: // global.get
			r.u32()
		case 0x6A, 0x6B, 0x6C: // i32.add, i32.sub, i32.mul
		default:
			if r.err == nil {
				r.fail(fmt.Errorf("opcode 0x%02x in an offset expression", op))
			}
		}
	}
	return false
}

func appendU32(dst []byte, v uint32) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func appendS32(dst []byte, v int32) []byte {
	x := int64(v)
	for {
		b := byte(x & 0x7F)
		x >>= 7
		if x == 0 && b&0x40 == 0 || x == -1 && b&0x40 != 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}
