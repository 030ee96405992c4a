package datamerge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/torpor-dev/torpor/host/internal/datamerge"
	"github.com/torpor-dev/torpor/internal/plugintest"
)

// The tests build their modules byte by byte, to choose every encoding, and
// read them back with a decoder of their own rather than the package's.

func uleb(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func vec(n int, items ...[]byte) []byte {
	return append(uleb(uint64(n)), bytes.Join(items, nil)...)
}

func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func section(id byte, content []byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(content)))...), content...)
}

func i32(off int32) []byte { return append(append([]byte{0x41}, sleb(int64(off))...), 0x0B) }

// active is a segment in memory 0 at offset, with flags 0.
func active(offset int32, data string) []byte { return seg([]byte{0}, i32(offset), data) }

// explicit is an active segment with flags 2 and a memory index.
func explicit(mem uint32, offset int32, data string) []byte {
	return seg(append([]byte{2}, uleb(uint64(mem))...), i32(offset), data)
}

func passive(data string) []byte { return seg([]byte{1}, nil, data) }

// atGlobal is an active segment at the value of global g.
func atGlobal(g uint32, data string) []byte {
	return seg([]byte{0}, append(append([]byte{0x23}, uleb(uint64(g))...), 0x0B), data)
}

func seg(prefix, expr []byte, data string) []byte {
	b := append(append([]byte(nil), prefix...), expr...)
	return append(append(b, uleb(uint64(len(data)))...), data...)
}

// wasmModule describes a module of data segments and their memory.
type wasmModule struct {
	importGlobal bool   // imports env.g, an immutable i32
	importMemory bool   // imports env.mem instead of defining a memory
	alsoDefine   bool   // defines a memory even so
	pages        uint32 // of the memory; 0 means 1
	dataCount    bool
	segs         [][]byte
}

func (m wasmModule) bytes() []byte {
	pages := max(m.pages, 1)
	out := []byte("\x00asm\x01\x00\x00\x00")
	var imports [][]byte
	if m.importGlobal {
		imports = append(imports, bytes.Join([][]byte{name("env"), name("g"), {3, 0x7F, 0}}, nil))
	}
	if m.importMemory {
		imports = append(imports, bytes.Join([][]byte{name("env"), name("mem"), {2, 0}, uleb(uint64(pages))}, nil))
	}
	if len(imports) > 0 {
		out = append(out, section(2, vec(len(imports), imports...))...)
	}
	if !m.importMemory || m.alsoDefine {
		out = append(out, section(5, vec(1, append([]byte{0}, uleb(uint64(pages))...)))...)
	}
	if m.dataCount {
		out = append(out, section(12, uleb(uint64(len(m.segs))))...)
	}
	return append(out, section(11, vec(len(m.segs), m.segs...))...)
}

// envModule exports g, an i32 global of value g, and mem, a memory of pages.
func envModule(g int32, pages uint32) []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = append(out, section(5, vec(1, append([]byte{0}, uleb(uint64(pages))...)))...)
	out = append(out, section(6, vec(1, append([]byte{0x7F, 0}, i32(g)...)))...)
	exports := vec(2,
		append(name("g"), 3, 0),
		append(name("mem"), 2, 0))
	return append(out, section(7, exports)...)
}

type testSegment struct {
	flag, mem uint32
	expr      []byte // nil for a passive segment
	init      []byte
}

// offset returns the segment's address if it is active in memory 0 at an
// i32.const.
func (s testSegment) offset() (uint32, bool) {
	if s.expr == nil || s.mem != 0 || len(s.expr) < 2 || s.expr[0] != 0x41 {
		return 0, false
	}
	var v int64
	var shift uint
	for i, b := range s.expr[1:] {
		v |= int64(b&0x7F) << shift
		shift += 7
		if b&0x80 == 0 {
			if b&0x40 != 0 && shift < 64 {
				v |= -1 << shift
			}
			return uint32(v), i+2 == len(s.expr)-1 && s.expr[len(s.expr)-1] == 0x0B
		}
	}
	return 0, false
}

type byteReader struct {
	tb  testing.TB
	b   []byte
	off int
}

func (r *byteReader) byte() byte {
	r.tb.Helper()
	if r.off >= len(r.b) {
		r.tb.Fatalf("module truncated at %d", r.off)
	}
	r.off++
	return r.b[r.off-1]
}

