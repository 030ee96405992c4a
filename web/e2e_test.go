package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/gateway"
	"github.com/torpor-dev/torpor/internal/hosttest"
	"github.com/torpor-dev/torpor/internal/plugintest"
	"github.com/torpor-dev/torpor/internal/testlog"
)

// wait bounds every wait of the end-to-end test.
const wait = 20 * time.Second

// TestChromium is the demo page's acceptance test: two tabs of a headless
// Chromium chat through the real gateway and host, over TLS; the room
// hibernates and wakes under them; a reserved name gets a hint; and after a
// restart of the host the tabs reconnect by themselves, deliver what was typed
// while the server was down, exactly once, and keep chatting.
func TestChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not on PATH: install Debian's chromium package (apt-get install chromium) or run .ci/run")
	}
	start := time.Now()
	wasm := plugintest.Go(t, "plugins/chat")

	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cert := selfSigned(t)
	srv := serve(t, dir, ln, cert)
	t.Cleanup(func() { srv.stop(t) }) // srv is the latest server
	if _, err := srv.host.Deploy(context.Background(), "chat", wasm); err != nil {
		t.Fatalf("deploy chat: %v", err)
	}
	t.Logf("server up on %s after %v", addr, time.Since(start).Round(time.Millisecond))

	browser := newBrowser(t, chromium)
	base := "https://" + addr + "/"
	// The room from ?room= in one tab and from the fragment in the other.
	a := openTab(t, browser, "A", base+"?room=e2e&name=alice")
	b := openTab(t, browser, "B", base+"?name=bob#e2e")
	a.waitOnline()
	b.waitOnline()
	a.waitMembers("alice", "bob")
	b.waitMembers("alice", "bob")
	t.Logf("both tabs online after %v", time.Since(start).Round(time.Millisecond))

	a.enter("hello from alice") // typed, then Enter
	b.waitMessage("alice", "hello from alice")
	a.waitMessage("alice", "hello from alice") // the sender's own echo
	b.typeText("hi alice")
	b.click(`[data-testid=send]`)
	a.waitMessage("bob", "hi alice")
	b.screenshot("chat.png")

	// The room hibernates (Idle is short here) with both sockets open, and
	// wakes for the next message.
	hibernated(t, srv.host, "chat/e2e", 2)
	a.enter("are you asleep?")
	b.waitMessage("alice", "are you asleep?")

	// A refused connect: "admin" is a reserved name, refused with 403 before
	// the upgrade. The page cannot see the status, but says what is wrong.
	c := openTab(t, browser, "C", base+"?room=e2e&name=admin")
	c.waitJS("the refusal hint", `(() => { const h = document.querySelector('[data-testid=hint]');
		return !h.hidden && h.textContent.includes('refuses') && h.textContent.includes('admin'); })()`)
	c.close()

	// Restart: gateway and server down, host closed, then a new host on the
	// same data dir (the chat plugin is stored) and a server on the same port.
	restart := time.Now()
	srv.stop(t)
	a.waitJS("tab A offline", `document.querySelector('[data-testid=status]').dataset.state !== 'online'`)
	b.waitJS("tab B offline", `document.querySelector('[data-testid=status]').dataset.state !== 'online'`)
	a.enter("sent while offline")
	a.waitJS("the message in A's outbox", `[...document.querySelectorAll('[data-testid=outbox] li')].some(li => li.textContent === 'sent while offline')`)
	a.screenshot("offline.png")

	ln = listen(t, addr)
	up := time.Now()
	srv = serve(t, dir, ln, cert)
	t.Logf("new host up in %v", time.Since(up).Round(time.Millisecond))
	if _, ok := active(t, srv.host)["chat"]; !ok {
		t.Fatal("the restarted host has no chat plugin")
	}
	a.waitOnline()
	b.waitOnline()
	t.Logf("both tabs back online %v after the restart began", time.Since(restart).Round(time.Millisecond))
	a.waitMembers("alice", "bob")
	b.waitMembers("alice", "bob")
	b.waitMessage("alice", "sent while offline")
	b.enter("welcome back")
	a.waitMessage("bob", "welcome back")

	// Exactly once: the queued message went out once, and the ones sent on a
	// live socket before the restart were not sent again.
	for _, tab := range []*tab{a, b} {
		for _, m := range [][2]string{{"alice", "hello from alice"}, {"bob", "hi alice"}, {"alice", "are you asleep?"}, {"alice", "sent while offline"}, {"bob", "welcome back"}} {
			tab.waitMessage(m[0], m[1]) // each tab gets its copy in its own time
			if n := tab.count(m[0], m[1]); n != 1 {
				t.Errorf("tab %s shows %q from %s %d times, want once", tab.name, m[1], m[0], n)
			}
		}
	}
	a.waitJS("A's outbox to be empty", `document.querySelector('[data-testid=outbox]').hidden`)
	t.Logf("end-to-end test took %v", time.Since(start).Round(time.Millisecond))
}

