package engine

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/internal/plugintest"
)

// echo is the smallest plugin: it exports memory, the marker and a message
// handler that does nothing.
const echo = `(module
  (memory (export "memory") 2)
  (func (export "torpor_abi_version") (result i32) (i32.const 0x00010001))
  (func (export "torpor_on_message") (param i64 i32 i32) (result i32) (i32.const 0)))`

// compile starts an engine with memory bytes of budget and compiles the WAT
// module src on it; both are released when the test ends.
func compile(t *testing.T, memory int64, src string, cfg PluginConfig) (*Engine, *Plugin) {
	t.Helper()
	ctx := context.Background()
	e, err := New(ctx, Config{MemoryBudget: memory, StackLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	p, err := e.Compile(ctx, plugintest.WATSource(t, src), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Retire(ctx) })
	return e, p
}

// A module closed by wazero (as a runtime closing, or a stopped guest
// unwinding, does) while a host function still holds a slice of its memory
// must not fault the process: the pages stay mapped until the instance's
// owner releases them, between calls. Without that, the writes below would
// kill the test binary with SIGSEGV, not fail it.
func TestClosedInstanceMemoryStaysMapped(t *testing.T) {
	ctx := context.Background()
	e, p := compile(t, 64<<20, echo, PluginConfig{})
	for range 20 {
		inst, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held, ok := inst.mem.Read(0, 2*65536) // what a host call works on
		if !ok {
			t.Fatal("read the instance's memory")
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := inst.mod.Close(ctx); err != nil {
				t.Error(err)
			}
		}()
		for i := range held {
			held[i] = byte(i)
		}
		wg.Wait()
		for i := range held {
			held[i]++
		}
		if e.budget.used.Load() == 0 {
			t.Fatal("the memory was given back before its owner released it")
		}
		inst.Close() // the owner: only now is it unmapped
	}
	// Pool 0: no instance waits in a pool, so nothing is charged now.
	if used := e.budget.used.Load(); used != 0 {
		t.Errorf("budget holds %d bytes after every instance closed, want 0", used)
	}
}

// The pool grows while wakes find it empty and gives its instances back
// once the burst is over.
func TestPoolFollowsDemand(t *testing.T) {
	ctx := context.Background()
	_, p := compile(t, 256<<20, echo, PluginConfig{Pool: 1, PoolMax: 8})
	var held []*Instance
	for range 20 { // a burst: faster than one refill
		inst, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, inst)
	}
	if n := p.poolSize.Load(); n != 8 {
		t.Errorf("pool size %d after a burst of empty-pool wakes, want the maximum 8", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(p.ready) < 8 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(p.ready) < 8 {
		t.Fatalf("pool refilled to %d, want 8", len(p.ready))
	}
	for _, inst := range held {
		inst.Close()
	}
	for (p.poolSize.Load() > 1 || len(p.ready) > 1) && time.Now().Before(deadline.Add(10*time.Second)) {
		time.Sleep(50 * time.Millisecond)
	}
	if n, r := p.poolSize.Load(), len(p.ready); n != 1 || r > 1 {
		t.Errorf("after the burst: pool size %d holding %d instances, want 1 and at most 1", n, r)
	}
}

// spinner's message handler never returns.
const spinner = `(module
  (memory (export "memory") 1)
  (func (export "torpor_abi_version") (result i32) (i32.const 0x00010001))
  (func (export "torpor_on_message") (param i64 i32 i32) (result i32) (loop $l (br $l)) (i32.const 0)))`

// Compiled wasm is no safe point for the Go runtime: a collection that
// stops the world must wait for every guest call to come back to Go code,
// and while it waits nothing else runs, the watchdog included. A guest
// that never ends would hang the process. The fuel brings it back often
// enough that collections finish while it spins, and the watchdog still
// ends it.
func TestCollectionsRunWhileAGuestSpins(t *testing.T) {
	_, p := compile(t, 64<<20, spinner, PluginConfig{})
	inst, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	done := make(chan error, 1)
	go func() {
		_, err := inst.Call(ExportMessage, Deadline{CPU: 3 * time.Second, Wall: 6 * time.Second}, 1, 0, 0)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // into the loop
	for i := range 3 {
		runtime.GC()
		select {
		case err := <-done:
			t.Fatalf("the spinning call ended (%v) before collection %d finished", err, i+1)
		default:
		}
	}
	if err := <-done; !errors.Is(err, ErrTimeout) {
		t.Fatalf("the spinning call ended with %v, want ErrTimeout", err)
	}
}
