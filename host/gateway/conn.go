package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/internal/reclaim"
)

// Errors Send returns. The host ignores them; they say why a frame was
// dropped.
var (
	errClosing    = errors.New("gateway: socket closing")
	errSlowReader = errors.New("gateway: send queue full; socket closed as a slow reader")
)

// conn is one client socket: the host.Conn the object sends through, and
// the state the socket's read loop, its writer and the keepalive loop share.
//
// Outbound frames go through gws's per-socket write queue, which runs them
// in order on a goroutine of its own but has no bound; queued counts what
// is in it, and a Send that would take it past SendQueue closes the socket
// instead. Before the upgrade there is no socket yet: frames wait in
// pending (bounded the same way) and attach flushes them.
type conn struct {
	g      *Gateway
	id     host.ObjectID
	remote string
	sess   host.ClientSession // set before the upgrade, read-only after
	nc     *netConn           // set by the upgrade, read-only after

	// mu orders the upgrade against Send and against claims on cause, so
	// that frames sent during connect are flushed first and exactly one
	// party acts on a cause.
	mu           sync.Mutex
	pending      []*host.Frame
	pendingBytes int                        // payload bytes in pending
	sock         atomic.Pointer[gws.Conn]   // set, under mu, once pending is flushed
	cause        atomic.Pointer[closeCause] // set under mu, at most once
	done         bool                       // under mu: the read loop ended; no more claims

	queued      atomic.Int64  // jobs in gws's write queue, not yet finished
	queuedBytes atomic.Int64  // payload bytes of the frames among them
	written     atomic.Uint64 // jobs finished, for the keepalive's stall check
	ended       atomic.Bool   // the read loop ended: nothing more may be queued
	drained     chan struct{} // cap 1: queued reached zero after ended

	// closeErr is what gws's read loop ended with; written by OnClose and
	// read after ReadLoop returns, on the same goroutine.
	closeErr error

	// lastRead is when the peer last sent anything (Unix nanoseconds).
	lastRead atomic.Int64
	// readDeadline is the read deadline refresh set last (Unix
	// nanoseconds); owned by the read loop.
	readDeadline int64

	// pongMu guards pong and pongQueued: at most one pong waits in the
	// write queue, and it answers the latest ping (see answerPing).
	pongMu     sync.Mutex
	pong       []byte // the latest ping's payload, not yet answered
	pongQueued bool   // a job that writes pong is in the write queue

	// pingDue is when the pings received so far would be due at
	// MaxPingRate, in nanoseconds since the gateway's epoch; owned by the
	// read loop (see pingFlood).
	pingDue int64

	// Owned by the keepalive loop.
	seenWritten uint64
	stalls      int
}

var _ host.Conn = (*conn)(nil)

// Send queues f for the socket without blocking. It is called by the
// object's goroutine and, for auto-responses, by this socket's read loop.
func (c *conn) Send(f *host.Frame) error {
	if c.cause.Load() != nil {
		return errClosing
	}
	s := c.sock.Load()
	if s == nil {
		c.mu.Lock()
		if s = c.sock.Load(); s == nil {
			defer c.mu.Unlock()
			return c.hold(f)
		}
		c.mu.Unlock()
	}
	err := c.enqueue(s, f)
	if err == errSlowReader && c.abort(slowReader, false) {
		c.g.stats.slowReaders.Add(1)
		c.g.log.Warn("closing a slow reader", "object", c.id.String(), "conn", c.sess.ID(), "remote", c.remote, "queued", c.queued.Load())
	}
	return err
}

