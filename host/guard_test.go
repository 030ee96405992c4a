package host_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/internal/plugintest"
)

// Tests of the bounds a hostile plugin meets in the host: deadlines on every
// entry into a guest, the memory budget, and the log limits. The same
// attacks against a real `torpor serve` are in cmd/torpor.

const watHeader = `
  (func (export "torpor_abi_version") (result i32) (i32.const 0x00010000))`

func watModule(body string) func(testing.TB) []byte {
	return func(tb testing.TB) []byte { return plugintest.WATSource(tb, "(module\n"+body+watHeader+"\n)") }
}

// spinStart loops forever in its start function.
var spinStart = watModule(`
  (memory (export "memory") 1)
  (func $spin (loop $l (br $l)))
  (start $spin)
  (func (export "torpor_on_message") (param i64 i32 i32) (result i32) (i32.const 0))`)

// spinStartAfter loops forever in its start function once the wall clock
// is past deadline, so that its deploy succeeds and its later
// instantiations (pool refills, wakes) spin.
func spinStartAfter(deadline time.Time) func(testing.TB) []byte {
	return watModule(fmt.Sprintf(`
  (import "wasi_snapshot_preview1" "clock_time_get" (func $now (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func $start
    (drop (call $now (i32.const 0) (i64.const 1) (i32.const 0)))
    (if (i64.gt_u (i64.load (i32.const 0)) (i64.const %d))
      (then (loop $l (br $l)))))
  (start $start)
  (func (export "torpor_on_message") (param i64 i32 i32) (result i32) (i32.const 0))`, deadline.UnixNano()))
}

// A start function that never returns is refused at upload, within the
// instantiation limit, with a message that says so; nothing is stored.
func TestSpinningStartFunctionIsRefused(t *testing.T) {
	h := newHost(t, host.Options{Limits: host.Limits{InitCPU: 200 * time.Millisecond}})
	start := time.Now()
	_, err := h.Deploy(context.Background(), "spin", spinStart(t))
	if !errors.Is(err, host.ErrInvalidPlugin) || !strings.Contains(err.Error(), "time limit") {
		t.Fatalf("deploy: err = %v, want an invalid plugin that exceeded its time limit", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the refusal took %v", took)
	}
	if vs, _ := h.Plugins(); len(vs) != 0 {
		t.Fatalf("a refused plugin was stored: %+v", vs)
	}
}

// A plugin whose start function starts spinning after its deploy holds
// nothing: a connect that needs a fresh instance fails within the limit,
// removing the plugin and deploying others do not wait for it, a bystander
// answers throughout and Close returns promptly.
func TestWedgingStartFunctionHoldsNothing(t *testing.T) {
	h := newHost(t, host.Options{Prewarm: 1, Limits: host.Limits{InitCPU: 200 * time.Millisecond}})
	deploy(t, h, "counter", watCounter)
	bystander := connect(t, h, "counter/ok", "")
	deadline := time.Now().Add(time.Second)
	deploy(t, h, "wedge", spinStartAfter(deadline))
	time.Sleep(time.Until(deadline) + 50*time.Millisecond)

	// The pool held instances made before the deadline; after them, every
	// instantiation spins and is stopped.
	var refused error
	for i := range 4 {
		start := time.Now()
		_, err := tryConnect(h, fmt.Sprintf("wedge/o%d", i), "")
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("connect %d took %v", i, took)
		}
		if err != nil {
			refused = err
			break
		}
	}
	if refused == nil {
		t.Fatal("every connect succeeded: the start function never ran again")
	}
	if got := bystander.ask(t, "inc"); got != "1" {
		t.Fatalf("bystander answered %q", got)
	}
	start := time.Now()
	if err := h.RemovePlugin(context.Background(), "wedge"); err != nil {
		t.Fatal(err)
	}
	deploy(t, h, "other", watCounter)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("remove and deploy took %v", took)
	}
	start = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Close took %v", took)
	}
}

