// Package stacklimit bounds the native stack a WebAssembly module can make
// its runtime grow. wazero grows a call's stack by doubling, up to a
// ceiling of about 100 MiB, with no setting to lower it; a guest that
// recurses without end costs its host that much before it traps. So before
// a module is compiled, Instrument rewrites it: a new mutable i32 global
// counts the stack its live calls use, every defined function adds its
// frame's estimated size on entry (and traps with unreachable when the
// total would pass the limit) and subtracts it on every way out. The
// module's functions, indices, imports, exports and data are otherwise
// untouched but for the one import the rewrite adds (see below), which
// moves every defined function's index up by one; debug sections (DWARF),
// whose code offsets the rewrite would invalidate, are dropped, and the name
// section follows the functions to their new indices.
//
// A trap leaves the counter high, which is harmless: the host discards an
// instance after any trap.
//
// The rewrite also makes every call stoppable from outside, which wazero
// offers only through a context and a watcher goroutine per call, and
// makes sure a long call comes back to the host's Go code now and then.
// Compiled wasm holds its thread without a safe point for the Go runtime:
// a garbage collection that must stop the world waits for every guest
// call in progress to end, and meanwhile nothing else runs, including
// whatever would stop a guest that never ends. So a second new global,
// the fuel (exported as FuelExport), goes down by one at every function
// entry and loop header; when it reaches zero the guest calls the imported
// function YieldModule.YieldImport, a host function, and then refills it
// with FuelPerYield. The host's function is where the runtime can stop the
// goroutine, and where the host stops a call by trapping (a panic in it);
// setting the fuel to zero from outside makes the guest call it at its
// next check. And since a start function would run inside instantiation,
// before the host can reach that global, the start section becomes an
// export (StartExport) that the host calls right after instantiating, as
// the start function would have run.
package stacklimit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// CounterExport is the name under which the rewritten module exports the
// counter, so that after a trap the host can tell an overrun of the limit
// (the counter is past it) from the guest's own unreachable.
const CounterExport = "__torpor_stack_used"

// FuelExport names the fuel global: set it to zero and a running call
// calls YieldImport at its next function entry or loop header.
const FuelExport = "__torpor_fuel"

// The function the rewritten module imports and calls when its fuel runs
// out, with no parameters and no results. A module that imports another
// function under this name is refused.
const (
	YieldModule = "__torpor"
	YieldImport = "yield"
)

// FuelPerYield is the number of function entries and loop headers between
// two calls of YieldImport: a few tens of microseconds of the tightest
// loop, so a stop of the world waits no longer than that for a guest, and
// the call's cost (tens of nanoseconds) is lost in the work between.
const FuelPerYield = 1 << 16

// StartExport names the export the module's start function becomes; a
// module without a start section has none.
const StartExport = "__torpor_start"

// FrameSize estimates the native stack one call of a function takes, from
// its parameters and locals: a fixed frame plus a generous slot per value.
// It errs high: the limit bounds what a guest can do, and a real frame of
// wazero's compiler is smaller.
func FrameSize(params, locals uint64) uint64 { return 64 + 16*(params+locals) }

// ErrUnsupported is wrapped by Instrument's error for an instruction it
// does not know (exception handling, tail calls, GC, threads: proposals the
// host's runtime does not enable either).
var ErrUnsupported = errors.New("unsupported instruction")

// Instrument returns wasm rewritten so that its calls together use at most
// limit bytes of estimated stack (limit below 2^31). The input is left
// unchanged. An error means the module is not one the rewriter understands,
// which for a module the runtime would accept happens only with the
// unsupported proposals above.
func Instrument(wasm []byte, limit uint32) ([]byte, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("bad magic number")
	}
	if binary.LittleEndian.Uint32(wasm[4:8]) != 1 {
		return nil, fmt.Errorf("binary version %d, want 1", binary.LittleEndian.Uint32(wasm[4:8]))
	}
	m, err := parse(wasm[8:])
	if err != nil {
		return nil, err
	}
	return m.rewrite(int32(min(limit, 1<<31-1)))
}

// Section ids, and the order the binary format requires them in (custom
// sections, id 0, may appear anywhere).
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secElement  = 9
	secCode     = 10
)

var sectionRank = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

// rank is a section's place in the required order; past the end for an id
// the format does not define.
func rank(id byte) int {
	if r, ok := sectionRank[id]; ok {
		return r
	}
	return len(sectionRank) + 1
}