// hold keeps a frame sent before the upgrade. Called with mu held.
func (c *conn) hold(f *host.Frame) error {
	if c.cause.Load() != nil {
		return errClosing
	}
	// The same bounds as the write queue, frames and bytes, so that attach
	// can always queue what is held.
	overBytes := c.pendingBytes+len(f.Data) > c.g.opts.SendQueueBytes && len(c.pending) > 0
	if len(c.pending) >= c.g.opts.SendQueue || overBytes {
		// attach acts on the cause once the socket exists.
		c.pending, c.pendingBytes = nil, 0
		c.cause.Store(slowReader)
		c.g.stats.slowReaders.Add(1)
		c.g.log.Warn("closing a socket whose object sent more than the send queue holds before the upgrade", "object", c.id.String(), "remote", c.remote)
		return errSlowReader
	}
	c.pending = append(c.pending, f)
	c.pendingBytes += len(f.Data)
	return nil
}

// enqueue hands f to the socket's writer: one job in gws's queue, which
// writes the frame's shared encoding (see frameCache) in order with the
// socket's other frames and releases it.
func (c *conn) enqueue(s *gws.Conn, f *host.Frame) error {
	if err := c.reserve(true); err != nil {
		return err
	}
	// Bytes are bounded as well as frames: 256 frames of 1 MiB would let one
	// stuck socket pin 256 MiB. A single frame always fits an empty queue.
	size := int64(len(f.Data))
	if n := c.queuedBytes.Add(size); n > int64(c.g.opts.SendQueueBytes) && n != size {
		c.queuedBytes.Add(-size)
		c.unreserve()
		return errSlowReader
	}
	sf, err := c.g.frames.acquire(f)
	if err != nil {
		c.queuedBytes.Add(-size)
		c.unreserve()
		return err
	}
	s.Async(func() {
		c.writeData(*sf.wire)
		c.g.frames.release(sf)
		c.queuedBytes.Add(-size)
		c.finish()
	})
	return nil
}

// writeData writes one encoded data frame. A socket whose write fails is
// broken: it is cut, which ends its read loop and so the session, as gws
// does when one of its own writes fails.
func (c *conn) writeData(wire []byte) {
	if _, err := c.nc.Write(wire); err != nil {
		c.nc.cut()
	}
}

// reserve counts one job into the write queue. With limit, a queue already
// holding SendQueue jobs refuses it with errSlowReader.
func (c *conn) reserve(limit bool) error {
	n := c.queued.Add(1)
	// ended is read after the Add: if the read loop's drain wait has seen
	// zero, this Add came later and ended is visible (atomics are
	// sequentially consistent), so nothing is queued behind the drain.
	if c.ended.Load() {
		c.unreserve()
		return errClosing
	}
	if limit && n > int64(c.g.opts.SendQueue) {
		c.unreserve()
		return errSlowReader
	}
	return nil
}

// finish counts a job that ran (written or failed) out of the write queue.
func (c *conn) finish() {
	c.written.Add(1)
	c.unreserve()
}

