package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/gateway"
	"github.com/torpor-dev/torpor/internal/hosttest"
	"github.com/torpor-dev/torpor/internal/plugintest"
	"github.com/torpor-dev/torpor/internal/testlog"
)

// wait bounds every wait for an event; a test that sees nothing in this
// time has failed.
const wait = 10 * time.Second

// readHeaderTimeout is the test servers' http.Server.ReadHeaderTimeout,
// short so the slow-handshake test is quick.
const readHeaderTimeout = 500 * time.Millisecond

func testLogger() *slog.Logger { return testlog.Discard() }

// env is a host with plugins, a gateway in front of it and a TLS server
// serving the gateway, all closed when the test ends.
type env struct {
	h     *host.Host
	g     *gateway.Gateway
	srv   *httptest.Server
	wsURL string // wss://127.0.0.1:port
	roots *x509.CertPool
}

// lang is the language of the example plugins newEnv deploys: eachLang
// runs a test once per language, so every gateway test of the Go examples
// also shows that their AssemblyScript twins speak the same protocol. Tests
// in this package do not run in parallel, so one variable will do.
var lang = "go"

func eachLang(t *testing.T, f func(t *testing.T)) { plugintest.EachLang(t, &lang, f) }

// newEnv starts a host (NoSync, in a temp dir) with the named plugins
// deployed from source, a gateway and a TLS server configured as the
// package documents: with a ReadHeaderTimeout.
func newEnv(tb testing.TB, hopts host.Options, gopts gateway.Options, plugins ...string) *env {
	tb.Helper()
	h := newHost(tb, hopts)
	for _, p := range plugins {
		var wasm []byte
		if p == "trapper" {
			// Fails every frame but "ok…"; it has no restore export, so
			// failures add up to MaxFailures.
			wasm = plugintest.WAT(tb, "host/testdata/trapper.wat")
		} else {
			wasm = plugintest.Example(tb, lang, p)
		}
		if _, err := h.Deploy(context.Background(), p, wasm); err != nil {
			tb.Fatalf("deploy %s: %v", p, err)
		}
	}
	if gopts.Logger == nil {
		gopts.Logger = testLogger()
	}
	g := gateway.New(h, gopts)
	srv := httptest.NewUnstartedServer(g)
	srv.Config.ReadHeaderTimeout = readHeaderTimeout
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the slow-handshake test provokes TLS errors
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			tb.Errorf("gateway shutdown: %v", err)
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return &env{h: h, g: g, srv: srv, wsURL: "wss://" + srv.Listener.Addr().String(), roots: roots}
}

// newHost starts a host for a test (see hosttest.New for the defaults).
func newHost(tb testing.TB, opts host.Options) *host.Host {
	tb.Helper()
	return hosttest.New(tb, opts)
}

// client is a real WebSocket client (gws) recording what it receives.
type client struct {
	conn   *gws.Conn
	frames chan frame
	closed chan struct{}
	pings  atomic.Int32
	lost   atomic.Int32 // frames dropped because the test did not read them

	// Set before closed is closed.
	code   uint16
	reason string
	err    error
}

type frame struct {
	op   gws.Opcode
	data []byte
}

func (c *client) OnOpen(*gws.Conn) {}

func (c *client) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		c.code, c.reason = ce.Code, string(ce.Reason)
	}
	c.err = err
	close(c.closed)
}

func (c *client) OnPing(s *gws.Conn, payload []byte) {
	c.pings.Add(1)
	_ = s.WritePong(payload)
}

func (c *client) OnPong(*gws.Conn, []byte) {}

func (c *client) OnMessage(_ *gws.Conn, m *gws.Message) {
	f := frame{op: m.Opcode, data: append([]byte(nil), m.Bytes()...)}
	m.Close()
	select {
	case c.frames <- f:
	default:
		c.lost.Add(1)
	}
}

// dial opens a WebSocket to path (with its query) and fails the test if
// the upgrade is refused.
func (e *env) dial(tb testing.TB, path string) *client {
	tb.Helper()
	c, resp, err := e.tryDial(path, nil)
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		tb.Fatalf("dial %s: %v %s", path, err, status)
	}
	tb.Cleanup(func() { c.conn.NetConn().Close() })
	return c
}

