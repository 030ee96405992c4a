package metrics_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/gateway"
	"github.com/torpor-dev/torpor/host/metrics"
	"github.com/torpor-dev/torpor/internal/hosttest"
	"github.com/torpor-dev/torpor/internal/plugintest"
	"github.com/torpor-dev/torpor/internal/testlog"
)

// wait bounds every wait in these tests.
const wait = 10 * time.Second

// env is a real host with plugins deployed from source, a gateway serving
// it over loopback TLS, and the metrics handler on a plain HTTP server.
type env struct {
	h          *host.Host
	g          *gateway.Gateway
	srv        *httptest.Server
	roots      *x509.CertPool
	metricsURL string
}

// plugins maps the names tests deploy to how they are built.
var plugins = map[string]func(testing.TB) []byte{
	"broadcast": func(tb testing.TB) []byte { return plugintest.Go(tb, "plugins/broadcast") },
	"chat":      func(tb testing.TB) []byte { return plugintest.Go(tb, "plugins/chat") },
	"trapper":   func(tb testing.TB) []byte { return plugintest.WAT(tb, "host/testdata/trapper.wat") },
	"loop":      func(tb testing.TB) []byte { return plugintest.WAT(tb, "host/testdata/loop.wat") },
}

func newEnv(tb testing.TB, hopts host.Options, gopts gateway.Options, names ...string) *env {
	tb.Helper()
	h := hosttest.New(tb, hopts)
	for _, name := range names {
		if _, err := h.Deploy(context.Background(), name, plugins[name](tb)); err != nil {
			tb.Fatalf("deploy %s: %v", name, err)
		}
	}
	gopts.Logger = testlog.Discard()
	g := gateway.New(h, gopts)
	srv := httptest.NewUnstartedServer(g)
	srv.Config.ReadHeaderTimeout = wait
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			tb.Errorf("gateway shutdown: %v", err)
		}
	})
	ms := httptest.NewServer(metrics.Handler(h, g, testlog.Discard()))
	tb.Cleanup(ms.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return &env{h: h, g: g, srv: srv, roots: roots, metricsURL: ms.URL + "/metrics"}
}

// scrape fetches /metrics over HTTP and parses it with expfmt.
func (e *env) scrape(tb testing.TB) map[string]*dto.MetricFamily {
	tb.Helper()
	resp, err := http.Get(e.metricsURL)
	if err != nil {
		tb.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("scrape: %s %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		tb.Fatalf("parse the scrape: %v", err)
	}
	return fams
}

// samples flattens a scrape to one value per series, keyed like the text
// format (`name{a="x",b="y"}`, labels sorted); a histogram gives its
// _count and _sum.
func samples(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			suffix := ""
			if len(labels) > 0 {
				suffix = "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[name+suffix] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[name+suffix] = m.Gauge.GetValue()
			case m.Untyped != nil:
				out[name+suffix] = m.Untyped.GetValue()
			case m.Histogram != nil:
				out[name+"_count"+suffix] = float64(m.Histogram.GetSampleCount())
				out[name+"_sum"+suffix] = m.Histogram.GetSampleSum()
			}
		}
	}
	return out
}

// expect scrapes until every series in want has moved by exactly its
// amount since base (a missing series counts as 0), and fails the test
// with the differences if that does not happen within wait. It returns
// the last scrape.
func (e *env) expect(tb testing.TB, what string, base map[string]float64, want map[string]float64) map[string]float64 {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for {
		now := samples(e.scrape(tb))
		var diffs []string
		for key, d := range want {
			if got := now[key] - base[key]; got != d {
				diffs = append(diffs, fmt.Sprintf("%s moved by %v, want %v", key, got, d))
			}
		}
		if len(diffs) == 0 {
			return now
		}
		if time.Now().After(deadline) {
			slices.Sort(diffs)
			tb.Fatalf("%s:\n\t%s", what, strings.Join(diffs, "\n\t"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is a real WebSocket client (gws) recording what it receives.
type client struct {
	gws.BuiltinEventHandler
	conn   *gws.Conn
	frames chan string
	closed chan struct{}
	code   uint16 // set before closed is closed
}

func (c *client) OnPing(s *gws.Conn, payload []byte) { _ = s.WritePong(payload) }

func (c *client) OnMessage(_ *gws.Conn, m *gws.Message) {
	select {
	case c.frames <- m.Data.String():
	default:
	}
	m.Close()
}

func (c *client) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		c.code = ce.Code
	}
	close(c.closed)
}

func (e *env) tryDial(path string) (*client, *http.Response, error) {
	c := &client{frames: make(chan string, 1<<12), closed: make(chan struct{})}
	conn, resp, err := gws.NewClient(c, &gws.ClientOption{
		Addr:               "wss://" + e.srv.Listener.Addr().String() + path,
		TlsConfig:          &tls.Config{RootCAs: e.roots},
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

func (e *env) dial(tb testing.TB, path string) *client {
	tb.Helper()
	c, resp, err := e.tryDial(path)
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

// refused dials path and expects the upgrade to be answered with status.
func (e *env) refused(tb testing.TB, path string, status int) {
	tb.Helper()
	c, resp, err := e.tryDial(path)
	if err == nil {
		c.conn.NetConn().Close()
		tb.Fatalf("dial %s: upgraded, want %d", path, status)
	}
	if resp == nil || resp.StatusCode != status {
		tb.Fatalf("dial %s: %v %v, want %d", path, err, resp, status)
	}
}

func (c *client) send(tb testing.TB, text string) {
	tb.Helper()
	if err := c.conn.WriteString(text); err != nil {
		tb.Fatalf("send %q: %v", text, err)
	}
}

func (c *client) next(tb testing.TB) string {
	tb.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.closed:
		tb.Fatalf("socket closed (code %d) while a frame was expected", c.code)
	case <-time.After(wait):
		tb.Fatalf("no frame within %v", wait)
	}
	return ""
}

func (c *client) expectFrame(tb testing.TB, want string) {
	tb.Helper()
	if got := c.next(tb); got != want {
		tb.Fatalf("got frame %.40q, want %.40q", got, want)
	}
}

func (c *client) waitClose(tb testing.TB) uint16 {
	tb.Helper()
	select {
	case <-c.closed:
		return c.code
	case <-time.After(wait):
		tb.Fatalf("socket not closed within %v", wait)
	}
	return 0
}

// rawUpgrade completes a WebSocket handshake and returns the raw
// connection (see hosttest.RawUpgrade).
func (e *env) rawUpgrade(tb testing.TB, path string) net.Conn {
	tb.Helper()
	return hosttest.RawUpgrade(tb, e.srv.Listener.Addr().String(), &tls.Config{RootCAs: e.roots, ServerName: "127.0.0.1"}, path)
}