func (r *byteReader) uleb() uint64 {
	r.tb.Helper()
	var v uint64
	for shift := uint(0); ; shift += 7 {
		b := r.byte()
		v |= uint64(b&0x7F) << shift
		if b&0x80 == 0 {
			return v
		}
	}
}

func (r *byteReader) take(n uint64) []byte {
	r.tb.Helper()
	if n > uint64(len(r.b)-r.off) {
		r.tb.Fatalf("module truncated at %d", r.off)
	}
	r.off += int(n)
	return r.b[r.off-int(n) : r.off]
}

type testSection struct {
	id      byte
	content []byte
}

func sections(tb testing.TB, wasm []byte) []testSection {
	tb.Helper()
	r := &byteReader{tb: tb, b: wasm, off: 8}
	var out []testSection
	for r.off < len(r.b) {
		id := r.byte()
		out = append(out, testSection{id, r.take(r.uleb())})
	}
	return out
}

func segments(tb testing.TB, wasm []byte) []testSegment {
	tb.Helper()
	var segs []testSegment
	for _, s := range sections(tb, wasm) {
		if s.id != 11 {
			continue
		}
		r := &byteReader{tb: tb, b: s.content}
		for n := r.uleb(); n > 0; n-- {
			ts := testSegment{flag: uint32(r.uleb())}
			if ts.flag == 2 {
				ts.mem = uint32(r.uleb())
			}
			if ts.flag != 1 {
				start := r.off
				for {
					op := r.byte()
					if op == 0x0B {
						break
					}
					if op == 0x41 || op == 0x23 {
						r.uleb() // the bytes of an sleb end like an uleb's
					}
				}
				ts.expr = r.b[start:r.off]
			}
			ts.init = r.take(r.uleb())
			segs = append(segs, ts)
		}
	}
	return segs
}

// paint applies the module's active segments in order to a zeroed memory and
// returns it, as long as the last byte written; ok is false if a segment's
// offset is not a constant.
func paint(tb testing.TB, wasm []byte) (image []byte, ok bool) {
	tb.Helper()
	for _, s := range segments(tb, wasm) {
		if s.expr == nil {
			continue
		}
		off, ok := s.offset()
		if !ok {
			return nil, false
		}
		end := int(off) + len(s.init)
		if end > 64<<20 {
			return nil, false
		}
		if end > len(image) {
			image = append(image, make([]byte, end-len(image))...)
		}
		copy(image[off:], s.init)
	}
	return image, true
}