// memoryGrower grows its memory 1 MiB at a time until the host refuses,
// then answers with how many pages it has: a refused grow is the guest's
// own business, not a fault.
var memoryGrower = watModule(`
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (block $full
      (loop $grow
        (br_if $full (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
        (br $grow)))
    (i32.store (i32.const 0) (memory.size))
    (drop (call $send (local.get $conn) (i32.const 2) (i32.const 0) (i32.const 4)))
    (i32.const 0))`)

// The memory budget bounds what all instances hold together, and a
// plugin's share what its instances hold: growing past them fails in the
// guest that asked, and another plugin's objects still get memory.
func TestMemoryBudgetBoundsEveryInstance(t *testing.T) {
	const budget, share = 24 << 20, 12 << 20
	h := newHost(t, host.Options{MemoryBudget: budget, PluginMemory: share, Prewarm: -1})
	deploy(t, h, "grow", memoryGrower)
	deploy(t, h, "counter", watCounter)
	pages := func(c *client) int {
		t.Helper()
		c.send(t, "grow")
		f := c.next(t)
		return int(binary.LittleEndian.Uint32(f.Data))
	}
	total := 0
	for i := range 3 {
		c, err := tryConnect(h, fmt.Sprintf("grow/g%d", i), "")
		if err != nil {
			// The share is spent: this object cannot even start.
			if !strings.Contains(err.Error(), "memory budget") {
				t.Fatalf("connect %d: %v", i, err)
			}
			continue
		}
		n := pages(c)
		total += n
		t.Logf("object %d grew to %d pages", i, n)
	}
	if total*65536 > share {
		t.Fatalf("the plugin's instances hold %d pages, its share is %d bytes", total, share)
	}
	if got := h.Stats().MemoryRefused; got == 0 {
		t.Fatal("no grow was refused")
	}
	if got := connect(t, h, "counter/c", "").ask(t, "inc"); got != "1" {
		t.Fatalf("another plugin's object answered %q", got)
	}
	if used := h.Stats().MemoryUsed; used > budget {
		t.Fatalf("memory used %d, budget %d", used, budget)
	}
}

// logHandler records what reaches the host log.
type logHandler struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines int
}

func (l *logHandler) Enabled(context.Context, slog.Level) bool { return true }
func (l *logHandler) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines++
	l.buf.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { l.buf.WriteString(" " + a.String()); return true })
	l.buf.WriteByte('\n')
	return nil
}
func (l *logHandler) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logHandler) WithGroup(string) slog.Handler      { return l }

func (l *logHandler) snapshot() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String(), l.lines
}

// logger abuses the guest log: "big" logs one 48 MiB line, "flood" 100,000
// lines, "iov" makes an fd_write of 1,000,000 buffers and then of 1,024
// buffers of 1 KiB; it answers with the statuses it got.
var logger = watModule(`
  (import "torpor_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "torpor_v1" "send" (func $send (param i64 i32 i32 i32) (result i32)))
  (import "torpor_v1" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "torpor_on_message") (param $conn i64) (param $kind i32) (param $len i32) (result i32)
    (local $i i32)
    (i32.store (i32.const 0) (i32.const 0))
    (drop (call $event_read (i32.const 0) (i32.const 4)))
    ;; "big"
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x00676962))
      (then
        (drop (memory.grow (i32.const 800)))
        (i32.store (i32.const 16) (call $log (i32.const 1) (i32.const 0) (i32.const 50331648)))))
    ;; "floo"
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x6f6f6c66))
      (then
        (loop $l
          (drop (call $log (i32.const 1) (i32.const 1024) (i32.const 100)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 100000))))))
    ;; "iov": 1,000,000 iovecs at 0x10000 (8 MiB of them), then 1,024
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x00766f69))
      (then
        (drop (memory.grow (i32.const 200)))
        (loop $fill
          (i32.store (i32.add (i32.const 0x10000) (i32.mul (local.get $i) (i32.const 8))) (i32.const 1024))
          (i32.store (i32.add (i32.const 0x10004) (i32.mul (local.get $i) (i32.const 8))) (i32.const 1024))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $fill (i32.lt_u (local.get $i) (i32.const 1000000))))
        (i32.store (i32.const 16) (call $fd_write (i32.const 1) (i32.const 0x10000) (i32.const 1000000) (i32.const 32)))
        (i32.store (i32.const 20) (call $fd_write (i32.const 1) (i32.const 0x10000) (i32.const 1024) (i32.const 32)))))
    (drop (call $send (local.get $conn) (i32.const 2) (i32.const 16) (i32.const 8)))
    (i32.const 0))`)

