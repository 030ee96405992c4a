package host_test

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/internal/hosttest"
)

// Deploy refuses anything that is not a torpor v1 plugin, naming the cause.
func TestDeployRejectsBrokenModules(t *testing.T) {
	h := newHost(t, host.Options{})
	tests := []struct {
		name string
		wasm func(testing.TB) []byte
		want string
	}{
		{"empty", func(testing.TB) []byte { return nil }, "empty module"},
		{"garbage", func(testing.TB) []byte { return []byte("#!/bin/sh\necho not wasm\n") }, "not a WebAssembly module"},
		{"truncated", func(tb testing.TB) []byte { return watCounter(tb)[:40] }, "not a valid WebAssembly module"},
		{"no marker", testdata("nomarker.wat"), "missing export torpor_abi_version"},
		{"wrong major", testdata("wrongmajor.wat"), "built for ABI v2.0; this host speaks v1.1"},
		{"no message handler", testdata("nomessage.wat"), "missing required export torpor_on_message"},
		{"bad signature", testdata("badsig.wat"), "export torpor_on_message has type () -> (i32)"},
		{"unknown import", testdata("unknownimport.wat"), "unknown import env.teleport"},
		{"other ABI import", testdata("wrongabi.wat"), "imports torpor_v2.send: the plugin was built for ABI v2"},
		{"no memory", testdata("nomemory.wat"), `missing export "memory"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Deploy(context.Background(), "broken", tt.wasm(t))
			if !errors.Is(err, host.ErrInvalidPlugin) {
				t.Fatalf("err = %v, want ErrInvalidPlugin", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to say %q", err, tt.want)
			}
		})
	}
	if vs, _ := h.Plugins(); len(vs) != 0 {
		t.Fatalf("a refused upload was stored: %+v", vs)
	}
	if _, err := h.Deploy(context.Background(), "Bad Name", watCounter(t)); !errors.Is(err, host.ErrInvalidName) {
		t.Fatalf("bad plugin name: err = %v", err)
	}
}

// A guest that loops forever is stopped by the CPU limit; repeated failures
// mark its object failed and close its sockets with 1011, while other
// objects keep answering. Evict clears the mark.
func TestEndlessLoopIsStoppedAndContained(t *testing.T) {
	h := newHost(t, host.Options{Limits: host.Limits{EventCPU: 50 * time.Millisecond}})
	deploy(t, h, "loop", testdata("loop.wat"))
	deploy(t, h, "counter", watCounter)
	bystander := connect(t, h, "counter/ok", "")
	looper := connect(t, h, "loop/spin", "")
	for range 3 {
		looper.send(t, "spin")
		if got := bystander.ask(t, "inc"); got == "" {
			t.Fatal("bystander got no answer")
		}
	}
	select {
	case <-looper.Done:
	case <-time.After(10 * time.Second):
		t.Fatal("a failed object's socket was not closed")
	}
	if _, code := looper.isClosed(); code != 1011 {
		t.Fatalf("close code = %d, want 1011", code)
	}
	if st := objectState(t, h, "loop/spin"); st != host.StateFailed {
		t.Fatalf("state = %s, want failed", st)
	}
	if _, err := tryConnect(h, "loop/spin", ""); !errors.Is(err, host.ErrObjectFailed) {
		t.Fatalf("connect to failed object: err = %v", err)
	}
	if err := h.Evict(context.Background(), host.ObjectID{Plugin: "loop", Name: "spin"}, host.EvictOptions{}); err != nil {
		t.Fatal(err)
	}
	again := connect(t, h, "loop/spin", "")
	if got := again.ask(t, "ok"); got != "ok" {
		t.Fatalf("after evict: %q", got)
	}
}

// A guest that grows its memory without end hits the page limit inside the
// guest (memory.grow fails) and the host is unharmed.
func TestMemoryBombHitsPageLimit(t *testing.T) {
	h := newHost(t, host.Options{Limits: host.Limits{MemoryPages: 64}})
	deploy(t, h, "bomb", testdata("membomb.wat"))
	deploy(t, h, "counter", watCounter)
	c := connect(t, h, "bomb/b", "")
	if got := c.ask(t, "grow"); got != "limited" {
		t.Fatalf("bomb replied %q", got)
	}
	if pages := inspect(t, h, "bomb/b").MemoryPages; pages > 64 {
		t.Fatalf("instance has %d pages, limit 64", pages)
	}
	if got := connect(t, h, "counter/x", "").ask(t, "inc"); got != "1" {
		t.Fatalf("other object answered %q", got)
	}
}

// Every import given an out-of-range pointer returns Bounds rather than
// trapping or touching host memory.
func TestBadPointersGetBoundsStatus(t *testing.T) {
	h := newHost(t, host.Options{})
	deploy(t, h, "badptr", testdata("badptr.wat"))
	c := connect(t, h, "badptr/p", "")
	c.send(t, "go")
	f := c.next(t)
	if f.Kind != abi.Binary || len(f.Data) != 30 {
		t.Fatalf("got %s frame of %d bytes, want 30 binary status bytes", f.Kind, len(f.Data))
	}
	for i, st := range f.Data {
		if abi.Status(st) != abi.Bounds {
			t.Errorf("call %d returned %s, want %s", i, abi.Status(st), abi.Bounds)
		}
	}
	c.send(t, "go")
	if f := c.next(t); len(f.Data) != 30 {
		t.Fatalf("second run sent %d bytes; the object is not answering as before", len(f.Data))
	}
}

// A handler that writes, sends and then traps leaves nothing behind, and an
// alarm whose handler fails is retried, then dropped.
func TestTrapperLeavesNothing(t *testing.T) {
	h := newHost(t, host.Options{MaxFailures: 100, AlarmRetries: 2, AlarmRetryBase: 10 * time.Millisecond})
	deploy(t, h, "trapper", testdata("trapper.wat"))
	c := connect(t, h, "trapper/t", "")
	c.send(t, "write and trap")
	if got := c.ask(t, "ok"); got != "ok" {
		t.Fatalf("got %q, want ok (a trapped frame leaked?)", got)
	}
	if info := inspect(t, h, "trapper/t"); info.StorageKeys != 0 {
		t.Fatalf("a trapped write was committed: %d keys", info.StorageKeys)
	}
	if got := c.ask(t, "alarm"); got != "alarm set" {
		t.Fatalf("alarm reply %q", got)
	}
	hosttest.Eventually(t, "failing alarm to be retried and dropped", func() bool {
		return inspect(t, h, "trapper/t").Alarm.IsZero()
	})
}

// One storage_list call returns at most 256 entries, so a guest cannot make
// the host load a large key space at once; asking for everything when there
// is more answers TooLarge, never a silently short list.
func TestStorageListIsBounded(t *testing.T) {
	h := newHost(t, host.Options{})
	deploy(t, h, "lister", testdata("lister.wat"))
	c := connect(t, h, "lister/l", "")
	c.send(t, "go")
	f := c.next(t)
	if len(f.Data) != 7 {
		t.Fatalf("got %d bytes, want 3 statuses and a length", len(f.Data))
	}
	want := []abi.Status{abi.TooLarge, abi.TooLarge, abi.OK}
	for i, w := range want {
		if got := abi.Status(f.Data[i]); got != w {
			t.Errorf("call %d returned %s, want %s", i, got, w)
		}
	}
	// 256 pairs of a 3-byte key and a 1-byte value, each item length-prefixed.
	if n := binary.LittleEndian.Uint32(f.Data[3:]); n != 256*(4+3+4+1) {
		t.Errorf("listed %d bytes, want %d", n, 256*(4+3+4+1))
	}
}