// instantiate instantiates wasm with no start function, after a module env
// made by envModule(64, 1), and returns its memory (nil with an error).
func instantiate(tb testing.TB, wasm []byte) ([]byte, error) {
	tb.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if _, err := rt.InstantiateWithConfig(ctx, envModule(64, 1), wazero.NewModuleConfig().WithName("env")); err != nil {
		tb.Fatalf("env module: %v", err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions())
	if err != nil {
		return nil, err
	}
	mem, ok := mod.Memory().Read(0, mod.Memory().Size())
	if !ok {
		tb.Fatal("memory not readable")
	}
	return bytes.Clone(mem), nil
}

func TestMerge(t *testing.T) {
	many := make([][]byte, 100)
	for i := range many {
		many[i] = active(int32(3*i), fmt.Sprintf("%03d", i))
	}
	sparse := make([][]byte, 10000) // more than 64 KiB of module
	for i := range sparse {
		sparse[i] = active(int32(1001*i), "x")
	}
	tests := []struct {
		name string
		mod  wasmModule
		// want is the resulting segments' flags and offsets ("0@12",
		// "1" for passive, "0@?" at a global), or nil if the module
		// must come back as it is.
		want []string
		// wantLen is the merged data length of the first segment; 0:
		// not checked.
		wantLen int
		// instErr is true when instantiation must fail (both ways).
		instErr bool
	}{
		{
			name:    "adjacent segments become one",
			mod:     wasmModule{segs: many},
			want:    []string{"0@0"},
			wantLen: 300,
		},
		{
			name:    "a small gap is zero-filled",
			mod:     wasmModule{segs: [][]byte{active(16, "abcd"), active(116, "efgh"), active(1140, "ij")}},
			want:    []string{"0@16"},
			wantLen: 1140 + 2 - 16,
		},
		{
			name: "a large gap splits",
			mod:  wasmModule{segs: [][]byte{active(0, "ab"), active(2, "cd"), active(4+1025, "ef"), active(4+1025+2, "gh")}},
			want: []string{"0@0", "0@1029"},
		},
		{
			name: "nothing to merge",
			mod:  wasmModule{segs: [][]byte{active(0, "ab"), active(5000, "cd")}},
		},
		{
			name: "a passive segment ends a run",
			mod:  wasmModule{segs: [][]byte{active(0, "ab"), active(2, "cd"), passive("pp"), active(4, "ef"), active(6, "gh")}},
			want: []string{"0@0", "1", "0@4"},
		},
		{
			name: "a global.get offset ends a run",
			mod: wasmModule{importGlobal: true, segs: [][]byte{
				active(0, "ab"), active(2, "cd"), atGlobal(0, "gg"), active(4, "ef"), active(6, "gh"),
			}},
			want: []string{"0@0", "0@?", "0@4"},
		},
		{
			// env.g is 64: the segment at the global lands in the gap.
			name: "no gap is filled when a segment's offset is a global",
			mod:  wasmModule{importGlobal: true, segs: [][]byte{atGlobal(0, "gg"), active(60, "ab"), active(70, "cd")}},
		},
		{
			name: "overlapping segments stay apart",
			mod:  wasmModule{segs: [][]byte{active(0, "abcdefgh"), active(4, "ABCDEFGH"), active(12, "ij")}},
			want: []string{"0@0", "0@4"},
		},
		{
			name: "a segment going backwards starts a run",
			mod:  wasmModule{segs: [][]byte{active(100, "ab"), active(102, "cd"), active(0, "ef"), active(2, "gh")}},
			want: []string{"0@100", "0@0"},
		},
		{
			name: "an earlier segment in a gap keeps it",
			mod:  wasmModule{segs: [][]byte{active(12, "xy"), active(0, "abcdefghij"), active(20, "klmnopqrst")}},
		},
		{
			name: "a later segment in a gap keeps it",
			mod:  wasmModule{segs: [][]byte{active(0, "abcdefghij"), active(20, "klmnopqrst"), active(12, "xy")}},
		},
		{
			name: "an earlier segment across a gap keeps it",
			mod:  wasmModule{segs: [][]byte{active(0, strings.Repeat("x", 32)), active(10, "abcdefghij"), active(30, "klmnopqrst")}},
		},
		{
			name: "a gap just past an earlier segment is filled",
			mod:  wasmModule{segs: [][]byte{active(0, strings.Repeat("x", 20)), active(10, "abcdefghij"), active(30, "klmnopqrst")}},
			want: []string{"0@0", "0@10"},
		},
		{
			name:    "empty segments join",
			mod:     wasmModule{segs: [][]byte{active(0, "ab"), active(2, ""), active(10, ""), active(10, "cd")}},
			want:    []string{"0@0"},
			wantLen: 12,
		},
		{
			name: "flags 2 join into flags 2",
			mod:  wasmModule{segs: [][]byte{explicit(0, 8, "ab"), explicit(0, 10, "cd"), explicit(0, 20, "ef")}},
			want: []string{"2@8"},
		},
		{
			name: "flags 0 and 2 stay apart",
			mod:  wasmModule{segs: [][]byte{active(0, "ab"), active(2, "cd"), explicit(0, 4, "ef"), explicit(0, 6, "gh")}},
			want: []string{"0@0", "2@4"},
		},
		{
			name: "a data count section leaves the module as it is",
			mod:  wasmModule{dataCount: true, segs: [][]byte{active(0, "ab"), active(2, "cd")}},
		},
		{
			name: "an imported memory leaves the module as it is",
			mod:  wasmModule{importMemory: true, segs: [][]byte{active(0, "ab"), active(2, "cd")}},
		},
		{
			name:    "an imported memory and a defined one leave the module as it is",
			mod:     wasmModule{importMemory: true, alsoDefine: true, segs: [][]byte{active(0, "ab"), active(2, "cd")}},
			instErr: true, // wazero refuses a second memory
		},
		{
			name:    "segments in memory 1 stay as they are",
			mod:     wasmModule{segs: [][]byte{explicit(1, 0, "ab"), explicit(1, 2, "cd")}},
			instErr: true,
		},
		{
			name: "offsets past 2 GiB",
			mod:  wasmModule{segs: [][]byte{active(-16, "abcdefgh"), active(-8, "ijklmnop")}},
			want: []string{"0@4294967280"},
			// Both out of bounds of the one page.
			instErr: true,
		},
		{
			name: "an offset in a padded encoding",
			mod: wasmModule{segs: [][]byte{
				seg([]byte{0x80, 0x00}, []byte{0x41, 0x84, 0x80, 0x80, 0x80, 0x00, 0x0B}, "ab"),
				active(6, "cd"),
			}},
			want:    []string{"0@4"},
			wantLen: 4,
		},
		{
			name:    "out of bounds at the end",
			mod:     wasmModule{segs: [][]byte{active(65530, "abcd"), active(65534, "efgh")}},
			want:    []string{"0@65530"},
			instErr: true,
		},
		{
			name:    "in bounds to the last byte",
			mod:     wasmModule{segs: [][]byte{active(65530, "abcd"), active(65534, "ef")}},
			want:    []string{"0@65530"},
			wantLen: 6,
		},
		{
			name: "the zeros are bounded by the module's size",
			mod:  wasmModule{pages: 153, segs: sparse},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.mod.bytes()
			saved := bytes.Clone(in)
			out, err := datamerge.Merge(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in, saved) {
				t.Fatal("Merge changed its input")
			}
			segs := segments(t, out)
			switch {
			case tt.name == "the zeros are bounded by the module's size":
				if len(out) > 2*len(in) {
					t.Fatalf("%d bytes merged from %d", len(out), len(in))
				}
				if len(segs) < 2 || len(segs) == len(sparse) {
					t.Fatalf("%d segments from %d, want some merged and not all", len(segs), len(sparse))
				}
			case tt.want == nil:
				if &out[0] != &in[0] || len(out) != len(in) {
					t.Fatalf("module rewritten to %d segments, want it as it is", len(segs))
				}
			default:
				var got []string
				for _, s := range segs {
					switch off, ok := s.offset(); {
					case s.expr == nil:
						got = append(got, "1")
					case ok:
						got = append(got, fmt.Sprintf("%d@%d", s.flag, off))
					default:
						got = append(got, fmt.Sprintf("%d@?", s.flag))
					}
				}
				if strings.Join(got, " ") != strings.Join(tt.want, " ") {
					t.Fatalf("segments %v, want %v", got, tt.want)
				}
				if tt.wantLen != 0 && len(segs[0].init) != tt.wantLen {
					t.Fatalf("first segment has %d bytes, want %d", len(segs[0].init), tt.wantLen)
				}
			}
			sameSections(t, in, out)

			before, errBefore := instantiate(t, in)
			after, errAfter := instantiate(t, out)
			if (errBefore != nil) != tt.instErr || (errAfter != nil) != tt.instErr {
				t.Fatalf("instantiation: original %v, merged %v; want failure %v", errBefore, errAfter, tt.instErr)
			}
			if !bytes.Equal(before, after) {
				t.Fatalf("memories differ: first at %d", firstDiff(before, after))
			}
		})
	}
}