// Guest logs are cut per line and bounded per event and per object; what
// is dropped is counted and reported, and fd_write's work is bounded.
func TestGuestLogsAreBounded(t *testing.T) {
	logs := &logHandler{}
	h := newHost(t, host.Options{Logger: slog.New(logs)})
	deploy(t, h, "logger", logger)
	c := connect(t, h, "logger/l", "")
	statuses := func(cmd string) (uint32, uint32) {
		t.Helper()
		c.send(t, cmd)
		f := c.next(t)
		return binary.LittleEndian.Uint32(f.Data), binary.LittleEndian.Uint32(f.Data[4:])
	}
	lim := h.Limits()

	if st, _ := statuses("big"); abi.Status(st) != abi.OK {
		t.Fatalf("log of 48 MiB: status %d", st)
	}
	out, _ := logs.snapshot()
	if len(out) > 2*lim.LogLine || !strings.Contains(out, "cut_bytes=") {
		t.Fatalf("a 48 MiB line reached the log as %d bytes (limit %d):\n%.300s", len(out), lim.LogLine, out)
	}

	statuses("flood")
	// The report follows the event, after its reply.
	hosttestEventually(t, func() bool {
		out, _ = logs.snapshot()
		return strings.Contains(out, "guest log lines dropped")
	})
	if len(out) > 2*lim.LogEvent {
		t.Fatalf("one event logged %d bytes, limit %d", len(out), lim.LogEvent)
	}
	if h.Stats().GuestLogDropped == 0 {
		t.Fatal("dropped lines were not counted")
	}

	before := len(out)
	many, some := statuses("iov")
	if many != 28 { // EINVAL
		t.Fatalf("fd_write of 1,000,000 buffers: errno %d, want EINVAL (28)", many)
	}
	if some != 0 {
		t.Fatalf("fd_write of 1,024 buffers: errno %d", some)
	}
	if out, _ = logs.snapshot(); len(out)-before > 2*lim.LogLine {
		t.Fatalf("fd_write of 1 MiB logged %d bytes", len(out)-before)
	}
}

// recurse calls itself without end.
var recurse = watModule(`
  (memory (export "memory") 1)
  (func $down (param $n i64) (result i64)
    (i64.add (call $down (i64.add (local.get $n) (i64.const 1))) (i64.const 1)))
  (func (export "torpor_on_message") (param i64 i32 i32) (result i32)
    (drop (call $down (i64.const 0)))
    (i32.const 0))`)

// A stack overflow fails its event like any trap and is counted.
func TestStackOverflowIsContained(t *testing.T) {
	// A generous time limit, so that the overflow comes first even under
	// the race detector.
	h := newHost(t, host.Options{Limits: host.Limits{EventCPU: 20 * time.Second}})
	deploy(t, h, "deep", recurse)
	deploy(t, h, "counter", watCounter)
	c := connect(t, h, "deep/d", "")
	c.send(t, "go")
	hosttestEventually(t, func() bool { return h.Stats().StackOverflows == 1 })
	if got := connect(t, h, "counter/c", "").ask(t, "inc"); got != "1" {
		t.Fatalf("bystander answered %q", got)
	}
}

func hosttestEventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
