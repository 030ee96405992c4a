// Package gateway terminates client WebSockets for a host.Host. It answers
// GET /{plugin}/{object} upgrade requests by asking the object to accept the
// connection first (so a refusal is a plain HTTP answer, never a WebSocket
// that opens and closes), then completes the upgrade with gws and carries
// frames both ways: inbound frames go to the object one at a time per
// socket, in order; outbound frames wait in a bounded queue per socket, and a
// frame broadcast to many sockets is encoded once for all of them. Idle
// sockets are kept alive with pings, dead and slow peers are closed, and
// nothing a client does can make the process hold memory without bound.
//
// A Gateway is an http.Handler. Serve it with a ReadHeaderTimeout, so that a
// client cannot hold a connection open without finishing its request (after
// the upgrade the gateway clears the server's deadlines and keeps its own):
//
//	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
//
// ReadTimeout and WriteTimeout may be set too; they stop mattering once a
// socket is upgraded. http.Server.Shutdown does not touch hijacked
// connections: call Gateway.Shutdown as well, before closing the host.
//
// # Close codes
//
// The gateway closes a socket with
//   - 1001 "going away" on Shutdown (or "host shutting down" when the host
//     closes first), and "ping timeout" when the peer sent nothing, not even
//     a pong, for two ping intervals;
//   - 1002 for a frame that breaks RFC 6455 section 5 (reserved bits or
//     opcodes, an unmasked frame, a fragmented or oversize control frame,
//     a continuation outside a fragmented message or a new message inside
//     one, a 64-bit length with its top bit set, a 1-byte close payload),
//     with the broken rule as the reason; and for an invalid close code;
//   - 1008 "slow reader" when the socket's send queue overflows or its
//     writes make no progress for two ping intervals, and "ping flood"
//     when the client pings faster than MaxPingRate;
//   - 1009 for a frame over MaxFrame, 1007 for invalid UTF-8 in a text
//     frame or a close reason;
//   - 1013 "object overloaded" when a frame waited 10 s for room in the
//     object's mailbox, 1011 on an internal error (a recovered panic
//     included);
//   - whatever code and reason the object asks for.
//
// The object hears the code the client sent (1005 when its close frame
// carried none), the code the gateway closed with, or 1006 when the
// connection ended without a close frame (a silent peer's included). It
// hears nothing of a close it asked for itself.
//
// A close frame is followed by a half-close and a short linger in which
// the peer's last bytes are read and dropped, so that a reset cannot
// destroy the close frame on its way.
//
// # Untrusted bytes
//
// Any client may send any bytes once upgraded, before a room has looked at
// a single message, and gws v1.8.9's frame parser panics on some malformed
// frames (a 64-bit length with its top bit set), on a goroutine of ours
// where a panic would end the process. So the gateway checks every frame
// header before gws parses it (frameCheck: headers only, payloads skipped
// by count) and refuses a broken frame with 1002; and the goroutines that
// run gws's parsing (the handshake's and each socket's read loop, which
// also runs the event handlers) recover: a panic closes that one socket
// (1011), is logged with its stack and counted (Stats.Panics), and the
// object hears of the close as of any other. gws's write goroutines parse
// nothing a client sent.
//
// Pings are answered at the gateway, without waking the object; a pong
// waiting to be written answers the latest ping that came meanwhile, so a
// ping flood can neither grow the write queue nor go unanswered, and a
// client past MaxPingRate is closed with 1008.
package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/torpor-dev/torpor/host"
)