// sameSections fails unless every section of merged but the data section is
// that of orig, in the same order.
func sameSections(tb testing.TB, orig, merged []byte) {
	tb.Helper()
	a, b := sections(tb, orig), sections(tb, merged)
	if len(a) != len(b) {
		tb.Fatalf("%d sections, want %d", len(b), len(a))
	}
	for i := range a {
		if a[i].id != b[i].id || a[i].id != 11 && !bytes.Equal(a[i].content, b[i].content) {
			tb.Fatalf("section %d (id %d) differs", i, a[i].id)
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestMergeRejectsMalformed(t *testing.T) {
	valid := wasmModule{segs: [][]byte{active(0, "ab"), active(2, "cd")}}.bytes()
	base := wasmModule{}.bytes()
	base = base[:len(base)-3] // without its empty data section
	with := func(sections ...[]byte) []byte { return append(bytes.Clone(base), bytes.Join(sections, nil)...) }
	tests := []struct {
		name string
		wasm []byte
	}{
		{"empty", nil},
		{"bad magic", []byte("\x00asn\x01\x00\x00\x00")},
		{"bad version", []byte("\x00asm\x02\x00\x00\x00")},
		{"truncated", valid[:len(valid)-1]},
		{"section longer than the module", with([]byte{11, 0x7F})},
		{"segment flags 3", wasmModule{segs: [][]byte{seg([]byte{3}, i32(0), "ab"), active(2, "cd")}}.bytes()},
		{"offset overflows 32 bits", wasmModule{segs: [][]byte{
			seg([]byte{0}, []byte{0x41, 0x80, 0x80, 0x80, 0x80, 0x40, 0x0B}, "ab"), active(2, "cd"),
		}}.bytes()},
		{"segment count too high", with(section(11, vec(3, active(0, "ab"))))},
		{"bytes after the last segment", with(section(11, append(vec(2, active(0, "ab"), active(2, "cd")), 0)))},
		{"an unknown opcode in an offset", wasmModule{segs: [][]byte{seg([]byte{0}, []byte{0x42, 0, 0x0B}, "ab"), active(2, "cd")}}.bytes()},
		{"two data sections", append(bytes.Clone(valid), section(11, vec(1, active(0, "ab")))...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := datamerge.Merge(tt.wasm)
			if err == nil {
				t.Fatalf("Merge accepted it, returning %d bytes", len(out))
			}
			if out != nil {
				t.Fatal("a module along with the error")
			}
		})
	}
}

// The broadcast plugin, as Go's linker lays it out, comes back with the same
// memory image in a handful of segments and the rest of it byte for byte.
func TestMergeGoPlugin(t *testing.T) {
	wasm := plugintest.Go(t, "plugins/broadcast")
	merged, err := datamerge.Merge(wasm)
	if err != nil {
		t.Fatal(err)
	}
	before, after := len(segments(t, wasm)), len(segments(t, merged))
	t.Logf("plugins/broadcast: %d data segments merged into %d; module %d bytes, merged %d", before, after, len(wasm), len(merged))
	if before < 1000 || after > 16 {
		t.Errorf("%d segments merged into %d, want thousands into a handful", before, after)
	}
	sameSections(t, wasm, merged)
	imgBefore, ok1 := paint(t, wasm)
	imgAfter, ok2 := paint(t, merged)
	if !ok1 || !ok2 {
		t.Fatal("a segment at a non-constant offset")
	}
	if !bytes.Equal(imgBefore, imgAfter) {
		t.Fatalf("memory images differ: %d and %d bytes, first difference at %d", len(imgBefore), len(imgAfter), firstDiff(imgBefore, imgAfter))
	}

	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	var mems [][]byte
	for i, bin := range [][]byte{wasm, merged} {
		mod := instantiateWithStubs(t, rt, bin, fmt.Sprint(i))
		mem, _ := mod.Memory().Read(0, mod.Memory().Size())
		mems = append(mems, bytes.Clone(mem))
	}
	if !bytes.Equal(mems[0], mems[1]) {
		t.Fatalf("instantiated memories differ: first at %d", firstDiff(mems[0], mems[1]))
	}
}

// instantiateWithStubs instantiates wasm as name in rt, with no start
// function, after giving every function it imports a body that does nothing
// (never called: nothing runs).
func instantiateWithStubs(tb testing.TB, rt wazero.Runtime, wasm []byte, name string) api.Module {
	tb.Helper()
	ctx := context.Background()
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	stubs := map[string]wazero.HostModuleBuilder{}
	for _, def := range compiled.ImportedFunctions() {
		mod, fn, _ := def.Import()
		if rt.Module(mod) != nil {
			continue
		}
		if stubs[mod] == nil {
			stubs[mod] = rt.NewHostModuleBuilder(mod)
		}
		stubs[mod].NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {}), def.ParamTypes(), def.ResultTypes()).
			Export(fn)
	}
	for mod, b := range stubs {
		if _, err := b.Instantiate(ctx); err != nil {
			tb.Fatalf("stub %s: %v", mod, err)
		}
	}
	m, err := rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(name).WithStartFunctions())
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// Merge never panics and never changes its input; what it returns compiles
// exactly when the input does, paints the same memory image and, for a
// module with no start function, instantiates to the same memory or fails
// as the input does.
func FuzzMerge(f *testing.F) {
	for _, m := range []wasmModule{
		{segs: [][]byte{active(0, "ab"), active(2, "cd"), active(40, "ef")}},
		{segs: [][]byte{active(12, "xy"), active(0, "abcdefghij"), active(20, "klmnopqrst")}},
		{segs: [][]byte{explicit(0, 8, "ab"), passive("pp"), explicit(0, 10, "cd"), active(12, "ef")}},
		{importGlobal: true, segs: [][]byte{atGlobal(0, "gg"), active(60, "ab"), active(62, "cd")}},
		{segs: [][]byte{active(65530, "abcd"), active(65534, "efgh")}},
		{dataCount: true, segs: [][]byte{active(0, "ab"), active(2, "cd")}},
	} {
		f.Add(m.bytes())
	}
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		saved := bytes.Clone(wasm)
		out, err := datamerge.Merge(wasm)
		if !bytes.Equal(wasm, saved) {
			t.Fatal("Merge changed its input")
		}
		if err != nil {
			return
		}
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithMemoryLimitPages(16))
		defer rt.Close(ctx)
		_, errIn := rt.CompileModule(ctx, wasm)
		_, errOut := rt.CompileModule(ctx, out)
		if (errIn == nil) != (errOut == nil) {
			t.Fatalf("the input compiles: %v; the merged module: %v", errIn, errOut)
		}
		if errIn != nil {
			return
		}
		imgIn, ok1 := paint(t, wasm)
		imgOut, ok2 := paint(t, out)
		if ok1 != ok2 || !bytes.Equal(imgIn, imgOut) {
			t.Fatalf("memory images differ: first at %d", firstDiff(imgIn, imgOut))
		}
		for _, s := range sections(t, wasm) {
			if s.id == 8 {
				return // a start function would run
			}
		}
		memIn, errIn := instantiateBounded(t, wasm)
		memOut, errOut := instantiateBounded(t, out)
		if (errIn == nil) != (errOut == nil) || !bytes.Equal(memIn, memOut) {
			t.Fatalf("instantiation: input %v, merged %v; memories equal: %v", errIn, errOut, bytes.Equal(memIn, memOut))
		}
	})
}