type section struct {
	id      byte
	content []byte
}

type funcType struct{ params, results []byte }

type module struct {
	sections      []section
	types         []funcType
	funcTypes     []uint32 // type index of each defined function
	importedFuncs uint32
	globals       uint32 // imported plus defined
	start         int64  // the start function's index; -1: none
}

// funcIndex maps a function index of the original module to the rewritten
// one's, where the yield import comes after the module's own imports.
func (m *module) funcIndex(i uint32) uint32 {
	if i < m.importedFuncs {
		return i
	}
	return i + 1
}

func parse(b []byte) (*module, error) {
	m := &module{start: -1}
	r := &reader{b: b}
	for !r.done() {
		id := r.byte()
		n := r.u32()
		content := r.take(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, r.err)
		}
		m.sections = append(m.sections, section{id: id, content: content})
	}
	for _, s := range m.sections {
		var err error
		switch s.id {
		case secType:
			err = m.parseTypes(s.content)
		case secImport:
			err = m.parseImports(s.content)
		case secFunction:
			r := &reader{b: s.content}
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				m.funcTypes = append(m.funcTypes, r.u32())
			}
			err = r.err
		case secGlobal:
			r := &reader{b: s.content}
			m.globals += r.u32()
			err = r.err
		case secStart:
			r := &reader{b: s.content}
			m.start = int64(r.u32())
			err = r.err
		}
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
	}
	return m, nil
}

func (m *module) parseTypes(b []byte) error {
	r := &reader{b: b}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		if form := r.byte(); form != 0x60 {
			return fmt.Errorf("type form 0x%02x: %w", form, ErrUnsupported)
		}
		params := r.take(int(r.u32()))
		results := r.take(int(r.u32()))
		m.types = append(m.types, funcType{params: params, results: results})
	}
	return r.err
}

func (m *module) parseImports(b []byte) error {
	r := &reader{b: b}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		mod := string(r.take(int(r.u32())))
		name := string(r.take(int(r.u32())))
		if mod == YieldModule && name == YieldImport {
			return fmt.Errorf("the module imports %s.%s, which the host reserves", mod, name)
		}
		switch kind := r.byte(); kind {
		case 0: // function
			r.u32()
			m.importedFuncs++
		case 1: // table: reftype, limits
			r.byte()
			r.limits()
		case 2: // memory
			r.limits()
		case 3: // global: valtype, mutability
			r.byte()
			r.byte()
			m.globals++
		case 4: // tag
			r.byte()
			r.u32()
		default:
			return fmt.Errorf("import kind %d: %w", kind, ErrUnsupported)
		}
	}
	return r.err
}

