package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// wsURL turns an httptest server's URL into a bench URL template.
func wsURL(srv *httptest.Server) string {
	u := strings.Replace(srv.URL, "https://", "wss://", 1)
	return strings.Replace(u, "http://", "ws://", 1) + "/broadcast/{room}"
}

// A run against the baseline over TLS gets every frame, once, in order.
func TestRunAgainstBaseline(t *testing.T) {
	b := NewBaseline(BaselineOptions{})
	srv := httptest.NewUnstartedServer(b)
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); b.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	shape := Shape{Rooms: 3, Clients: 4, Senders: 2, Rate: 40, Payload: 300, Duration: time.Second}
	var progressed int
	res, err := Run(context.Background(), Options{
		URL:           wsURL(srv),
		TLS:           &tls.Config{RootCAs: pool},
		Shape:         shape,
		Drain:         2 * time.Second,
		Progress:      func(Progress) { progressed++ },
		ProgressEvery: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	d := res.Deliveries
	if res.Connect.Conns != 12 || res.Connect.Failed != 0 {
		t.Fatalf("connected %d, failed %d (%s)", res.Connect.Conns, res.Connect.Failed, res.Connect.FirstError)
	}
	if res.Send.Sent == 0 || res.Send.Sent != res.Send.Planned {
		t.Fatalf("sent %d of %d planned", res.Send.Sent, res.Send.Planned)
	}
	if want := res.Send.Sent * 4; d.Expected != want || d.Received != want {
		t.Fatalf("expected %d, received %d; want %d of each", d.Expected, d.Received, want)
	}
	if d.Faults() != 0 || d.Disconnected != 0 || d.DrainIncomplete {
		t.Fatalf("faults in a clean run: %+v", d)
	}
	if res.Latency.Count != d.Received || res.Latency.P50Ms <= 0 || res.Latency.P50Ms > res.Latency.P99Ms || res.Latency.P99Ms > res.Latency.MaxMs {
		t.Fatalf("latency %+v", res.Latency)
	}
	if progressed == 0 {
		t.Fatal("no progress reported")
	}
}

// faultServer is a broadcast server that breaks exactly one frame: the
// fifth one it would send to the first socket that joined (whichever it
// is: every socket gets every frame of its room's sender).
type faultServer struct {
	fault    string
	upgrader *gws.Upgrader

	mu     sync.Mutex // held while broadcasting, so frames go out in one order
	rooms  map[string][]*gws.Conn
	order  []*gws.Conn // in the order they joined
	sentTo int         // frames meant for the victim so far
	held   []byte
	reads  sync.WaitGroup
}

func newFaultServer(t *testing.T, fault string) *httptest.Server {
	fs := &faultServer{fault: fault, rooms: map[string][]*gws.Conn{}}
	fs.upgrader = gws.NewUpgrader(fs, &gws.ServerOption{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := fs.upgrader.Upgrade(w, r)
		if err != nil {
			return
		}
		c.Session().Store("room", r.URL.Path)
		fs.mu.Lock()
		fs.rooms[r.URL.Path] = append(fs.rooms[r.URL.Path], c)
		fs.order = append(fs.order, c)
		fs.mu.Unlock()
		fs.reads.Go(c.ReadLoop)
	}))
	t.Cleanup(func() {
		srv.Close()
		fs.mu.Lock()
		for _, c := range fs.order {
			c.NetConn().Close()
		}
		fs.mu.Unlock()
		fs.reads.Wait()
	})
	return srv
}

func (*faultServer) OnOpen(*gws.Conn)             {}
func (*faultServer) OnClose(*gws.Conn, error)     {}
func (*faultServer) OnPing(c *gws.Conn, p []byte) { c.WritePong(p) }
func (*faultServer) OnPong(*gws.Conn, []byte)     {}
func (fs *faultServer) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	room, _ := c.Session().Load("room")
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, peer := range fs.rooms[room.(string)] {
		fs.deliver(peer, m.Bytes())
	}
}