// Options configures a Gateway. Zero fields take the documented defaults.
type Options struct {
	// Connector accepts the connections; default the host's own
	// (host.Host.Local). A cluster passes its router, which relays a
	// connection to the object's home when that is another host.
	Connector host.Connector
	// AllowedOrigins lists the exact Origin values ("https://example.com",
	// compared without regard to case) whose pages may connect. Empty allows
	// every origin: the gateway itself trusts no cookies or other ambient
	// credentials, so a page on another site gains nothing a script could
	// not get by connecting on its own, as long as rooms authenticate with
	// what the client sends explicitly (a token in the query). A room that
	// trusts cookies (it sees the request's headers) needs its origins
	// listed here, or must check the Origin header itself. A request
	// without an Origin header comes from a non-browser client, which could
	// send any Origin it liked, so it is allowed too.
	AllowedOrigins []string
	// HandshakeTimeout bounds the object's connect handler (waking the
	// object included); the 101 response then gets at most as long again to
	// be written. Default 10 s.
	HandshakeTimeout time.Duration
	// PingInterval is how often the gateway pings each socket. A peer that
	// sends nothing, not even a pong, for 2×PingInterval is taken for dead
	// and closed; so is one that takes nothing from its socket for as long
	// while frames wait for it. Default 30 s, well inside the idle timeouts
	// of common proxies and load balancers (60 s and more).
	PingInterval time.Duration
	// MaxFrame is the largest inbound message, in bytes; a larger one closes
	// the socket with 1009. Default: the host's Limits().FrameSize.
	// Keep it at or below the host's Limits.FrameSize.
	MaxFrame int
	// SendQueue is how many outbound frames may wait per socket. A socket
	// whose queue would grow past it is closed with 1008 "slow reader", so
	// a client that stops reading costs at most SendQueue frames (shared
	// with the other receivers of a broadcast). Default 256.
	SendQueue int
	// SendQueueBytes bounds the payload bytes waiting per socket, with the
	// same consequence; a single frame is always accepted by an empty
	// queue. Default 8 MiB.
	SendQueueBytes int
	// MaxConns bounds the sockets open, and handshakes under way, at once;
	// past it an upgrade is answered 503 with Retry-After. Default 50,000.
	MaxConns int
	// MaxPingRate is how many pings a second a client may send on average;
	// it may send as many as that at once, and a client that gets further
	// ahead is closed with 1008 "ping flood". Default 100, far above what
	// any keepalive needs (browsers send no pings at all) and far below
	// what costs the gateway anything; negative disables the limit. At any
	// rate, pings that arrive while a pong waits to be written share that
	// pong, which answers the latest (RFC 6455 section 5.5.3).
	MaxPingRate int
	// Logger receives connection-level events; default slog.Default().
	Logger *slog.Logger
}

// Defaults for the zero Options fields.
const (
	defaultHandshakeTimeout = 10 * time.Second
	defaultPingInterval     = 30 * time.Second
	defaultSendQueue        = 256
	defaultSendQueueBytes   = 8 << 20
	defaultMaxConns         = 50000
	defaultMaxPingRate      = 100
)

// Timeouts that are not worth an option.
const (
	// closeTimeout bounds the write of a close frame the gateway initiates:
	// long enough for a live peer, short enough that a stuck one cannot hold
	// Shutdown or a goroutine.
	closeTimeout = time.Second
	// mailboxWait is how long a client's frame may wait for room in a full
	// object mailbox (while the socket's reads stop, which pushes back on
	// the client) before the socket is closed with 1013. It also bounds
	// telling the object that a socket closed.
	mailboxWait = 10 * time.Second
)

func (o Options) withDefaults() Options {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = defaultHandshakeTimeout
	}
	if o.PingInterval <= 0 {
		o.PingInterval = defaultPingInterval
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = host.DefaultLimits().FrameSize
	}
	if o.SendQueue <= 0 {
		o.SendQueue = defaultSendQueue
	}
	if o.SendQueueBytes <= 0 {
		o.SendQueueBytes = defaultSendQueueBytes
	}
	if o.MaxConns <= 0 {
		o.MaxConns = defaultMaxConns
	}
	if o.MaxPingRate == 0 {
		o.MaxPingRate = defaultMaxPingRate
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.AllowedOrigins = append([]string(nil), o.AllowedOrigins...)
	return o
}

// Gateway serves client WebSockets for one host. Its methods are safe for
// concurrent use.
//
// It owns these goroutines, all of which Shutdown waits for: one per
// handshake in progress (the http.Server's, while ServeHTTP runs), one read
// loop per socket, one keepalive loop (started with the first socket), and
// short-lived closers that write a close frame to a socket whose writer may
// be stuck. gws runs each socket's writes on a goroutine of its own while
// that socket has queued frames; a socket's read loop does not finish until
// its queue has drained, so Shutdown waits for those too.
type Gateway struct {
	h         *host.Host
	connector host.Connector
	opts      Options
	log       *slog.Logger
	upgrader  *gws.Upgrader
	frames    frameCache
	stats     stats
	open      atomic.Int64 // sockets open plus handshakes under way, against MaxConns

	// epoch and pingStep drive each socket's MaxPingRate budget: pingStep
	// is 1/MaxPingRate seconds in nanoseconds, 0 without a limit.
	epoch    time.Time
	pingStep int64

	// uncheckedFrames lets gws parse frames the frame check would refuse:
	// for tests of what happens when gws panics.
	uncheckedFrames atomic.Bool

	// ctx ends with Shutdown: it stops the keepalive loop, cuts short
	// connects in progress and frames waiting for a full mailbox.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex // guards the fields below, and wg.Add against Shutdown's Wait
	closed    bool
	conns     map[*conn]struct{} // upgraded sockets whose read loop has not finished
	keepalive bool               // the keepalive loop has started
	wg        sync.WaitGroup

	waitOnce sync.Once
	idle     chan struct{} // closed when wg reaches zero after Shutdown
}