func (m *module) rewrite(limit int32) ([]byte, error) {
	counter := m.globals // the index the new globals get: counter, then fuel
	var code []byte
	out := []byte("\x00asm\x01\x00\x00\x00")
	var newTypes []funcType
	blockType := func(results []byte) []byte {
		switch len(results) {
		case 0:
			return []byte{0x40}
		case 1:
			return []byte{results[0]}
		}
		for i, t := range m.types {
			if len(t.params) == 0 && string(t.results) == string(results) {
				return sleb(nil, int64(i))
			}
		}
		for i, t := range newTypes {
			if string(t.results) == string(results) {
				return sleb(nil, int64(len(m.types)+i))
			}
		}
		newTypes = append(newTypes, funcType{results: results})
		return sleb(nil, int64(len(m.types)+len(newTypes)-1))
	}
	yieldType := -1
	for i, t := range m.types {
		if len(t.params) == 0 && len(t.results) == 0 {
			yieldType = i
			break
		}
	}
	if yieldType < 0 {
		newTypes = append(newTypes, funcType{})
		yieldType = len(m.types)
	}
	c := checks{counter: counter, fuel: counter + 1, yield: m.importedFuncs, limit: limit}
	for _, s := range m.sections {
		if s.id != secCode {
			continue
		}
		var err error
		if code, err = m.rewriteCode(s.content, c, blockType); err != nil {
			return nil, err
		}
	}
	has := map[byte]bool{}
	for _, s := range m.sections {
		has[s.id] = true
	}
	yieldImport := binary.AppendUvarint(nil, uint64(len(YieldModule)))
	yieldImport = append(yieldImport, YieldModule...)
	yieldImport = binary.AppendUvarint(yieldImport, uint64(len(YieldImport)))
	yieldImport = append(yieldImport, YieldImport...)
	yieldImport = binary.AppendUvarint(append(yieldImport, 0x00), uint64(yieldType))
	// Two mutable i32 globals: the stack counter at 0, the fuel full.
	newGlobals := sleb([]byte{0x7F, 0x01, 0x41, 0x00, 0x0B, 0x7F, 0x01, 0x41}, FuelPerYield)
	newGlobals = append(newGlobals, 0x0B)
	exports := m.appendExports(nil, counter)
	emit := func(id byte, content []byte) {
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(content)))
		out = append(out, content...)
	}
	placed := func(id byte) {
		// Insert the sections this module lacks just before the first one
		// that must follow them.
		if !has[secType] && len(newTypes) > 0 && rank(id) > rank(secType) {
			emit(secType, appendTypes(binary.AppendUvarint(nil, uint64(len(newTypes))), newTypes))
			has[secType] = true
		}
		if !has[secImport] && rank(id) > rank(secImport) {
			emit(secImport, append([]byte{1}, yieldImport...))
			has[secImport] = true
		}
		if !has[secGlobal] && rank(id) > rank(secGlobal) {
			emit(secGlobal, append([]byte{2}, newGlobals...))
			has[secGlobal] = true
		}
		if !has[secExport] && rank(id) > rank(secExport) {
			emit(secExport, append(binary.AppendUvarint(nil, uint64(m.newExports())), exports...))
			has[secExport] = true
		}
	}
	// grown is a vector section's content with n more entries at its end.
	grown := func(content []byte, n int, more []byte) []byte {
		r := &reader{b: content}
		count := r.u32()
		out := binary.AppendUvarint(nil, uint64(count)+uint64(n))
		out = append(out, content[r.off:]...)
		return append(out, more...)
	}
	for _, s := range m.sections {
		if s.id != secCustom {
			placed(s.id)
		}
		var err error
		switch s.id {
		case secCustom:
			r := &reader{b: s.content}
			switch name := string(r.take(int(r.u32()))); {
			case r.err != nil:
				emit(s.id, s.content)
			case strings.HasPrefix(name, ".debug_"):
				// Dropped: code offsets are about to move.
			case name == "name":
				// Names only help a reader of stack traces: one the
				// rewrite cannot follow is dropped, not refused.
				if names, err := m.rewriteNames(s.content, r.off); err == nil {
					emit(s.id, names)
				}
			default:
				emit(s.id, s.content)
			}
		case secType:
			emit(s.id, grown(s.content, len(newTypes), appendTypes(nil, newTypes)))
		case secImport:
			emit(s.id, grown(s.content, 1, yieldImport))
		case secGlobal:
			var globals []byte
			if globals, err = rewriteVector(s.content, 2, newGlobals, m.globalEntry); err == nil {
				emit(s.id, globals)
			}
		case secExport:
			var own []byte
			if own, err = rewriteVector(s.content, m.newExports(), exports, m.exportEntry); err == nil {
				emit(s.id, own)
			}
		case secStart:
			// Dropped: the start function is exported instead.
		case secElement:
			var elems []byte
			if elems, err = rewriteVector(s.content, 0, nil, m.elementEntry); err == nil {
				emit(s.id, elems)
			}
		case secCode:
			emit(s.id, code)
		default:
			emit(s.id, s.content)
		}
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
	}
	placed(255) // a module with no section after the global section's place
	return out, nil
}

// newExports is how many exports the rewrite adds.
func (m *module) newExports() int {
	if m.start >= 0 {
		return 3
	}
	return 2
}

// appendExports appends the export entries the rewrite adds: the counter,
// the fuel and, if the module has one, the start function.
func (m *module) appendExports(dst []byte, counter uint32) []byte {
	entry := func(name string, kind byte, index uint64) {
		dst = binary.AppendUvarint(dst, uint64(len(name)))
		dst = append(dst, name...)
		dst = append(dst, kind)
		dst = binary.AppendUvarint(dst, index)
	}
	entry(CounterExport, 0x03, uint64(counter))
	entry(FuelExport, 0x03, uint64(counter)+1)
	if m.start >= 0 {
		entry(StartExport, 0x00, uint64(m.funcIndex(uint32(m.start))))
	}
	return dst
}

