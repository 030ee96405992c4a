package stacklimit_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/torpor-dev/torpor/host/internal/stacklimit"
	"github.com/torpor-dev/torpor/internal/plugintest"
)

// newRuntime returns a runtime with the host function instrumented modules
// import, which calls yield (if not nil) each time.
func newRuntime(t *testing.T, yield func()) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	_, err := rt.NewHostModuleBuilder(stacklimit.YieldModule).
		NewFunctionBuilder().
		WithFunc(func() {
			if yield != nil {
				yield()
			}
		}).
		Export(stacklimit.YieldImport).
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// run instruments wasm with limit, instantiates it and calls fn(arg).
func run(t *testing.T, wasm []byte, limit uint32, fn string, args ...uint64) ([]uint64, error) {
	t.Helper()
	out, err := stacklimit.Instrument(wasm, limit)
	if err != nil {
		t.Fatalf("instrument: %v", err)
	}
	ctx := context.Background()
	mod, err := newRuntime(t, nil).Instantiate(ctx, out)
	if err != nil {
		t.Fatalf("instantiate the instrumented module: %v", err)
	}
	return mod.ExportedFunction(fn).Call(ctx, args...)
}

// depth recurses n deep through a function with one parameter and two
// locals (frame 64+16*3 = 112 bytes), returning n; multi-value results,
// returns from nested blocks and br to the function's label all leave the
// function through the rewritten exits.
const depth = `(module
  (func $down (export "down") (param $n i32) (result i32)
    (local i64 i64)
    (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
    (block $b
      (br_if $b (i32.eq (local.get $n) (i32.const 7))))
    (if (i32.eq (local.get $n) (i32.const 5))
      (then (br 1 (i32.add (call $down (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))
    (i32.add (call $down (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))
  (func $pair (export "pair") (param $n i32) (result i32 i64)
    (block $out (result i32 i64)
      (br_if $out (i32.const 1) (i64.const 2) (local.get $n))
      (return (i32.const 3) (i64.const 4)))
    )
  (func (export "balanced") (param $n i32) (result i32)
    ;; calls down many times: the counter must come back to zero each time
    (local $i i32)
    (loop $l
      (drop (call $down (i32.const 100)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (call $down (i32.const 100)))
)`