// stats counts what tests and operators may want to see. All atomic.
type stats struct {
	slowReaders    atomic.Uint64 // sockets closed because their queue overflowed
	stalled        atomic.Uint64 // sockets closed because their writes made no progress
	atCapacity     atomic.Uint64 // upgrades refused because MaxConns sockets were open
	protocolErrors atomic.Uint64 // sockets closed because the frame check refused a frame
	pingFloods     atomic.Uint64 // sockets closed for pinging faster than MaxPingRate
	panics         atomic.Uint64 // panics recovered on a socket's behalf
	opened         atomic.Uint64 // sockets upgraded
	// closes counts the sockets that ended, by closeCodeSlot; refused the
	// upgrade requests answered with an error, by status - 400.
	closes  [numCloseSlots]atomic.Uint64
	refused [200]atomic.Uint64
}

// Stats is a snapshot of a gateway's counters, which count from New.
type Stats struct {
	Conns          int    // upgraded sockets open now
	SlowReaders    uint64 // sockets closed (1008) because their send queue overflowed
	Stalled        uint64 // sockets closed (1008) because their writes made no progress
	AtCapacity     uint64 // upgrades refused (503) because MaxConns sockets were open
	ProtocolErrors uint64 // sockets closed (1002) for a frame that breaks RFC 6455 section 5
	PingFloods     uint64 // sockets closed (1008) for pinging faster than MaxPingRate
	// Panics counts panics recovered while parsing a client's bytes or
	// handling its frames: each closed one socket and was logged with its
	// stack. Anything but zero is a bug worth reporting.
	Panics uint64
	// Opened counts the sockets upgraded. Closed counts those that ended,
	// by the code of their close: the one the gateway or the object sent,
	// the client's, 1005 for a client's close without a code, 1006 for a
	// connection that ended without a close frame. Codes 1000-1015 count
	// one by one, the application's 3000-3999 and 4000-4999 as "3xxx" and
	// "4xxx", anything else as "other", so a plugin cannot grow the map.
	Opened uint64
	Closed map[string]uint64
	// Refused counts the requests for an object's path answered with an
	// error, by HTTP status: the gateway's own refusals (a bad handshake,
	// an unknown plugin, a foreign origin, at capacity, shutting down) and
	// the object's.
	Refused map[int]uint64
}

// Stats returns the gateway's counters.
func (g *Gateway) Stats() Stats {
	s := Stats{
		Conns:          g.Conns(),
		SlowReaders:    g.stats.slowReaders.Load(),
		Stalled:        g.stats.stalled.Load(),
		AtCapacity:     g.stats.atCapacity.Load(),
		ProtocolErrors: g.stats.protocolErrors.Load(),
		PingFloods:     g.stats.pingFloods.Load(),
		Panics:         g.stats.panics.Load(),
		Opened:         g.stats.opened.Load(),
		Closed:         map[string]uint64{},
		Refused:        map[int]uint64{},
	}
	for i := range g.stats.closes {
		if n := g.stats.closes[i].Load(); n > 0 {
			s.Closed[closeSlotLabel(i)] = n
		}
	}
	for i := range g.stats.refused {
		if n := g.stats.refused[i].Load(); n > 0 {
			s.Refused[400+i] = n
		}
	}
	return s
}

// refuse answers an upgrade request with an error status, and counts it.
func (g *Gateway) refuse(w http.ResponseWriter, status int, msg string) {
	g.stats.refused[min(max(status, 400), 599)-400].Add(1)
	http.Error(w, msg, status)
}