// rewriteVector rewrites a vector (a count, then that many entries) one
// entry at a time, and appends add more entries, encoded in tail, at its
// end. An entry reports a failure through r's error.
func rewriteVector(b []byte, add int, tail []byte, entry func(r *reader, out []byte) []byte) ([]byte, error) {
	r := &reader{b: b}
	n := r.u32()
	out := binary.AppendUvarint(nil, uint64(n)+uint64(add))
	for ; n > 0 && r.err == nil; n-- {
		out = entry(r, out)
	}
	return append(out, tail...), r.err
}

// exportEntry moves a function export to its new index.
func (m *module) exportEntry(r *reader, out []byte) []byte {
	start := r.off
	r.take(int(r.u32()))
	kind := r.byte()
	out = append(out, r.b[start:r.off]...)
	idx := r.u32()
	if kind == 0x00 {
		idx = m.funcIndex(idx)
	}
	return binary.AppendUvarint(out, uint64(idx))
}

// globalEntry moves the function references in a global's initialiser.
func (m *module) globalEntry(r *reader, out []byte) []byte {
	out = append(out, r.take(2)...) // valtype, mutability
	return m.rewriteExpr(r, out)
}

// elementEntry moves the function indices and references of an element
// segment; its flags say its shape (the binary format's 5.5.12).
func (m *module) elementEntry(r *reader, out []byte) []byte {
	flags := r.u32()
	out = binary.AppendUvarint(out, uint64(flags))
	if flags > 7 {
		if r.err == nil {
			r.err = fmt.Errorf("element segment flags %d: %w", flags, ErrUnsupported)
		}
		return out
	}
	if flags&0b011 == 0b010 { // active with a table index
		out = binary.AppendUvarint(out, uint64(r.u32()))
	}
	if flags&0b001 == 0 { // active: an offset
		out = m.rewriteExpr(r, out)
	}
	if flags&0b011 != 0 { // an element kind or a reference type
		out = append(out, r.byte())
	}
	count := r.u32()
	out = binary.AppendUvarint(out, uint64(count))
	for ; count > 0 && r.err == nil; count-- {
		if flags&0b100 == 0 {
			out = binary.AppendUvarint(out, uint64(m.funcIndex(r.u32())))
		} else {
			out = m.rewriteExpr(r, out)
		}
	}
	return out
}

// rewriteExpr copies one constant expression from r to out with its
// function references moved.
func (m *module) rewriteExpr(r *reader, out []byte) []byte {
	for !r.done() {
		start := r.off
		op := r.byte()
		if op == 0xD2 { // ref.func
			out = binary.AppendUvarint(append(out, op), uint64(m.funcIndex(r.u32())))
			continue
		}
		if err := r.immediates(op); err != nil {
			r.err = err
			break
		}
		out = append(out, r.b[start:r.off]...)
		if op == 0x0B {
			return out
		}
	}
	if r.err == nil {
		r.err = errTruncated
	}
	return out
}

// rewriteNames moves the function and local names of a name section (whose
// name ends at off) to the functions' new indices. Label names are
// dropped, since the rewrite adds blocks; the other subsections do not
// name functions and stay.
func (m *module) rewriteNames(b []byte, off int) ([]byte, error) {
	out := append([]byte(nil), b[:off]...)
	r := &reader{b: b, off: off}
	for !r.done() {
		id := r.byte()
		sub := r.take(int(r.u32()))
		if r.err != nil {
			break
		}
		switch id {
		case 1, 2: // function names, local names: maps keyed by function
			var err error
			sub, err = rewriteVector(sub, 0, nil, func(sr *reader, out []byte) []byte {
				out = binary.AppendUvarint(out, uint64(m.funcIndex(sr.u32())))
				start := sr.off
				if id == 1 {
					sr.take(int(sr.u32()))
				} else {
					for locals := sr.u32(); locals > 0 && sr.err == nil; locals-- {
						sr.u32()
						sr.take(int(sr.u32()))
					}
				}
				return append(out, sr.b[start:sr.off]...)
			})
			if err != nil {
				return nil, err
			}
		case 3:
			continue
		}
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(sub)))
		out = append(out, sub...)
	}
	return out, r.err
}

func appendTypes(dst []byte, ts []funcType) []byte {
	for _, t := range ts {
		dst = append(dst, 0x60)
		dst = binary.AppendUvarint(dst, uint64(len(t.params)))
		dst = append(dst, t.params...)
		dst = binary.AppendUvarint(dst, uint64(len(t.results)))
		dst = append(dst, t.results...)
	}
	return dst
}

