package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/gateway"
	"github.com/torpor-dev/torpor/internal/plugintest"
)

// BenchmarkFanout measures a broadcast to 100 local sockets in one room:
// a client sends a frame, the broadcast plugin sends it to the whole room,
// the gateway writes it to 100 sockets. The baselines, in the same run, are
// the same number of direct gws writes to 100 sockets with no host, no
// plugin and no bound: "direct" writes them one after another from one
// loop (WriteMessage), "async" hands each to gws's own unbounded queue
// (WriteAsync, one encoding per socket). Each iteration moves a window of
// frames through each path (smaller than SendQueue, so nobody is closed as
// a slow reader) and waits until all 100 clients have them.
//
// Metrics: frames/s delivered to clients by each path, the gateway's rate
// over each baseline's, and how many times the gateway encoded each frame
// (1 when the broadcast cache works).
func BenchmarkFanout(b *testing.B) {
	const conns, window = 100, 32
	for _, size := range []int{64, 4096} {
		b.Run(fmt.Sprintf("conns=%d/size=%d", conns, size), func(b *testing.B) {
			payload := []byte(strings.Repeat("x", size))
			direct := newDirectFanout(b, conns)
			gw := newGatewayFanout(b, conns)
			var tDirect, tAsync, tGateway time.Duration
			frames := 0
			encodings := gw.g.Encodings()
			for b.Loop() {
				tDirect += direct.window(b, payload, window, false)
				tAsync += direct.window(b, payload, window, true)
				tGateway += gw.window(b, payload, window)
				frames += window
			}
			delivered := float64(frames * conns)
			directRate := delivered / tDirect.Seconds()
			asyncRate := delivered / tAsync.Seconds()
			gatewayRate := delivered / tGateway.Seconds()
			b.ReportMetric(directRate, "direct-frames/s")
			b.ReportMetric(asyncRate, "async-frames/s")
			b.ReportMetric(gatewayRate, "gateway-frames/s")
			b.ReportMetric(gatewayRate/directRate, "ratio-direct")
			b.ReportMetric(gatewayRate/asyncRate, "ratio-async")
			b.ReportMetric(float64(gw.g.Encodings()-encodings)/float64(frames), "encodings/frame")
		})
	}
}

// receivers counts the frames a set of clients receive and signals when
// the count reaches a goal.
type receivers struct {
	gws.BuiltinEventHandler
	total   atomic.Int64
	goal    atomic.Int64
	reached chan struct{}
}

func newReceivers() *receivers { return &receivers{reached: make(chan struct{}, 1)} }

func (r *receivers) OnMessage(_ *gws.Conn, m *gws.Message) {
	m.Close()
	if r.total.Add(1) == r.goal.Load() {
		r.reached <- struct{}{}
	}
}

// expect sets the goal n frames ahead and returns the wait for it.
func (r *receivers) expect(n int) func(testing.TB) {
	r.goal.Store(r.total.Load() + int64(n))
	return func(tb testing.TB) {
		select {
		case <-r.reached:
		case <-time.After(wait):
			tb.Fatalf("received %d of %d frames", r.total.Load(), r.goal.Load())
		}
	}
}

func dialAll(tb testing.TB, url string, n int, r *receivers) []*gws.Conn {
	tb.Helper()
	clients := make([]*gws.Conn, n)
	for i := range clients {
		c, _, err := gws.NewClient(r, &gws.ClientOption{Addr: url})
		if err != nil {
			tb.Fatalf("dial %s: %v", url, err)
		}
		go c.ReadLoop()
		tb.Cleanup(func() { c.NetConn().Close() })
		clients[i] = c
	}
	return clients
}

// directFanout is the baseline: a plain gws server writing each frame to
// every socket itself.
type directFanout struct {
	recv  *receivers
	socks []*gws.Conn
}

func newDirectFanout(tb testing.TB, n int) *directFanout {
	up := gws.NewUpgrader(&gws.BuiltinEventHandler{}, &gws.ServerOption{})
	accepted := make(chan *gws.Conn, n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		accepted <- s
		go s.ReadLoop()
	}))
	tb.Cleanup(srv.Close)
	d := &directFanout{recv: newReceivers()}
	dialAll(tb, "ws"+strings.TrimPrefix(srv.URL, "http")+"/x", n, d.recv)
	for range n {
		s := <-accepted
		tb.Cleanup(func() { s.NetConn().Close() })
		d.socks = append(d.socks, s)
	}
	return d
}

func (d *directFanout) window(tb testing.TB, payload []byte, frames int, async bool) time.Duration {
	start := time.Now()
	done := d.recv.expect(frames * len(d.socks))
	for range frames {
		for _, s := range d.socks {
			if async {
				s.WriteAsync(gws.OpcodeText, payload, nil)
			} else if err := s.WriteMessage(gws.OpcodeText, payload); err != nil {
				tb.Fatal(err)
			}
		}
	}
	done(tb)
	return time.Since(start)
}

// gatewayFanout is the real path: one client sends, the broadcast plugin
// fans out, the gateway writes.
type gatewayFanout struct {
	g      *gateway.Gateway
	recv   *receivers
	sender *gws.Conn
	n      int
}

func newGatewayFanout(tb testing.TB, n int) *gatewayFanout {
	h := newHost(tb, host.Options{})
	if _, err := h.Deploy(context.Background(), "broadcast", plugintest.Go(tb, "plugins/broadcast")); err != nil {
		tb.Fatal(err)
	}
	g := gateway.New(h, gateway.Options{Logger: testLogger()})
	srv := httptest.NewServer(g)
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() { _ = g.Shutdown(context.Background()) })
	f := &gatewayFanout{g: g, recv: newReceivers(), n: n}
	f.sender = dialAll(tb, "ws"+strings.TrimPrefix(srv.URL, "http")+"/broadcast/bench", n, f.recv)[0]
	return f
}

func (f *gatewayFanout) window(tb testing.TB, payload []byte, frames int) time.Duration {
	start := time.Now()
	done := f.recv.expect(frames * f.n)
	for range frames {
		if err := f.sender.WriteMessage(gws.OpcodeText, payload); err != nil {
			tb.Fatal(err)
		}
	}
	done(tb)
	return time.Since(start)
}