func (e *env) tryDial(path string, header http.Header) (*client, *http.Response, error) {
	c := &client{frames: make(chan frame, 1<<14), closed: make(chan struct{})}
	conn, resp, err := gws.NewClient(c, &gws.ClientOption{
		Addr:               e.wsURL + path,
		TlsConfig:          &tls.Config{RootCAs: e.roots},
		RequestHeader:      header,
		ReadMaxPayloadSize: 16 << 20,
		HandshakeTimeout:   wait,
	})
	if err != nil {
		return nil, resp, err
	}
	c.conn = conn
	go conn.ReadLoop()
	return c, resp, nil
}

func (c *client) send(tb testing.TB, text string) {
	tb.Helper()
	if err := c.conn.WriteString(text); err != nil {
		tb.Fatalf("send %q: %v", text, err)
	}
}

// next waits for the next frame.
func (c *client) next(tb testing.TB) frame {
	tb.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.closed:
		tb.Fatalf("socket closed (code %d %q, %v) while a frame was expected", c.code, c.reason, c.err)
	case <-time.After(wait):
		tb.Fatalf("no frame within %v", wait)
	}
	return frame{}
}

func (c *client) nextText(tb testing.TB) string {
	tb.Helper()
	f := c.next(tb)
	if f.op != gws.OpcodeText {
		tb.Fatalf("got opcode %d, want text", f.op)
	}
	return string(f.data)
}

// chatMsg is any frame the chat plugin sends.
type chatMsg struct {
	Type    string    `json:"type"`
	You     string    `json:"you"`
	Name    string    `json:"name"`
	From    string    `json:"from"`
	Text    string    `json:"text"`
	Members []string  `json:"members"`
	History []chatMsg `json:"history"`
}

func (c *client) nextChat(tb testing.TB) chatMsg {
	tb.Helper()
	var m chatMsg
	if s := c.nextText(tb); json.Unmarshal([]byte(s), &m) != nil {
		tb.Fatalf("chat frame %q is not JSON", s)
	}
	return m
}

// nextChatOf skips chat frames until one of type typ arrives.
func (c *client) nextChatOf(tb testing.TB, typ string) chatMsg {
	tb.Helper()
	for {
		if m := c.nextChat(tb); m.Type == typ {
			return m
		}
	}
}

// waitClose waits for the server to close the socket and returns the code
// and reason of its close frame (0 if none came).
func (c *client) waitClose(tb testing.TB) (uint16, string) {
	tb.Helper()
	select {
	case <-c.closed:
		return c.code, c.reason
	case <-time.After(wait):
		tb.Fatalf("socket not closed within %v", wait)
	}
	return 0, ""
}

func (c *client) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// upgradeHeader is what a browser sends to open a WebSocket.
func upgradeHeader() http.Header {
	return http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
	}
}

// handshake sends an HTTP request to the gateway and returns the status
// and body of its answer.
func (e *env) handshake(tb testing.TB, method, path string, header http.Header) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if header != nil {
		req.Header = header
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, ""
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, string(body)
}

// rawUpgrade completes a WebSocket handshake and returns the raw
// connection (see hosttest.RawUpgrade).
func (e *env) rawUpgrade(tb testing.TB, path string) net.Conn {
	tb.Helper()
	return hosttest.RawUpgrade(tb, e.srv.Listener.Addr().String(), &tls.Config{RootCAs: e.roots, ServerName: "127.0.0.1"}, path)
}

func (e *env) object(tb testing.TB, object string) host.ObjectInfo {
	tb.Helper()
	id, err := host.ParseObjectID(object)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := e.h.Object(context.Background(), id)
	if err != nil {
		tb.Fatalf("inspect %s: %v", object, err)
	}
	return info
}

// waitHibernated waits until the host has hibernated object.
func (e *env) waitHibernated(tb testing.TB, object string) {
	tb.Helper()
	hosttest.Eventually(tb, object+" to hibernate", func() bool {
		return e.object(tb, object).State == host.StateHibernated
	})
}

// drainUntilClosed reads conn until the server ends it and reports how
// long that took.
func drainUntilClosed(tb testing.TB, conn net.Conn) time.Duration {
	tb.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(wait))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		tb.Fatalf("connection still open after %v", wait)
	}
	return time.Since(start)
}

// errs collects failures from goroutines.
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) add(err error) {
	e.mu.Lock()
	e.list = append(e.list, err)
	e.mu.Unlock()
}

func (e *errs) check(tb testing.TB) {
	tb.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, err := range e.list {
		tb.Error(err)
	}
}