// deliver sends p to peer, breaking the victim's fifth frame.
func (fs *faultServer) deliver(peer *gws.Conn, p []byte) {
	if peer != fs.order[0] {
		peer.WriteMessage(gws.OpcodeText, p)
		return
	}
	fs.sentTo++
	switch {
	case fs.sentTo == 5 && fs.fault == "drop":
	case fs.sentTo == 5 && fs.fault == "duplicate":
		peer.WriteMessage(gws.OpcodeText, p)
		peer.WriteMessage(gws.OpcodeText, p)
	case fs.sentTo == 5 && fs.fault == "reorder":
		fs.held = bytes.Clone(p)
	case fs.sentTo == 6 && fs.fault == "reorder":
		peer.WriteMessage(gws.OpcodeText, p)
		peer.WriteMessage(gws.OpcodeText, fs.held)
	case fs.sentTo == 5 && fs.fault == "corrupt":
		q := bytes.Clone(p)
		q[len(q)-1] ^= 1 // a padding letter becomes another ASCII byte
		peer.WriteMessage(gws.OpcodeText, q)
	case fs.sentTo == 5 && fs.fault == "misroute":
		peer.WriteMessage(gws.OpcodeText, p)
		// The same frame also reaches a socket of another room.
		for _, other := range fs.order {
			if r, _ := other.Session().Load("room"); r != mustRoom(peer) {
				other.WriteMessage(gws.OpcodeText, p)
				break
			}
		}
	default:
		peer.WriteMessage(gws.OpcodeText, p)
	}
}

func mustRoom(c *gws.Conn) any {
	r, _ := c.Session().Load("room")
	return r
}

// The checker reports a server's single fault as exactly that fault.
func TestCheckerCatchesFaults(t *testing.T) {
	for _, tc := range []struct {
		fault string
		count func(DeliveryReport) int64
	}{
		{"drop", func(d DeliveryReport) int64 { return d.Lost }},
		{"duplicate", func(d DeliveryReport) int64 { return d.Duplicates }},
		{"reorder", func(d DeliveryReport) int64 { return d.Reordered }},
		{"corrupt", func(d DeliveryReport) int64 { return d.Corrupt }},
		{"misroute", func(d DeliveryReport) int64 { return d.Misrouted }},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			t.Parallel()
			srv := newFaultServer(t, tc.fault)
			res, err := Run(context.Background(), Options{
				URL: wsURL(srv),
				// One sender in each of two rooms: the victim's room and
				// another, for the misrouted frame to land in.
				Shape: Shape{Rooms: 2, Clients: 2, Senders: 1, Rate: 50, Payload: 100, Duration: time.Second},
				Drain: 500 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			d := res.Deliveries
			if got := tc.count(d); got != 1 {
				t.Errorf("%s counted %d times, want 1: %+v", tc.fault, got, d)
			}
			if d.Faults() != 1 {
				t.Errorf("%d faults in all, want only the one %s: %+v", d.Faults(), tc.fault, d)
			}
			if d.Disconnected != 0 || res.Connect.Failed != 0 {
				t.Errorf("sockets failed: %+v %+v", res.Connect, d)
			}
			wantReceived := d.Expected
			if tc.fault == "drop" || tc.fault == "corrupt" {
				wantReceived--
			}
			if d.Received != wantReceived {
				t.Errorf("received %d of %d expected, want %d", d.Received, d.Expected, wantReceived)
			}
		})
	}
}

func TestSpreadURLsRoundRobin(t *testing.T) {
	o := Options{
		URL:    "wss://a:1/broadcast/{room}",
		Spread: []string{"wss://b:1/broadcast/{room}", "wss://c:1/broadcast/{room}"},
		Shape:  Shape{Rooms: 2, Clients: 4, Payload: 128, Duration: time.Second},
	}
	o.RoomPrefix = "r"
	r := newRunner(o)
	var got []string
	for i := range o.Shape.Conns() {
		rm := r.rooms[i/o.Shape.Clients]
		got = append(got, rm.urls[(i%o.Shape.Clients)%len(rm.urls)])
	}
	want := []string{
		"wss://a:1/broadcast/r0", "wss://b:1/broadcast/r0", "wss://c:1/broadcast/r0", "wss://a:1/broadcast/r0",
		"wss://a:1/broadcast/r1", "wss://b:1/broadcast/r1", "wss://c:1/broadcast/r1", "wss://a:1/broadcast/r1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("clients' URLs:\n got %v\nwant %v", got, want)
	}
	o.Spread = []string{"ws://b:1/broadcast/{room}"}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "same scheme") {
		t.Errorf("mixed schemes: %v", err)
	}
}
