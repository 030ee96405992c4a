package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/torpor-dev/torpor/internal/plugintest"
)

// server is a `torpor serve` process.
type server struct {
	cmd       *exec.Cmd
	dataDir   string
	stdout    *capture // bounded: a hostile plugin may make the host log without end
	exited    chan struct{}
	publicURL string
	adminURL  string
	token     string
	tls       *tls.Config
}

// capture keeps a process's output: its size, its first 8 MiB and its last
// 256 KiB.
type capture struct {
	mu    sync.Mutex
	head  []byte
	tail  []byte
	total int64
}

const (
	captureHead = 8 << 20
	captureTail = 256 << 10
)

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += int64(len(p))
	n := len(p)
	if room := captureHead - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	if len(p) > 0 {
		c.tail = append(c.tail, p...)
		if len(c.tail) > 2*captureTail {
			c.tail = append([]byte(nil), c.tail[len(c.tail)-captureTail:]...)
		}
	}
	return n, nil
}

func (c *capture) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// text is what the capture kept, with a marker where it left bytes out.
func (c *capture) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := int64(len(c.head) + len(c.tail))
	if kept == c.total {
		return string(c.head) + string(c.tail)
	}
	return fmt.Sprintf("%s\n[… %s left out …]\n%s", c.head, bytesOf(c.total-kept), c.tail)
}

// excerpt is the start and the end of the output, at most limit bytes of
// each.
func (c *capture) excerpt(limit int) string {
	s := c.text()
	if len(s) <= 2*limit {
		return s
	}
	return s[:limit] + fmt.Sprintf("\n[… %s of output left out …]\n", bytesOf(int64(len(s)-2*limit))) + s[len(s)-limit:]
}

func bytesOf(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/mib)
}

// String is what the capture kept.
func (c *capture) String() string { return c.text() }

// startServer runs `torpor serve` from the module root (so it finds the
// example plugins) on loopback ports chosen by the kernel, and waits until
// it answers its health check over TLS with its own dev certificate.
func startServer(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	for _, f := range []string{publicURLFile, adminURLFile} {
		os.Remove(filepath.Join(dataDir, f))
	}
	args := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--idle", "1h"}, extra...)
	s := &server{cmd: exec.Command(plugintest.Binary(t), args...), dataDir: dataDir, stdout: &capture{}, exited: make(chan struct{})}
	s.cmd.Dir = plugintest.Root(t)
	s.cmd.Stdout = s.stdout
	s.cmd.Stderr = s.stdout
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("torpor serve output:\n%s", s.stdout.String())
		}
	})
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dataDir, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	deadline := time.Now().Add(2 * time.Minute) // the first start builds the example plugins
	for s.publicURL == "" || s.adminURL == "" {
		select {
		case <-s.exited:
			t.Fatalf("torpor serve exited early:\n%s", s.stdout.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("torpor serve did not start:\n%s", s.stdout.String())
		}
		s.publicURL, s.adminURL = read(publicURLFile), read(adminURLFile)
	}
	s.token = read(adminTokenFile)
	pem, err := os.ReadFile(filepath.Join(dataDir, devCertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("dev certificate does not parse")
	}
	s.tls = &tls.Config{RootCAs: pool}
	for {
		resp, err := s.https().Get(s.publicURL + "/_health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("health check never passed (%v):\n%s", err, s.stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// https is a client that trusts only the server's dev certificate.
func (s *server) https() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: s.tls}}
}

func (s *server) adminGet(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.adminURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// wsClient is a WebSocket client that records what it receives.
type wsClient struct {
	gws.BuiltinEventHandler
	conn   *gws.Conn
	frames chan string
	closed chan uint16
}

func (c *wsClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	c.frames <- m.Data.String()
	m.Close()
}

func (c *wsClient) OnClose(_ *gws.Conn, err error) {
	code := uint16(1006)
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		code = ce.Code
	}
	c.closed <- code
}

func (s *server) dial(t *testing.T, path string) *wsClient {
	t.Helper()
	c := &wsClient{frames: make(chan string, 1024), closed: make(chan uint16, 1)}
	addr := strings.Replace(s.publicURL, "https://", "wss://", 1) + path
	conn, resp, err := gws.NewClient(c, &gws.ClientOption{Addr: addr, TlsConfig: s.tls.Clone()})
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("dial %s: %v %s", addr, err, status)
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() { conn.NetConn().Close() })
	return c
}

func (c *wsClient) next(t *testing.T) string {
	t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(20 * time.Second):
		t.Fatal("no frame within 20s")
		return ""
	}
}

func (c *wsClient) ask(t *testing.T, text string) string {
	t.Helper()
	if err := c.conn.WriteString(text); err != nil {
		t.Fatal(err)
	}
	return c.next(t)
}

// From a fresh data dir, `torpor serve` serves wss on its generated
// certificate, the demo page, the admin API with the example plugins
// deployed, and the chat room itself.
func TestServeFromFreshDataDir(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	if !strings.HasPrefix(s.publicURL, "https://") {
		t.Fatalf("public URL %s is not https", s.publicURL)
	}
	if !strings.Contains(s.stdout.String(), "admin token (printed once") || !strings.Contains(s.stdout.String(), s.token) {
		t.Fatalf("the admin token was not printed:\n%s", s.stdout.String())
	}
	resp, err := s.https().Get(s.publicURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(strings.ToLower(string(page)), "<html") {
		t.Fatalf("demo page: %s\n%.200s", resp.Status, page)
	}
	var plugins struct {
		Plugins []struct{ Name string } `json:"plugins"`
	}
	s.adminGet(t, "/v1/plugins", &plugins)
	var names []string
	for _, p := range plugins.Plugins {
		names = append(names, p.Name)
	}
	for _, want := range []string{"broadcast", "chat", "counter"} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Fatalf("example plugins deployed: %v, want %s among them", names, want)
		}
	}
	c := s.dial(t, "/chat/lobby?name=ann")
	if got := c.next(t); !strings.Contains(got, `"welcome"`) || !strings.Contains(got, `"ann"`) {
		t.Fatalf("welcome = %s", got)
	}
	// A second start reuses the certificate and token, and prints no token.
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.exited
	again := startServer(t, dir)
	if again.token != s.token || strings.Contains(again.stdout.String(), "admin token (printed once") {
		t.Fatal("the second start made a new token or printed it again")
	}
}

// SIGTERM with live rooms: sockets are closed with 1001, the process exits
// 0, every object's state is in the store, and the next start serves it.
func TestServeSIGTERMKeepsState(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	c := s.dial(t, "/counter/sig")
	for _, want := range []string{"1", "2", "3"} {
		if got := c.ask(t, "inc"); got != want {
			t.Fatalf("inc = %s, want %s", got, want)
		}
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-c.closed:
		if code != 1001 {
			t.Fatalf("close code %d, want 1001", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("socket not closed on SIGTERM")
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("torpor serve did not exit after SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, s.stdout.String())
	}
	s2 := startServer(t, dir)
	c2 := s2.dial(t, "/counter/sig")
	if got := c2.ask(t, "hits"); got != "3" {
		t.Fatalf("hits after restart = %s, want 3 (the snapshot was not written at shutdown)", got)
	}
	if got := c2.ask(t, "get"); got != "3" {
		t.Fatalf("count after restart = %s, want 3", got)
	}
}
