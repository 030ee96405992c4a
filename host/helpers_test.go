package host_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/internal/plugintest"
	"github.com/torpor-dev/torpor/internal/testlog"
)

// Plugins the tests load, built from source by plugintest.
var (
	goCounter  = func(tb testing.TB) []byte { return plugintest.Go(tb, "plugins/counter") }
	watCounter = func(tb testing.TB) []byte { return plugintest.WAT(tb, "plugins/counter-wat/counter.wat") }
	chat       = func(tb testing.TB) []byte { return plugintest.Go(tb, "plugins/chat") }
	broadcast  = func(tb testing.TB) []byte { return plugintest.Go(tb, "plugins/broadcast") }
	testdata   = func(name string) func(testing.TB) []byte {
		return func(tb testing.TB) []byte { return plugintest.WAT(tb, "host/testdata/"+name) }
	}
)

// counters is the counter plugin in both languages: every test that takes
// it runs against both, to show the ABI is language-neutral.
var counters = []struct {
	name  string
	build func(testing.TB) []byte
}{
	{"go", goCounter},
	{"wat", watCounter},
}

var sharedCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "torpor-host-test-cache-")
	if err != nil {
		panic(err)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func testLogger() *slog.Logger { return testlog.Discard() }

// newHost starts a host on a temp dir (or opts.DataDir) and closes it when
// the test ends. Idle defaults to an hour so that only tests that want
// hibernation see it.
func newHost(tb testing.TB, opts host.Options) *host.Host {
	tb.Helper()
	if opts.DataDir == "" {
		opts.DataDir = tb.TempDir()
	}
	if opts.CacheDir == "" {
		// One compilation cache for the whole test binary: compiling a Go
		// plugin is the slowest step of a host start.
		opts.CacheDir = sharedCache
	}
	if opts.Idle == 0 {
		opts.Idle = time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = testLogger()
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

func deploy(tb testing.TB, h *host.Host, name string, build func(testing.TB) []byte) {
	tb.Helper()
	if _, err := h.Deploy(context.Background(), name, build(tb)); err != nil {
		tb.Fatalf("deploy %s: %v", name, err)
	}
}

// client is a connection as the host sees it, recording what a WebSocket
// client would receive.
type client struct {
	frames chan host.Frame
	mu     sync.Mutex
	closed bool
	code   int
	reason string
	done   chan struct{}
	sess   *host.Session
}

func newClient() *client {
	return &client{frames: make(chan host.Frame, 1<<16), done: make(chan struct{})}
}

func (c *client) Send(f *host.Frame) error {
	select {
	case c.frames <- *f:
		return nil
	default:
		return errors.New("test client queue full")
	}
}

func (c *client) Close(code int, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed, c.code, c.reason = true, code, reason
		close(c.done)
	}
	return nil
}

func (c *client) isClosed() (bool, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed, c.code
}

func connect(tb testing.TB, h *host.Host, object, query string) *client {
	tb.Helper()
	c, err := tryConnect(h, object, query)
	if err != nil {
		tb.Fatalf("connect %s: %v", object, err)
	}
	return c
}

func tryConnect(h *host.Host, object, query string) (*client, error) {
	id, err := host.ParseObjectID(object)
	if err != nil {
		return nil, err
	}
	c := newClient()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.sess, err = h.Connect(ctx, host.ConnectRequest{Object: id, Path: "/" + object, Query: query, Remote: "127.0.0.1:1"}, c)
	return c, err
}

func (c *client) send(tb testing.TB, text string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.sess.Message(ctx, abi.Text, []byte(text)); err != nil {
		tb.Fatalf("send %q: %v", text, err)
	}
}

// next waits for the next frame; a test that gets none in 10 s has failed.
func (c *client) next(tb testing.TB) host.Frame {
	tb.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(10 * time.Second):
		tb.Fatal("no frame within 10s")
	}
	return host.Frame{}
}

func (c *client) nextText(tb testing.TB) string {
	tb.Helper()
	f := c.next(tb)
	if f.Kind != abi.Text {
		tb.Fatalf("got a %s frame, want text", f.Kind)
	}
	return string(f.Data)
}

// ask sends a command and returns the reply.
func (c *client) ask(tb testing.TB, text string) string {
	tb.Helper()
	c.send(tb, text)
	return c.nextText(tb)
}

// askPast sends a command and returns the first reply that is not skip,
// for objects that may broadcast skip at any moment.
func (c *client) askPast(tb testing.TB, text, skip string) string {
	tb.Helper()
	c.send(tb, text)
	for {
		if got := c.nextText(tb); got != skip {
			return got
		}
	}
}

// quiet asserts that no frame arrives within d.
func (c *client) quiet(tb testing.TB, d time.Duration) {
	tb.Helper()
	select {
	case f := <-c.frames:
		tb.Fatalf("unexpected frame %q", f.Data)
	case <-time.After(d):
	}
}

func atoi(tb testing.TB, s string) int {
	tb.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		tb.Fatalf("reply %q is not a number", s)
	}
	return n
}

// eventually polls cond until it holds or 10 s pass.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func objectState(tb testing.TB, h *host.Host, object string) host.State {
	tb.Helper()
	return inspect(tb, h, object).State
}

func inspect(tb testing.TB, h *host.Host, object string) host.ObjectInfo {
	tb.Helper()
	id, _ := host.ParseObjectID(object)
	info, err := h.Object(context.Background(), id)
	if err != nil {
		tb.Fatalf("inspect %s: %v", object, err)
	}
	return info
}