// recovered counts and logs a panic recovered on a socket's behalf, with
// the stack of the goroutine that panicked (call it from the deferred
// function that recovered).
func (g *Gateway) recovered(v any, where string, attrs ...any) {
	g.stats.panics.Add(1)
	attrs = append(attrs, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	g.log.Error("recovered a panic in the "+where+"; closed the socket", attrs...)
}

// New builds a gateway in front of h. It starts no goroutine: the first
// socket starts the keepalive loop.
func New(h *host.Host, opts Options) *Gateway {
	if opts.MaxFrame <= 0 && h != nil {
		opts.MaxFrame = h.Limits().FrameSize
	}
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{
		h:         h,
		connector: opts.Connector,
		opts:      opts,
		log:       opts.Logger,
		epoch:     time.Now(),
		ctx:       ctx,
		cancel:    cancel,
		conns:     map[*conn]struct{}{},
		idle:      make(chan struct{}),
	}
	if g.connector == nil && h != nil {
		g.connector = h.Local()
	}
	if opts.MaxPingRate > 0 {
		g.pingStep = max(int64(time.Second)/int64(opts.MaxPingRate), 1)
	}
	g.frames.init()
	g.upgrader = gws.NewUpgrader(events{}, &gws.ServerOption{
		// One goroutine reads each socket and hands frames to the object
		// one at a time, which keeps them in order and lets a full mailbox
		// push back on the client through TCP.
		ParallelEnabled:    false,
		ReadMaxPayloadSize: opts.MaxFrame,
		// Outbound frames are bounded by the host's Limits.FrameSize.
		WriteMaxPayloadSize: 1 << 30,
		// Invalid UTF-8 in a text frame closes the socket with 1007.
		CheckUtf8Enabled: true,
		HandshakeTimeout: opts.HandshakeTimeout,
		Logger:           gwsLogger{opts.Logger},
		// Compression stays off: per-socket deflate state costs memory
		// per socket and CPU per frame, and rooms send small frames.
		NewSession: func() gws.SessionStorage { return new(session) },
	})
	return g
}

// Conns reports how many upgraded sockets are open.
func (g *Gateway) Conns() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// goFunc runs f on a goroutine Shutdown waits for, unless Shutdown has begun.
func (g *Gateway) goFunc(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// ServeHTTP answers GET /{plugin}/{object} with a WebSocket upgrade, after
// the object accepted the connection. Anything else gets a short text
// answer naming the cause: 404 for another path (those of plugins starting
// with "_" included) or an unknown plugin, 405 for another method, 426
// without an upgrade or for a WebSocket version other than 13, 400 for a
// bad key or a name the host refuses, 403 for a foreign origin, the status
// and reason of an object that refuses the connection, and 503 while the
// object is failed, full, overloaded or the gateway is shutting down.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := parsePath(r.URL.Path)
	if !ok {
		// Not an object's path (a browser's /favicon.ico, say): no
		// connect to count as refused.
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if !g.enter() {
		w.Header().Set("Connection", "close")
		g.refuse(w, http.StatusServiceUnavailable, "server shutting down")
		return
	}
	defer g.wg.Done()
	if status, msg := g.checkHandshake(w, r); status != 0 {
		g.refuse(w, status, msg)
		return
	}
	// A socket, even idle, costs buffers, and a half-sent frame costs up to
	// MaxFrame: the number of sockets (and handshakes) is bounded.
	if g.open.Add(1) > int64(g.opts.MaxConns) {
		g.open.Add(-1)
		g.stats.atCapacity.Add(1)
		w.Header().Set("Retry-After", "5")
		g.refuse(w, http.StatusServiceUnavailable, "server at capacity: too many connections")
		return
	}
	registered := false
	defer func() {
		if !registered {
			g.open.Add(-1)
		}
	}()

	c := &conn{g: g, id: id, remote: r.RemoteAddr, drained: make(chan struct{}, 1)}
	ctx, cancel := context.WithTimeout(r.Context(), g.opts.HandshakeTimeout)
	stop := context.AfterFunc(g.ctx, cancel) // Shutdown cuts the connect short
	sess, err := g.connector.Connect(ctx, host.ConnectRequest{
		Object: id,
		Path:   r.URL.Path,
		Query:  r.URL.RawQuery,
		Remote: r.RemoteAddr,
		Header: r.Header,
	}, c)
	stop()
	cancel()
	if err != nil {
		status, msg := refusal(id, err)
		if errors.Is(err, host.ErrCannotStart) || errors.Is(err, host.ErrHomeUnavailable) {
			w.Header().Set("Retry-After", "5")
		}
		if status == http.StatusInternalServerError {
			g.log.Error("connect failed", "object", id.String(), "remote", r.RemoteAddr, "err", err)
		} else {
			g.log.Debug("connect refused", "object", id.String(), "remote", r.RemoteAddr, "status", status, "err", err)
		}
		g.refuse(w, status, msg)
		return
	}
	c.sess = sess

	hj := &hijacker{ResponseWriter: w, refuse: c.protocolError}
	if g.uncheckedFrames.Load() {
		hj.refuse = nil
	}
	s, err := g.upgrade(hj, r)
	if err != nil {
		if hj.nc != nil {
			hj.nc.cut()
		}
		// The object accepted a socket that never opened: drop what it
		// sent and sends until it hears, and tell it.
		g.log.Warn("upgrade failed", "object", id.String(), "remote", r.RemoteAddr, "err", err)
		c.mu.Lock()
		c.done, c.pending = true, nil
		c.cause.Store(upgradeFailed)
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), mailboxWait)
		defer cancel()
		if err := sess.Close(ctx, upgradeFailed.code, upgradeFailed.reason); err != nil && !errors.Is(err, host.ErrClosed) {
			g.log.Warn("report closed socket", "object", id.String(), "conn", sess.ID(), "err", err)
		}
		return
	}
	c.nc = hj.nc
	c.nc.more = func() bool { return c.queued.Load() > 1 }
	s.Session().(*session).c = c
	registered = true
	g.stats.opened.Add(1)
	g.register(c, s)
}

