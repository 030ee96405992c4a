package host_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/internal/hosttest"
	"github.com/torpor-dev/torpor/internal/plugintest"
)

// Plugins the tests load, built from source by plugintest.
var (
	goCounter   = func(tb testing.TB) []byte { return plugintest.Go(tb, "plugins/counter") }
	watCounter  = func(tb testing.TB) []byte { return plugintest.WAT(tb, "plugins/counter-wat/counter.wat") }
	asCounter   = func(tb testing.TB) []byte { return plugintest.AS(tb, "plugins/counter-as/index.ts") }
	rsCounter   = func(tb testing.TB) []byte { return plugintest.Rust(tb, "plugins/counter-rs") }
	asBroadcast = func(tb testing.TB) []byte { return plugintest.AS(tb, "plugins/broadcast-as/index.ts") }
	chat        = func(tb testing.TB) []byte { return example(tb, "chat") }
	broadcast   = func(tb testing.TB) []byte { return example(tb, "broadcast") }
	testdata    = func(name string) func(testing.TB) []byte {
		return func(tb testing.TB) []byte { return plugintest.WAT(tb, "host/testdata/"+name) }
	}
)

// counters is the counter plugin in every language: every test that takes
// it runs against each, to show the ABI is language-neutral.
var counters = []struct {
	name  string
	build func(testing.TB) []byte
}{
	{"go", goCounter},
	{"wat", watCounter},
	{"as", asCounter},
	{"rust", rsCounter},
}

// lang is the language of the example plugins the running test deploys:
// eachLang runs a test once per language, so every test of the Go chat and
// broadcast rooms also shows that their AssemblyScript twins behave alike.
// Tests in this package do not run in parallel, so one variable will do.
var lang = "go"

func eachLang(t *testing.T, f func(t *testing.T)) { plugintest.EachLang(t, &lang, f) }

// example builds the example plugin name in the current lang.
func example(tb testing.TB, name string) []byte { return plugintest.Example(tb, lang, name) }

// newHost starts a host for a test (see hosttest.New for the defaults).
func newHost(tb testing.TB, opts host.Options) *host.Host {
	tb.Helper()
	return hosttest.New(tb, opts)
}

func deploy(tb testing.TB, h *host.Host, name string, build func(testing.TB) []byte) {
	tb.Helper()
	if _, err := h.Deploy(context.Background(), name, build(tb)); err != nil {
		tb.Fatalf("deploy %s: %v", name, err)
	}
}

// client is a connection as the host sees it, recording what a WebSocket
// client would receive, with the session the gateway would hold.
type client struct {
	*hosttest.Conn
	sess *host.Session
}

func newClient() *client { return &client{Conn: hosttest.NewConn()} }

func (c *client) isClosed() (bool, int) {
	closed, code, _ := c.Closed()
	return closed, code
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
	case f := <-c.Frames:
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
	case f := <-c.Frames:
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