// checks is what every function's added checks refer to.
type checks struct {
	counter, fuel uint32 // global indices
	yield         uint32 // the yield import's function index
	limit         int32
}

func (m *module) rewriteCode(b []byte, c checks, blockType func([]byte) []byte) ([]byte, error) {
	r := &reader{b: b}
	n := r.u32()
	if int(n) != len(m.funcTypes) {
		return nil, fmt.Errorf("code section has %d bodies for %d functions", n, len(m.funcTypes))
	}
	out := binary.AppendUvarint(nil, uint64(n))
	for i := range n {
		body := r.take(int(r.u32()))
		if r.err != nil {
			return nil, fmt.Errorf("code section: %w", r.err)
		}
		ti := m.funcTypes[i]
		if int(ti) >= len(m.types) {
			return nil, fmt.Errorf("function %d: type %d out of range", m.importedFuncs+i, ti)
		}
		nb, err := m.rewriteBody(body, m.types[ti], c, blockType)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", m.importedFuncs+i, err)
		}
		out = binary.AppendUvarint(out, uint64(len(nb)))
		out = append(out, nb...)
	}
	return out, nil
}

func (m *module) rewriteBody(body []byte, t funcType, c checks, blockType func([]byte) []byte) ([]byte, error) {
	r := &reader{b: body}
	var locals uint64
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		locals += uint64(r.u32())
		r.byte()
	}
	if r.err != nil {
		return nil, fmt.Errorf("locals: %w", r.err)
	}
	cost := int32(min(FrameSize(uint64(len(t.params)), locals), uint64(c.limit)+1))
	g := binary.AppendUvarint(nil, uint64(c.counter))
	// global.get c; i32.const cost; i32.add; global.set c;
	// global.get c; i32.const limit; i32.gt_u; if unreachable end
	var prologue []byte
	prologue = append(append(prologue, 0x23), g...)
	prologue = append(sleb(append(prologue, 0x41), int64(cost)), 0x6A, 0x24)
	prologue = append(append(prologue, g...), 0x23)
	prologue = append(prologue, g...)
	prologue = append(sleb(append(prologue, 0x41), int64(c.limit)), 0x4B, 0x04, 0x40, 0x00, 0x0B)
	// global.get f; i32.const 1; i32.sub; global.set f;
	// global.get f; i32.const 1; i32.lt_s; if call yield; i32.const N; global.set f end
	// Less than one, not zero: a fuel set to zero from outside, or run
	// below it, still calls.
	f := binary.AppendUvarint(nil, uint64(c.fuel))
	var fuel []byte
	fuel = append(append(fuel, 0x23), f...)
	fuel = append(append(fuel, 0x41, 0x01, 0x6B, 0x24), f...)
	fuel = append(append(fuel, 0x23), f...)
	fuel = append(fuel, 0x41, 0x01, 0x48, 0x04, 0x40, 0x10)
	fuel = binary.AppendUvarint(fuel, uint64(c.yield))
	fuel = sleb(append(fuel, 0x41), FuelPerYield)
	fuel = append(append(append(fuel, 0x24), f...), 0x0B)
	// A function that calls nothing ends soon unless it loops, and its
	// loops have their own checks; the check's call would only make a
	// leaf function a caller, which compiles to slower code.
	calls, err := callsAny(body, r.off)
	if err != nil {
		return nil, err
	}
	if calls {
		prologue = append(prologue, fuel...)
	}
	// global.get c; i32.const cost; i32.sub; global.set c
	var epilogue []byte
	epilogue = append(append(epilogue, 0x23), g...)
	epilogue = append(sleb(append(epilogue, 0x41), int64(cost)), 0x6B, 0x24)
	epilogue = append(epilogue, g...)

	out := make([]byte, 0, len(body)+len(prologue)+2*len(epilogue)+8)
	out = append(out, body[:r.off]...)
	out = append(out, prologue...)
	out = append(out, 0x02)
	out = append(out, blockType(t.results)...)
	depth := 0
	for {
		if r.done() {
			return nil, errors.New("body ends without end")
		}
		start := r.off
		op := r.byte()
		switch op {
		case 0x02, 0x03, 0x04: // block, loop, if
			depth++
		case 0x0B: // end
			if depth == 0 {
				if !r.done() {
					return nil, errors.New("bytes after the body's end")
				}
				out = append(out, 0x0B)
				out = append(out, epilogue...)
				return append(out, 0x0B), nil
			}
			depth--
		case 0x0F: // return
			out = append(out, epilogue...)
		case 0x10, 0xD2: // call, ref.func: the function's new index
			idx := r.u32()
			if r.err != nil {
				return nil, fmt.Errorf("offset %d: %w", start, r.err)
			}
			out = binary.AppendUvarint(append(out, op), uint64(m.funcIndex(idx)))
			continue
		}
		if err := r.immediates(op); err != nil {
			return nil, fmt.Errorf("offset %d: %w", start, err)
		}
		out = append(out, body[start:r.off]...)
		if op == 0x03 { // loop: every iteration starts with the fuel check
			out = append(out, fuel...)
		}
	}
}

