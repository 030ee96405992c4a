// Package hosttest starts real hosts for tests of the packages around the
// host (the host itself, the gateway, the admin API, the binary): badger in
// a temp dir with NoSync, a logger that stays quiet unless TORPOR_TEST_LOG is
// set, and one compilation cache for every test process on the machine, since
// compiling a Go plugin is the slowest step of a host start (seconds, and
// more under -race). It also has Conn, a host.Conn that records what a
// WebSocket client would see.
package hosttest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/internal/testlog"
)

// CacheDir is the compilation cache tests share. wazero writes cache entries
// atomically (temp file and rename), so concurrent test processes may use it.
func CacheDir() string {
	return filepath.Join(os.TempDir(), "torpor-test-wasm-cache")
}

// New starts a host and closes it when the test ends. Zero fields of opts
// get test defaults: a temp DataDir, the shared CacheDir, the quiet logger,
// and an Idle of an hour, so that only tests that ask for hibernation see it.
// NoSync is always set.
func New(tb testing.TB, opts host.Options) *host.Host {
	tb.Helper()
	if opts.DataDir == "" {
		opts.DataDir = tb.TempDir()
	}
	if opts.CacheDir == "" {
		opts.CacheDir = CacheDir()
	}
	if opts.Idle == 0 {
		opts.Idle = time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = testlog.Discard()
	}
	opts.NoSync = true
	h, err := host.New(opts)
	if err != nil {
		tb.Fatalf("new host: %v", err)
	}
	tb.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil && !errors.Is(err, host.ErrClosed) {
			tb.Errorf("close host: %v", err)
		}
	})
	return h
}

// Conn is a host.Conn that records frames (up to 64 Ki of them) and how it
// was closed.
type Conn struct {
	Frames chan host.Frame
	Done   chan struct{} // closed by Close

	mu     sync.Mutex
	closed bool
	code   int
	reason string
}

var _ host.Conn = (*Conn)(nil)

// NewConn returns an open Conn.
func NewConn() *Conn {
	return &Conn{Frames: make(chan host.Frame, 1<<16), Done: make(chan struct{})}
}

// Send records f; it fails rather than block when the buffer is full.
func (c *Conn) Send(f *host.Frame) error {
	select {
	case c.Frames <- *f:
		return nil
	default:
		return errors.New("hosttest: conn buffer full")
	}
}

// Close records the first close.
func (c *Conn) Close(code int, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed, c.code, c.reason = true, code, reason
		close(c.Done)
	}
	return nil
}

// Closed reports whether the object closed the connection, with what.
func (c *Conn) Closed() (closed bool, code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed, c.code, c.reason
}

// Eventually polls cond every few milliseconds until it holds, and fails the
// test if it does not within 10 s.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