// server is the stack under test: a host, the gateway and the demo page on
// one TLS server.
type server struct {
	host    *host.Host
	gw      *gateway.Gateway
	http    *http.Server
	served  chan error
	stopped bool
}

func serve(t *testing.T, dir string, ln net.Listener, cert tls.Certificate) *server {
	t.Helper()
	logger := testlog.Discard()
	// A short Idle, so that the room hibernates during the test.
	h := hosttest.New(t, host.Options{DataDir: dir, Logger: logger, Idle: 300 * time.Millisecond})
	gw := gateway.New(h, gateway.Options{Logger: logger})
	mux := http.NewServeMux()
	page := Handler()
	mux.Handle("/{$}", page)
	mux.Handle("/_demo/", page)
	mux.Handle("/", gw)
	s := &server{
		host: h,
		gw:   gw,
		http: &http.Server{
			Handler:           mux,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
			ReadHeaderTimeout: 10 * time.Second,
			// Chromium's aborted handshakes and the restart are expected.
			ErrorLog: log.New(io.Discard, "", 0),
		},
		served: make(chan error, 1),
	}
	go func() { s.served <- s.http.ServeTLS(ln, "", "") }()
	return s
}

// stop shuts the stack down as a process would: no new connections, the
// sockets closed with 1001 by the gateway, then the host closed.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.stopped {
		return
	}
	s.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		t.Errorf("shut down the server: %v", err)
		s.http.Close()
	}
	if err := s.gw.Shutdown(ctx); err != nil {
		t.Errorf("shut down the gateway: %v", err)
	}
	if err := s.host.Close(ctx); err != nil && !errors.Is(err, host.ErrClosed) {
		t.Errorf("close the host: %v", err)
	}
	if err := <-s.served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("serve: %v", err)
	}
}

// listen listens on addr again, which a socket of the previous server may
// briefly hold.
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			t.Fatalf("listen on %s again: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hibernated waits until the object is hibernated with conns sockets.
func hibernated(t *testing.T, h *host.Host, object string, conns int) {
	t.Helper()
	id, err := host.ParseObjectID(object)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for {
		info, err := h.Object(context.Background(), id)
		if err != nil {
			t.Fatalf("inspect %s: %v", object, err)
		}
		if info.State == host.StateHibernated && info.Conns == conns {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s with %d connections after %v, want hibernated with %d", object, info.State, info.Conns, wait, conns)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func active(t *testing.T, h *host.Host) map[string]bool {
	t.Helper()
	plugins, err := h.Plugins()
	if err != nil {
		t.Fatalf("plugins: %v", err)
	}
	m := map[string]bool{}
	for _, p := range plugins {
		m[p.Name] = true
	}
	return m
}

// selfSigned makes a certificate for 127.0.0.1; Chromium runs with
// --ignore-certificate-errors.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "torpor test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// newBrowser starts headless Chromium with a fresh profile; it stops with the
// test.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), // containers have a small /dev/shm
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 720),
	)
	t.Cleanup(cancel)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	// The first Run starts the browser; it must not have a timeout.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browser
}