// callsAny reports whether the body's code, from off, has a call.
func callsAny(body []byte, off int) (bool, error) {
	r := &reader{b: body, off: off}
	for !r.done() {
		start := r.off
		op := r.byte()
		if op == 0x10 || op == 0x11 {
			return true, nil
		}
		if err := r.immediates(op); err != nil {
			return false, fmt.Errorf("offset %d: %w", start, err)
		}
	}
	return false, r.err
}

// reader decodes the binary format; the first error sticks and every read
// after it returns zero.
type reader struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("unexpected end")

func (r *reader) done() bool { return r.err != nil || r.off >= len(r.b) }

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.err = errTruncated
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = errTruncated
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

// leb reads an unsigned or signed LEB128 number of at most 10 bytes and
// returns it unsigned (signed values are only skipped).
func (r *reader) leb() uint64 {
	var v uint64
	for shift := uint(0); shift < 70; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift < 64 {
			v |= uint64(c&0x7F) << shift
		}
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = errors.New("LEB128 number too long")
	return 0
}

func (r *reader) u32() uint32 {
	v := r.leb()
	if v > 1<<32-1 {
		r.err = errors.New("number out of range")
		return 0
	}
	return uint32(v)
}

func (r *reader) limits() {
	flags := r.byte()
	r.leb()
	if flags&1 != 0 {
		r.leb()
	}
}

func (r *reader) memarg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: a memory index follows
		r.u32()
	}
	r.leb()
}

// immediates skips the immediates of the instruction op.
func (r *reader) immediates(op byte) error {
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0B || op == 0x0F || op == 0x1A || op == 0x1B || op == 0xD1:
	case op >= 0x45 && op <= 0xC4: // numeric, sign extension
	case op == 0x02 || op == 0x03 || op == 0x04: // block type
		switch c := r.peek(); {
		case c == 0x40, c >= 0x6F && c <= 0x7F:
			r.byte()
		default:
			r.leb()
		}
	case op == 0x0C || op == 0x0D || op == 0x10 || op == 0xD2 || op >= 0x20 && op <= 0x26:
		r.u32()
	case op == 0x0E: // br_table
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.u32()
		}
		r.u32()
	case op == 0x11: // call_indirect
		r.u32()
		r.u32()
	case op == 0x1C: // typed select
		r.take(int(r.u32()))
	case op >= 0x28 && op <= 0x3E:
		r.memarg()
	case op == 0x3F || op == 0x40:
		r.u32()
	case op == 0x41 || op == 0x42:
		r.leb()
	case op == 0x43:
		r.take(4)
	case op == 0x44:
		r.take(8)
	case op == 0xD0:
		r.byte()
	case op == 0xFC:
		switch sub := r.u32(); {
		case sub <= 7:
		case sub == 8 || sub == 10 || sub == 12 || sub == 14:
			r.u32()
			r.u32()
		case sub == 9 || sub == 11 || sub == 13 || sub >= 15 && sub <= 17:
			r.u32()
		default:
			return fmt.Errorf("0xfc %d: %w", sub, ErrUnsupported)
		}
	case op == 0xFD:
		switch sub := r.u32(); {
		case sub <= 11 || sub == 92 || sub == 93:
			r.memarg()
		case sub == 12 || sub == 13:
			r.take(16)
		case sub >= 21 && sub <= 34:
			r.byte()
		case sub >= 84 && sub <= 91:
			r.memarg()
			r.byte()
		}
	default:
		return fmt.Errorf("0x%02x: %w", op, ErrUnsupported)
	}
	return r.err
}

func (r *reader) peek() byte {
	if r.err != nil || r.off >= len(r.b) {
		return 0
	}
	return r.b[r.off]
}

func sleb(dst []byte, v int64) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}