// upgrade completes the handshake. gws parses the request's headers on
// this goroutine, which net/http would recover, but then the object would
// never hear that its connection failed: a panic is an error here.
func (g *Gateway) upgrade(hj *hijacker, r *http.Request) (s *gws.Conn, err error) {
	defer func() {
		if v := recover(); v != nil {
			g.recovered(v, "upgrade", "remote", r.RemoteAddr)
			s, err = nil, fmt.Errorf("panic in the upgrade: %v", v)
		}
	}()
	return g.upgrader.Upgrade(hj, r)
}

// enter counts a handshake in, unless Shutdown has begun.
func (g *Gateway) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// register adds an upgraded socket, flushes what the object sent during its
// connect handler and starts the socket's read loop. It runs inside a
// handshake, so wg is above zero and Add may race Shutdown's Wait.
func (g *Gateway) register(c *conn, s *gws.Conn) {
	c.lastRead.Store(time.Now().UnixNano()) // the handshake was the peer's last word
	g.mu.Lock()
	g.conns[c] = struct{}{}
	closed := g.closed
	if !g.keepalive && !closed {
		g.keepalive = true
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.keepaliveLoop()
		}()
	}
	g.wg.Add(1)
	g.mu.Unlock()

	c.attach(s)
	if closed {
		// Shutdown began during the handshake and could not see this socket.
		c.abort(goingAway, true)
	}
	go func() {
		defer g.wg.Done()
		defer g.open.Add(-1)
		c.run(s)
	}()
}

func (g *Gateway) unregister(c *conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
}

// Shutdown refuses new upgrades (503), closes every socket with 1001 "going
// away", tells the host each session closed and waits for the gateway's
// goroutines. If ctx ends first, it cuts the remaining sockets without a
// close frame and returns ctx's error; the goroutines then end on their own
// within seconds (telling the host waits up to 10 s for a full mailbox).
// Calling it again waits again.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	first := !g.closed
	g.closed = true
	var conns []*conn
	if first {
		conns = make([]*conn, 0, len(g.conns))
		for c := range g.conns {
			conns = append(conns, c)
		}
	}
	g.mu.Unlock()

	if first {
		g.cancel()
		deadline := time.Now().Add(closeTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		// Bound every socket's writes and claim the sockets first, then
		// write the close frames, each bounded by the one deadline. A
		// socket the object or the gateway was closing already keeps that
		// cause; the deadline bounds its close too.
		claimed := make([]*gws.Conn, 0, len(conns))
		for _, c := range conns {
			if s := c.sock.Load(); s != nil {
				_ = s.NetConn().SetWriteDeadline(deadline)
			}
			// nil: the socket is being attached, and attach closes it.
			if s, ok := c.claim(goingAway); ok && s != nil {
				claimed = append(claimed, s)
			}
		}
		// One goroutine per socket: a close frame waits for that socket's
		// write lock, and a stuck writer must not make every socket after
		// it miss the deadline.
		var writes sync.WaitGroup
		for _, s := range claimed {
			writes.Add(1)
			go func() {
				defer writes.Done()
				_ = s.WriteClose(closeGoingAway, []byte(goingAway.reason))
			}()
		}
		writes.Wait()
	}

	g.waitOnce.Do(func() {
		go func() {
			g.wg.Wait()
			close(g.idle)
		}()
	})
	select {
	case <-g.idle:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		for c := range g.conns {
			c.nc.cut()
		}
		g.mu.Unlock()
		return fmt.Errorf("gateway shutdown: %w", ctx.Err())
	}
}

