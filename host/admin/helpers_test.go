package admin_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/admin"
	"github.com/torpor-dev/torpor/internal/hosttest"
	"github.com/torpor-dev/torpor/internal/plugintest"
	"github.com/torpor-dev/torpor/internal/testlog"
)

const testToken = "s3cret-admin-token"

var (
	watCounter = func(tb testing.TB) []byte { return plugintest.WAT(tb, "plugins/counter-wat/counter.wat") }
	loopPlugin = func(tb testing.TB) []byte { return plugintest.WAT(tb, "host/testdata/loop.wat") }
)

// fixture is a real host behind the admin handler on a loopback server.
type fixture struct {
	h      *host.Host
	srv    *httptest.Server
	client *admin.Client
}

func testLogger() *slog.Logger { return testlog.Discard() }

// newFixture starts a host on a temp dir with the admin API in front of it;
// hostOpts and adminOpts may leave everything zero.
func newFixture(tb testing.TB, hostOpts host.Options, adminOpts admin.Options) *fixture {
	tb.Helper()
	hostOpts.Name = "test-host"
	h := hosttest.New(tb, hostOpts)
	if adminOpts.Token == "" {
		adminOpts.Token = testToken
	}
	if adminOpts.Self.Name == "" {
		adminOpts.Self = admin.HostInfo{Name: "test-host", PublicURL: "ws://127.0.0.1:1", Version: "test", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	}
	adminOpts.Logger = testLogger()
	srv := httptest.NewServer(admin.New(h, adminOpts))
	tb.Cleanup(srv.Close)
	return &fixture{h: h, srv: srv, client: admin.NewClient(srv.URL, adminOpts.Token, srv.Client())}
}

// request sends a raw request with the test token (unless auth is given)
// and returns the status and body.
func (f *fixture) request(tb testing.TB, method, path string, body io.Reader, header ...string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, string(b)
}

func (f *fixture) deploy(tb testing.TB, name string, build func(testing.TB) []byte) admin.Plugin {
	tb.Helper()
	p, _, err := f.client.UploadPlugin(context.Background(), name, build(tb))
	if err != nil {
		tb.Fatalf("upload %s: %v", name, err)
	}
	return p
}

// conn is a connection as the host sees it, recording what a WebSocket
// client would receive and how it was closed.
type conn struct {
	*hosttest.Conn
	sess *host.Session
}

func (c *conn) closeState() (bool, int, string) { return c.Closed() }

func (f *fixture) connect(tb testing.TB, object string) *conn {
	tb.Helper()
	id, err := host.ParseObjectID(object)
	if err != nil {
		tb.Fatal(err)
	}
	c := &conn{Conn: hosttest.NewConn()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.sess, err = f.h.Connect(ctx, host.ConnectRequest{Object: id, Path: "/" + object, Remote: "127.0.0.1:1"}, c)
	if err != nil {
		tb.Fatalf("connect %s: %v", object, err)
	}
	return c
}

// send sends a text frame; ask also waits for the reply.
func (c *conn) send(tb testing.TB, text string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.sess.Message(ctx, abi.Text, []byte(text)); err != nil {
		tb.Fatalf("send %q: %v", text, err)
	}
}

func (c *conn) ask(tb testing.TB, text string) string {
	tb.Helper()
	c.send(tb, text)
	select {
	case f := <-c.Frames:
		return string(f.Data)
	case <-time.After(10 * time.Second):
		tb.Fatalf("no reply to %q within 10s", text)
		return ""
	}
}

func ids(objs []admin.ObjectSummary) string {
	var s []string
	for _, o := range objs {
		s = append(s, o.ID+":"+string(o.State))
	}
	return strings.Join(s, " ")
}
