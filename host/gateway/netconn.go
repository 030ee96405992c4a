package gateway

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// netConn is the connection gws reads and writes, with a lingering close.
//
// gws closes a connection right after writing its close frame. A TCP
// connection closed with unread input (the rest of an oversize frame, or
// frames the client sent meanwhile) answers with a reset, and a reset can
// destroy the close frame before the client reads it: the client would see
// 1006 instead of 1009 or 1008. So Close only half-closes: it sends FIN
// after everything written so far and gives the peer closeTimeout to
// answer; the socket's read loop then reads out what is left (drain) and
// cuts the connection (cut).
//
// Close never blocks, so neither can gws's close paths, and closing never
// writes a TLS close_notify alert, which tls.Conn.Close would try for up to
// 5 s on a peer that does not read.
//
// Read passes the client's bytes through a frameCheck, when the socket has
// one, so that gws never parses a frame the check refuses: Read hands gws
// the bytes before that frame, and on the next call (once gws has handled
// them) tells the socket, which closes with 1002, and fails.
type netConn struct {
	net.Conn          // what gws uses: *tls.Conn or the TCP connection itself
	raw      net.Conn // the TCP connection, below TLS
	closing  atomic.Bool

	// Owned by the socket's read loop, the only caller of Read.
	check   *frameCheck         // nil: bytes pass unchecked
	refuse  func(reason string) // told of the violation check found
	refused bool

	// Outbound batching (see Write). more is set once, before the first
	// frame is queued; wmu guards held and closeSent.
	more      func() bool // another frame is queued behind the one being written
	wmu       sync.Mutex
	held      *[]byte // data frames held back, from heldPool; nil when none
	closeSent bool    // a close frame went out: no data frame may follow it
}

// heldMax bounds the bytes a socket holds back: a batch is written at most
// this large, and a frame that would pass it goes out with what is held.
const heldMax = 32 << 10

var heldPool = sync.Pool{New: func() any { b := make([]byte, 0, heldMax); return &b }}

// Write passes gws's frames on, one whole frame a call. A data frame with
// another frame queued behind it is held back and written with the next:
// a socket that fell behind (every socket of a busy room, when the machine
// is saturated) catches up in a few TLS records and system calls instead of
// one per frame. A control frame (close, ping, pong), the last frame in the
// queue, or one that would take the batch past heldMax writes everything
// held first, in order, so nothing waits for a frame that may never come.
//
// The gateway writes its data frames here itself, beside gws's writes of
// control frames, so Write also keeps RFC 6455 section 5.5.1: once a close
// frame went out, data frames are dropped (gws would not write its own
// after its close either).
func (c *netConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// RFC 6455 5.2: the first byte holds FIN, three reserved bits and the
	// opcode, whose high bit marks a control frame.
	data := len(p) > 0 && p[0]&0x08 == 0
	if data && (c.closeSent || c.closing.Load()) {
		return len(p), nil
	}
	// A close frame is final (FIN) with opcode 8; the upgrade response
	// gws writes first starts with 'H' and must not count.
	if len(p) > 0 && p[0] == 0x88 {
		c.closeSent = true
	}
	if data && c.more != nil && c.more() && (c.held == nil || len(*c.held)+len(p) <= heldMax) {
		if c.held == nil {
			c.held = heldPool.Get().(*[]byte)
		}
		*c.held = append(*c.held, p...)
		return len(p), nil
	}
	if c.held == nil {
		return c.Conn.Write(p)
	}
	batch := c.held
	c.held = nil
	*batch = append(*batch, p...)
	_, err := c.Conn.Write(*batch)
	if cap(*batch) <= heldMax*2 {
		*batch = (*batch)[:0]
		heldPool.Put(batch)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func newNetConn(c net.Conn) *netConn {
	raw := c
	if tc, ok := c.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	return &netConn{Conn: c, raw: raw}
}

// Close half-closes the connection; see netConn.
func (c *netConn) Close() error {
	if c.closing.Swap(true) {
		return nil
	}
	_ = c.raw.SetReadDeadline(time.Now().Add(closeTimeout))
	if tcp, ok := c.raw.(interface{ CloseWrite() error }); ok {
		return tcp.CloseWrite()
	}
	return c.raw.Close()
}

// SetReadDeadline is ignored once the connection is closing, so that a
// late refresh cannot stretch the linger.
func (c *netConn) SetReadDeadline(t time.Time) error {
	if c.closing.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline sets the write deadline alone once the connection is closing.
func (c *netConn) SetDeadline(t time.Time) error {
	if c.closing.Load() {
		return c.Conn.SetWriteDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

// drain reads and drops what the peer still sends, until it closes, the
// linger deadline passes or limit bytes have come.
func (c *netConn) drain(limit int64) {
	_, _ = io.CopyN(io.Discard, c.raw, limit)
}

// cut closes the TCP connection, at once.
func (c *netConn) cut() {
	c.closing.Store(true)
	_ = c.raw.Close()
}

// hijacker hands gws's upgrader a netConn instead of the bare connection.
// With refuse set, the netConn checks the frames the client sends and
// reports the first violation to refuse.
type hijacker struct {
	http.ResponseWriter
	refuse func(reason string)
	nc     *netConn
}

var errEarlyData = errors.New("client sent data before the handshake completed")

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// gws reads through a reader of its own; bytes net/http buffered after
	// the request would be lost. A client may not send any before the 101.
	if brw.Reader.Buffered() > 0 {
		_ = c.Close()
		return nil, nil, errEarlyData
	}
	h.nc = newNetConn(c)
	if h.refuse != nil {
		h.nc.check, h.nc.refuse = new(frameCheck), h.refuse
	}
	return h.nc, brw, nil
}

// errSilent replaces the read deadline's timeout, which gws would send to
// the peer as its close reason (with addresses in it).
var errSilent = silentError{}

type silentError struct{}

func (silentError) Error() string   { return "no frame or pong within the ping deadline" }
func (silentError) Timeout() bool   { return true }
func (silentError) Temporary() bool { return true }

// frameError is what Read fails with once the frame check found a
// violation. gws ends its read loop on it; the socket has written its
// close frame (1002) by then.
type frameError struct{ reason string }

func (e *frameError) Error() string { return "websocket protocol error: " + e.reason }

// Read reports a read deadline that passed while the connection was open
// as errSilent, and refuses the bytes of a frame the check finds broken
// (see netConn).
func (c *netConn) Read(p []byte) (int, error) {
	if c.check != nil && c.check.reason != "" {
		return 0, c.fail()
	}
	n, err := c.Conn.Read(p)
	var ne net.Error
	if err != nil && !c.closing.Load() && errors.As(err, &ne) && ne.Timeout() {
		err = errSilent
	}
	if c.check == nil || n == 0 {
		return n, err
	}
	if ok := c.check.scan(p[:n]); c.check.reason != "" {
		if ok > 0 {
			// gws handles the frames before the broken one first: it
			// calls Read again only once it has consumed these bytes.
			return ok, nil
		}
		return 0, c.fail()
	}
	return n, err
}

// fail tells the socket of the violation, once, and returns the error that
// ends gws's read loop.
func (c *netConn) fail() error {
	if !c.refused {
		c.refused = true
		c.refuse(c.check.reason)
	}
	return &frameError{c.check.reason}
}