// parsePath splits /{plugin}/{object}. Plugin names starting with "_" are
// the host's own routes; names are validated by the host, which names the
// broken rule in its error.
func parsePath(p string) (host.ObjectID, bool) {
	if len(p) < 4 || p[0] != '/' {
		return host.ObjectID{}, false
	}
	plugin, name, ok := strings.Cut(p[1:], "/")
	if !ok || plugin == "" || name == "" || plugin[0] == '_' || strings.IndexByte(name, '/') >= 0 {
		return host.ObjectID{}, false
	}
	return host.ObjectID{Plugin: plugin, Name: name}, true
}

// checkHandshake checks everything gws's upgrader will check, and the
// origin, before the object is asked: a request the upgrade would refuse
// must not wake an object or run its connect handler. It returns 0 when the
// request may proceed.
func (g *Gateway) checkHandshake(w http.ResponseWriter, r *http.Request) (int, string) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return http.StatusMethodNotAllowed, "method not allowed: connect with GET and Upgrade: websocket"
	}
	// The same tests as gws, so that a request passing here upgrades.
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
		!strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		return http.StatusUpgradeRequired, "this is a WebSocket endpoint: connect with Upgrade: websocket"
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return http.StatusUpgradeRequired, "unsupported WebSocket version: use 13"
	}
	if key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key")); err != nil || len(key) != 16 {
		return http.StatusBadRequest, "missing or malformed Sec-WebSocket-Key"
	}
	if !g.originAllowed(r.Header.Get("Origin")) {
		return http.StatusForbidden, "origin not allowed: " + r.Header.Get("Origin")
	}
	return 0, ""
}

func (g *Gateway) originAllowed(origin string) bool {
	if len(g.opts.AllowedOrigins) == 0 || origin == "" {
		return true
	}
	for _, o := range g.opts.AllowedOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// refusal maps a Connect error to an HTTP status and a short text.
func refusal(id host.ObjectID, err error) (int, string) {
	var rej *host.RejectError
	switch {
	case errors.As(err, &rej):
		if rej.Reason == "" {
			return rej.Status, http.StatusText(rej.Status)
		}
		return rej.Status, rej.Reason
	case errors.Is(err, host.ErrUnknownPlugin):
		return http.StatusNotFound, fmt.Sprintf("unknown plugin %q", id.Plugin)
	case errors.Is(err, host.ErrInvalidName):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, host.ErrObjectFailed):
		return http.StatusServiceUnavailable, "object failed: it refuses connections until it is redeployed or evicted"
	case errors.Is(err, host.ErrCannotStart):
		return http.StatusServiceUnavailable, "object cannot start now: its plugin's start-up is failing or the host is out of memory for plugins; try again later"
	case errors.Is(err, host.ErrTooManyConns):
		return http.StatusServiceUnavailable, "too many connections to this object"
	case errors.Is(err, host.ErrClosed):
		return http.StatusServiceUnavailable, "server shutting down"
	case errors.Is(err, host.ErrHomeUnavailable):
		return http.StatusServiceUnavailable, "the host this object lives on is unavailable; try again later"
	case errors.Is(err, host.ErrOverloaded), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "object overloaded: connect timed out"
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "connect cancelled"
	}
	return http.StatusInternalServerError, "internal error"
}

// gwsLogger routes gws's own error logs to slog.
type gwsLogger struct{ l *slog.Logger }

func (l gwsLogger) Error(v ...any) { l.l.Error(fmt.Sprint(v...), "source", "gws") }
