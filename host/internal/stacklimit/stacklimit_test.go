package stacklimit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/torpor-dev/torpor/host/internal/stacklimit"
	"github.com/torpor-dev/torpor/internal/plugintest"
)

// run instruments wasm with limit, instantiates it and calls fn(arg).
func run(t *testing.T, wasm []byte, limit uint32, fn string, args ...uint64) ([]uint64, error) {
	t.Helper()
	out, err := stacklimit.Instrument(wasm, limit)
	if err != nil {
		t.Fatalf("instrument: %v", err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, out)
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

// stoppable spins in a loop that never calls a function, and has a start
// function that sets a global.
const stoppable = `(module
  (global $started (export "started") (mut i32) (i32.const 0))
  (func $init (global.set $started (i32.const 42)))
  (start $init)
  (func (export "spin") (loop $l (br $l))))`

// The stop global ends a call that spins in a loop without calls, from
// another goroutine, and the start section becomes an export that has the
// start function's effect, instead of running inside instantiation.
func TestInstrumentStopAndStart(t *testing.T) {
	out, err := stacklimit.Instrument(plugintest.WATSource(t, stoppable), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
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
	stop, ok := mod.ExportedGlobal(stacklimit.StopExport).(api.MutableGlobal)
	if !ok {
		t.Fatalf("%s is not an exported mutable global", stacklimit.StopExport)
	}
	time.AfterFunc(20*time.Millisecond, func() { stop.Set(1) })
	done := make(chan error, 1)
	go func() {
		_, err := mod.ExportedFunction("spin").Call(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("spin ended with %v, want the stop check's trap", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("setting the stop global did not end the spinning call")
	}
}