// instantiateBounded is instantiate for fuzzed modules: interpreted, with
// at most 16 pages of memory and a deadline.
func instantiateBounded(tb testing.TB, wasm []byte) ([]byte, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithMemoryLimitPages(16).WithCloseOnContextDone(true))
	defer rt.Close(ctx)
	if _, err := rt.InstantiateWithConfig(ctx, envModule(64, 1), wazero.NewModuleConfig().WithName("env")); err != nil {
		tb.Fatalf("env module: %v", err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions())
	if err != nil {
		return nil, err
	}
	// Memory returns a nil *MemoryInstance, not a nil interface, for a
	// module without one.
	if m := mod.Memory(); m == nil || reflect.ValueOf(m).IsNil() {
		return nil, nil
	}
	mem, ok := mod.Memory().Read(0, mod.Memory().Size())
	if !ok {
		return nil, errors.New("memory not readable")
	}
	return bytes.Clone(mem), nil
}

func BenchmarkMerge(b *testing.B) {
	wasm := plugintest.Go(b, "plugins/broadcast")
	b.SetBytes(int64(len(wasm)))
	for b.Loop() {
		if _, err := datamerge.Merge(wasm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInstantiate measures what merging saves each instance of the
// broadcast plugin: instantiation with nothing run, then close.
func BenchmarkInstantiate(b *testing.B) {
	wasm := plugintest.Go(b, "plugins/broadcast")
	merged, err := datamerge.Merge(wasm)
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name string
		wasm []byte
	}{{"original", wasm}, {"merged", merged}} {
		b.Run(bm.name, func(b *testing.B) {
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			instantiateWithStubs(b, rt, bm.wasm, "seed").Close(ctx)
			compiled, err := rt.CompileModule(ctx, bm.wasm)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				m, err := rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
				if err != nil {
					b.Fatal(err)
				}
				m.Close(ctx)
			}
		})
	}
}