// unreserve counts a job out of the write queue.
func (c *conn) unreserve() {
	if c.queued.Add(-1) == 0 && c.ended.Load() {
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
}

// push queues a control frame (the keepalive's ping) if the queue has
// room; when it has none the socket is about to be closed anyway.
func (c *conn) push(s *gws.Conn, write func() error) {
	if c.reserve(true) != nil {
		return
	}
	s.Async(func() {
		_ = write()
		c.finish()
	})
}

// answerPing queues a pong for the ping the read loop just received. RFC
// 6455 section 5.5.3 allows answering only the most recent of several
// pings, so a pong already waiting in the queue takes the new payload
// instead of a second pong joining it: a ping flood costs one queued job,
// and the last ping is always answered while the socket is open. That one
// job is not held to SendQueue, which would drop it.
func (c *conn) answerPing(s *gws.Conn, payload []byte) {
	c.pongMu.Lock()
	c.pong = payload // gws allocates each ping's payload
	queued := c.pongQueued
	c.pongQueued = true
	c.pongMu.Unlock()
	if queued {
		return
	}
	if c.reserve(false) != nil {
		return // the read loop ended
	}
	s.Async(func() {
		c.pongMu.Lock()
		p := c.pong
		c.pong, c.pongQueued = nil, false
		c.pongMu.Unlock()
		_ = s.WritePong(p)
		c.finish()
	})
}

// pingFlood counts a ping against MaxPingRate and reports whether the
// client is past it. The budget is a virtual schedule (the generic cell
// rate algorithm): each ping moves pingDue one step of 1/MaxPingRate
// seconds later, but never from before now, and a client may run at most
// a second ahead of it: MaxPingRate pings at once, and MaxPingRate a
// second after that.
func (c *conn) pingFlood(now time.Time) bool {
	step := c.g.pingStep
	if step == 0 {
		return false
	}
	t := int64(now.Sub(c.g.epoch))
	c.pingDue = max(c.pingDue, t) + step
	return c.pingDue-t > int64(time.Second)
}

// protocolError closes the socket with 1002 for a frame the frame check
// refused; the netConn calls it on the read loop, before gws sees the
// frame.
func (c *conn) protocolError(reason string) {
	cause := &closeCause{code: closeProtocolError, reason: reason}
	if c.abort(cause, true) {
		c.g.stats.protocolErrors.Add(1)
		c.g.log.Debug("closing a socket for a protocol error", "object", c.id.String(), "conn", c.sess.ID(), "remote", c.remote, "reason", reason)
	}
}

// Close closes the socket for the object: frames it sent before are
// written first, then the close frame. It does not block, since the object
// calls it from its own goroutine, and the socket's end is not reported
// back (the object has forgotten the connection).
func (c *conn) Close(code int, reason string) error {
	cause := &closeCause{code: code, reason: truncateReason(reason), byObject: true}
	if s, ok := c.claim(cause); ok && s != nil {
		c.closeAfterQueued(s, cause)
	}
	return nil
}

// claim records cause if the socket has none yet and its read loop has not
// ended, and reports whether it did. The caller then closes the returned
// gws socket; when it is nil the upgrade is not done yet, and attach acts on
// the cause once it is.
func (c *conn) claim(cause *closeCause) (*gws.Conn, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done || c.cause.Load() != nil {
		return nil, false
	}
	c.cause.Store(cause)
	return c.sock.Load(), true
}

// closeAfterQueued queues the close frame behind the frames already queued.
func (c *conn) closeAfterQueued(s *gws.Conn, cause *closeCause) {
	if c.reserve(false) != nil {
		return // the read loop ended: the socket is gone already
	}
	s.Async(func() {
		_ = s.WriteClose(uint16(cause.code), []byte(cause.reason))
		c.finish()
	})
}

// closeNow writes the close frame ahead of any queued frames (after the
// one being written, if any) and closes the socket, within closeTimeout:
// every write on the socket gets that deadline, so a peer that does not
// read cannot hold it (its close frame then never arrives, but the socket
// still ends).
func (c *conn) closeNow(s *gws.Conn, cause *closeCause) {
	_ = s.NetConn().SetWriteDeadline(time.Now().Add(closeTimeout))
	_ = s.WriteClose(uint16(cause.code), []byte(cause.reason))
}

// abort closes the socket for the gateway's cause, and reports whether
// this call claimed it. WriteClose may wait up to closeTimeout for a stuck
// write, so callers that must not block (the object's goroutine, the
// keepalive loop) pass wait=false and a tracked goroutine writes the close
// frame.
func (c *conn) abort(cause *closeCause, wait bool) bool {
	s, ok := c.claim(cause)
	if !ok {
		return false
	}
	switch {
	case s == nil:
		// attach acts on the cause once the upgrade is done.
	case wait:
		c.closeNow(s, cause)
	case !c.g.goFunc(func() { c.closeNow(s, cause) }):
		// Shutdown has begun and will skip this socket, which is claimed:
		// cut it, without a close frame.
		c.nc.cut()
	}
	return true
}

// attach makes s the socket's writer: it flushes the frames the object sent
// during connect, in order, and then acts on a close that was asked for
// meanwhile. The queue is empty and pending holds at most SendQueue frames,
// so the flush cannot overflow it.
func (c *conn) attach(s *gws.Conn) {
	c.mu.Lock()
	for _, f := range c.pending {
		if err := c.enqueue(s, f); err != nil {
			// hold keeps within the queue's bounds, so this is the socket
			// failing; never deliver the frames after a gap.
			if c.cause.Load() == nil {
				c.cause.Store(slowReader)
			}
			break
		}
	}
	c.pending, c.pendingBytes = nil, 0
	c.sock.Store(s)
	cause := c.cause.Load()
	c.mu.Unlock()
	switch {
	case cause == nil:
	case cause.byObject:
		c.closeAfterQueued(s, cause)
	default:
		c.closeNow(s, cause)
	}
}

// run is the socket's read loop goroutine. When gws's loop ends, it tells
// the host, lets the peer finish its side of the close, cuts the
// connection, waits for the write queue to drain and unregisters.
func (c *conn) run(s *gws.Conn) {
	c.readLoop(s)

	c.mu.Lock()
	c.done = true
	cause := c.cause.Load()
	c.mu.Unlock()
	c.ended.Store(true)

	c.report(cause)
	c.countClose(cause)
	// gws has half-closed the connection (see netConn) unless the loop
	// ended another way; either way, read out what the peer still sends
	// within the linger, at most about a frame's worth, then cut.
	_ = c.nc.Close()
	c.nc.drain(int64(c.g.opts.MaxFrame) + 64<<10)
	c.nc.cut()
	c.waitDrained()
	c.g.unregister(c)
}

// readLoop runs gws's read loop, which parses the client's bytes and calls
// the event handlers. A panic there (gws v1.8.9 has panicked on malformed
// frames) ends this socket alone: it is logged with its stack, counted, and
// the socket is closed with 1011, or with the cause already claimed, which
// run then reports to the object as usual.
func (c *conn) readLoop(s *gws.Conn) {
	defer func() {
		if v := recover(); v != nil {
			c.g.recovered(v, "read loop", "object", c.id.String(), "conn", c.sess.ID(), "remote", c.remote)
			c.abort(panicked, true)
		}
	}()
	s.ReadLoop()
}

// waitDrained waits for the socket's write queue to empty. The socket is
// closed, so every queued write fails at once; the bound is a safety net.
func (c *conn) waitDrained() {
	if c.queued.Load() == 0 {
		return
	}
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	for c.queued.Load() > 0 {
		select {
		case <-c.drained:
		case <-t.C:
			c.g.log.Warn("write queue did not drain", "object", c.id.String(), "conn", c.sess.ID(), "queued", c.queued.Load())
			return
		}
	}
}

// countClose counts the socket's end under the code its close carried:
// the gateway's or the object's, else what the read loop ended with.
func (c *conn) countClose(cause *closeCause) {
	code := 0
	if cause != nil {
		code = cause.code
	} else {
		code, _ = closeStatus(c.closeErr)
	}
	c.g.stats.closes[closeCodeSlot(code)].Add(1)
	// Its buffers are garbage now: a wave of these is worth collecting
	// in a quiet process (see host/internal/reclaim).
	reclaim.Note(reclaim.Conn)
}

// report tells the host the socket ended, with the code the client sent or
// the one the gateway closed it with.
func (c *conn) report(cause *closeCause) {
	code, reason := closeStatus(c.closeErr)
	if cause != nil {
		if cause.byObject {
			return
		}
		code, reason = cause.code, cause.reason
		if cause.report != 0 {
			code = cause.report
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), mailboxWait)
	defer cancel()
	if err := c.sess.Close(ctx, code, reason); err != nil && !errors.Is(err, host.ErrClosed) {
		c.g.log.Warn("report closed socket", "object", c.id.String(), "conn", c.sess.ID(), "err", err)
	}
	c.g.log.Debug("socket closed", "object", c.id.String(), "conn", c.sess.ID(), "remote", c.remote, "code", code, "reason", reason)
}