func TestInstrumentBoundsDepthAndKeepsBehaviour(t *testing.T) {
	wasm := plugintest.WATSource(t, depth)
	const frame = 112
	tests := []struct {
		name  string
		limit uint32
		fn    string
		arg   uint64
		want  []uint64
		trap  bool
	}{
		{"within the limit", 1000 * frame, "down", 500, []uint64{500}, false},
		{"exactly the limit", 1000 * frame, "down", 999, []uint64{999}, false},
		{"one frame past it", 1000 * frame, "down", 1000, nil, true},
		{"multi-value returns", 1000 * frame, "pair", 0, []uint64{3, 4}, false},
		{"multi-value br to the function", 1000 * frame, "pair", 1, []uint64{1, 2}, false},
		{"exits release their frames", 200 * frame, "balanced", 10000, []uint64{100}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := run(t, wasm, tt.limit, tt.fn, tt.arg)
			if tt.trap {
				if err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("err = %v, want the limit's unreachable trap", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// Every example plugin, Go and WAT, still compiles once instrumented.
func TestInstrumentedPluginsCompile(t *testing.T) {
	for name, wasm := range map[string][]byte{
		"chat":        plugintest.Go(t, "plugins/chat"),
		"counter-wat": plugintest.WAT(t, "plugins/counter-wat/counter.wat"),
	} {
		t.Run(name, func(t *testing.T) {
			out, err := stacklimit.Instrument(wasm, 4<<20)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			if _, err := rt.CompileModule(ctx, out); err != nil {
				t.Fatalf("instrumented %s does not compile: %v", name, err)
			}
		})
	}
}

// Instrument never panics, and what it returns for a module wazero accepts
// is a module wazero accepts.
func FuzzInstrument(f *testing.F) {
	f.Add(plugintest.WATSource(f, depth))
	f.Add(plugintest.WAT(f, "plugins/counter-wat/counter.wat"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add(plugintest.WATSource(f, `(module (func (export "f") (result i32) (i32.const 1)))`))
	f.Add(plugintest.WATSource(f, `(module (func $f) (start $f))`))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := stacklimit.Instrument(wasm, 1<<20)
		ctx := context.Background()
		rt := wazero.NewRuntime(ctx)
		defer rt.Close(ctx)
		if _, cerr := rt.CompileModule(ctx, wasm); cerr != nil || err != nil {
			return // not a module for both
		}
		if _, err := rt.CompileModule(ctx, out); err != nil {
			t.Fatalf("the input compiles, the instrumented module does not: %v", err)
		}
	})
}

// stoppable spins in a loop that never calls a function (or loops n
// times, or recurses without a loop 2^d times), and has a start function
// that sets a global.
const stoppable = `(module
  (global $started (export "started") (mut i32) (i32.const 0))
  (func $init (global.set $started (i32.const 42)))
  (start $init)
  (func (export "spin") (loop $l (br $l)))
  (func (export "laps") (param $n i32)
    (loop $l (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
  (func $tree (export "tree") (param $d i32)
    (if (local.get $d) (then
      (call $tree (i32.sub (local.get $d) (i32.const 1)))
      (call $tree (i32.sub (local.get $d) (i32.const 1)))))))`

// The fuel brings a call that spins in a loop without calls, or recurses,
// back to the host every FuelPerYield checks, where a stop of the world can take
// place and a panic stops the call; an empty fuel makes it come back at
// once. The start section becomes an export that has the start function's
// effect, instead of running inside instantiation.
func TestInstrumentFuelAndStart(t *testing.T) {
	out, err := stacklimit.Instrument(plugintest.WATSource(t, stoppable), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var yields, stop atomic.Int64
	rt := newRuntime(t, func() {
		yields.Add(1)
		if stop.Load() != 0 {
			panic("stopped")
		}
	})
	ctx := context.Background()
	mod, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	started := mod.ExportedGlobal("started")
	if got := started.Get(); got != 0 {
		t.Fatalf("the start function ran inside instantiation (started = %d)", got)
	}
	if _, err := mod.ExportedFunction(stacklimit.StartExport).Call(ctx); err != nil {
		t.Fatal(err)
	}
	if got := started.Get(); got != 42 {
		t.Fatalf("started = %d after %s, want 42", got, stacklimit.StartExport)
	}

	// A bounded loop yields once per FuelPerYield headers.
	const laps = 5*stacklimit.FuelPerYield + 100
	if _, err := mod.ExportedFunction("laps").Call(ctx, laps); err != nil {
		t.Fatal(err)
	}
	if got := yields.Load(); got < 5 || got > 6 {
		t.Fatalf("%d loop headers yielded %d times, want 5 or 6 (one per %d checks)", laps, got, stacklimit.FuelPerYield)
	}

	// So does recursion without a loop: every function that calls checks
	// its fuel on entry.
	yields.Store(0)
	if _, err := mod.ExportedFunction("tree").Call(ctx, 20); err != nil {
		t.Fatal(err)
	}
	if got, want := yields.Load(), int64(1<<21/stacklimit.FuelPerYield); got < want-1 || got > want+1 {
		t.Fatalf("2^21 calls yielded %d times, want about %d", got, want)
	}

	fuel, ok := mod.ExportedGlobal(stacklimit.FuelExport).(api.MutableGlobal)
	if !ok {
		t.Fatalf("%s is not an exported mutable global", stacklimit.FuelExport)
	}
	done := make(chan error, 1)
	go func() {
		_, err := mod.ExportedFunction("spin").Call(ctx)
		done <- err
	}()
	// Compiled wasm is no safe point: without the yields, this would wait
	// for the spinning call for ever, and nothing would run meanwhile.
	gc := make(chan struct{})
	go func() { runtime.GC(); close(gc) }()
	select {
	case <-gc:
	case <-time.After(10 * time.Second):
		t.Fatal("a garbage collection did not finish while a guest spun")
	}
	stop.Store(1)
	fuel.Set(0)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "stopped") {
			t.Fatalf("spin ended with %v, want the yield's panic", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a yield that panics did not end the spinning call")
	}
}

// indices calls through every place a function index can sit: direct
// calls to an import and to defined functions, a table filled by active
// and passive element segments, a global's ref.func, exports and the start
// function, and traps in a named function.
const indices = `(module
  (import "env" "add" (func $add (param i32 i32) (result i32)))
  (type $un (func (param i32) (result i32)))
  (table $t 8 funcref)
  (elem (i32.const 0) $double $triple)
  (elem $later func $quad $double)
  (elem declare func $neg)
  (global $g funcref (ref.func $neg))
  (global $ran (mut i32) (i32.const 0))
  (func $double (param i32) (result i32) (call $add (local.get 0) (local.get 0)))
  (func $triple (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
  (func $quad (param i32) (result i32) (i32.mul (local.get 0) (i32.const 4)))
  (func $neg (param i32) (result i32) (i32.sub (i32.const 0) (local.get 0)))
  (func $init (global.set $ran (i32.add (global.get $ran) (i32.const 1))))
  (start $init)
  (func (export "table") (param i32 i32) (result i32)
    (call_indirect $t (type $un) (local.get 1) (local.get 0)))
  (func (export "passive") (param i32) (result i32)
    (table.init $t $later (i32.const 4) (i32.const 0) (i32.const 2))
    (call_indirect $t (type $un) (local.get 0) (i32.const 4)))
  (func (export "ref") (param i32) (result i32)
    (table.set $t (i32.const 6) (global.get $g))
    (call_indirect $t (type $un) (local.get 0) (i32.const 6)))
  (func (export "funcref") (param i32) (result i32)
    (table.set $t (i32.const 7) (ref.func $quad))
    (call_indirect $t (type $un) (local.get 0) (i32.const 7)))
  (func (export "direct") (param i32) (result i32) (call $triple (local.get 0)))
  (func (export "ran") (result i32) (global.get $ran))
  (func $explode (unreachable))
  (func (export "boom") (call $explode))
)`

// Adding the yield import moves every defined function's index; the
// rewritten module must call, export, start and name the same functions.
func TestInstrumentMovesFunctionIndices(t *testing.T) {
	src := filepath.Join(t.TempDir(), "indices.wat")
	if err := os.WriteFile(src, []byte(indices), 0o644); err != nil {
		t.Fatal(err)
	}
	wasm, err := exec.Command("wat2wasm", "--debug-names", "-o", "/dev/stdout", src).Output()
	if err != nil {
		t.Fatalf("wat2wasm: %v", err)
	}
	out, err := stacklimit.Instrument(wasm, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := func(t *testing.T, mod api.Module, fn string, args ...uint64) ([]uint64, error) {
		t.Helper()
		f := mod.ExportedFunction(fn)
		if f == nil {
			t.Fatalf("no export %q", fn)
		}
		return f.Call(ctx, args...)
	}
	instantiate := func(t *testing.T, wasm []byte) api.Module {
		rt := newRuntime(t, nil)
		_, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
			WithFunc(func(a, b uint32) uint32 { return a + b }).Export("add").Instantiate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mod, err := rt.Instantiate(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		return mod
	}
	orig, inst := instantiate(t, wasm), instantiate(t, out)
	if _, err := call(t, inst, stacklimit.StartExport); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		fn   string
		args []uint64
	}{
		{"table", []uint64{0, 7}}, {"table", []uint64{1, 7}},
		{"passive", []uint64{7}}, {"ref", []uint64{7}}, {"funcref", []uint64{7}},
		{"direct", []uint64{7}}, {"ran", nil},
	} {
		want, werr := call(t, orig, tt.fn, tt.args...)
		got, gerr := call(t, inst, tt.fn, tt.args...)
		if werr != nil || gerr != nil || len(got) != 1 || got[0] != want[0] {
			t.Errorf("%s%v: instrumented %v (%v), original %v (%v)", tt.fn, tt.args, got, gerr, want, werr)
		}
	}
	_, err = call(t, inst, "boom")
	if err == nil || !strings.Contains(err.Error(), "explode") {
		t.Errorf("a trap in $explode reads %v; want its stack trace to name $explode", err)
	}
}

// A module may not import the yield function itself: calling it would let
// a guest stop or pace itself through the host's own mechanism.
func TestInstrumentRefusesTheYieldImport(t *testing.T) {
	wasm := plugintest.WATSource(t, `(module (import "__torpor" "yield" (func)))`)
	_, err := stacklimit.Instrument(wasm, 1<<20)
	if err == nil || !strings.Contains(err.Error(), "reserves") {
		t.Fatalf("instrumenting a module that imports %s.%s: %v, want a refusal", stacklimit.YieldModule, stacklimit.YieldImport, err)
	}
}