// tab is one page of the browser, with what its console said.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	stop context.CancelFunc
	done chan struct{} // closed when the console reader has stopped

	mu      sync.Mutex
	console []string
}

func openTab(t *testing.T, browser context.Context, name, url string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	tb := &tab{t: t, name: name, ctx: ctx, stop: cancel, done: make(chan struct{})}
	t.Cleanup(tb.close)
	console := chromedp.Console(ctx)
	go func() {
		defer close(tb.done)
		for msg, err := range console {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, fmt.Sprintf("%s: %s", msg.Type, msg.Text))
			tb.mu.Unlock()
			// Failed WebSockets are expected here; exceptions, policy
			// violations and missing files are not.
			if msg.Type == chromedp.ConsoleException || strings.Contains(msg.Text, "Content Security Policy") ||
				strings.Contains(msg.Text, "the server responded with a status of") {
				t.Errorf("tab %s: %s: %s", name, msg.Type, msg.Text)
			}
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			tb.mu.Lock()
			t.Logf("tab %s console:\n\t%s", name, strings.Join(tb.console, "\n\t"))
			tb.mu.Unlock()
		}
	})
	tb.do("open "+url, chromedp.Navigate(url))
	return tb
}

// close closes the tab and waits for its console reader, which may report
// errors only while the test runs.
func (tb *tab) close() {
	tb.stop()
	<-tb.done
}

func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, wait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("tab %s: %s: %v\n%s", tb.name, what, err, tb.dump())
	}
}

// waitJS waits until the expression is truthy.
func (tb *tab) waitJS(what, expr string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, wait+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(wait)))
	if err != nil {
		tb.t.Fatalf("tab %s: waiting %v for %s: %v\n%s", tb.name, wait, what, err, tb.dump())
	}
}

// dump is the page's text, for failure messages.
func (tb *tab) dump() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		return "(page text unavailable: " + err.Error() + ")"
	}
	return "page text:\n" + text
}

func (tb *tab) waitOnline() {
	tb.t.Helper()
	tb.waitJS("online", `document.querySelector('[data-testid=status]').dataset.state === 'online'`)
}

func (tb *tab) waitMembers(names ...string) {
	tb.t.Helper()
	tb.waitJS(fmt.Sprintf("members %q", names), fmt.Sprintf(`(() => {
		const shown = [...document.querySelectorAll('[data-testid=members] .name')].map(e => e.textContent);
		return %s.every(n => shown.includes(n));
	})()`, js(names)))
}

// countExpr counts the messages from from with the text.
func countExpr(from, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('[data-testid=message]')].filter(m =>
		m.querySelector('.from').textContent === %s && m.querySelector('.text').textContent === %s).length`, js(from), js(text))
}

func (tb *tab) waitMessage(from, text string) {
	tb.t.Helper()
	tb.waitJS(fmt.Sprintf("message %q from %s", text, from), countExpr(from, text)+" > 0")
}

func (tb *tab) count(from, text string) int {
	tb.t.Helper()
	n, err := chromedp.Run(tb.ctx, chromedp.Evaluate[int](countExpr(from, text)))
	if err != nil {
		tb.t.Fatalf("tab %s: count messages: %v", tb.name, err)
	}
	return n
}

func (tb *tab) typeText(text string) {
	tb.t.Helper()
	tb.do("type "+text, chromedp.SendKeys(chromedp.CSS(`[data-testid=message-input]`), text, chromedp.NodeVisible))
}

// enter types text into the message field and presses Enter.
func (tb *tab) enter(text string) {
	tb.t.Helper()
	tb.typeText(text + kb.Enter)
}

func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// screenshot saves the tab's viewport under the test's temp dir, and at
// $TORPOR_SCREENSHOT_DIR when that is set.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, wait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("tab %s: screenshot: %v", tb.name, err)
	}
	dirs := []string{tb.t.TempDir()}
	if d := os.Getenv("TORPOR_SCREENSHOT_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name), png, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
}

// js is v as a JavaScript literal.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
