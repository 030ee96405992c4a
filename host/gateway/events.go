package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/lxzan/gws"
	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
)

// session is a socket's gws session storage. It holds the socket's *conn
// in a plain field, so that the event handlers find it without a map and a
// lock; gws itself never reads session storage, and the other keys exist
// only to satisfy the interface.
type session struct{ c *conn }

const sessionKey = "conn"

func (s *session) Len() int {
	if s.c == nil {
		return 0
	}
	return 1
}

func (s *session) Load(key string) (any, bool) {
	if key != sessionKey || s.c == nil {
		return nil, false
	}
	return s.c, true
}

func (s *session) Delete(key string) {
	if key == sessionKey {
		s.c = nil
	}
}

func (s *session) Store(key string, value any) {
	if key == sessionKey {
		s.c, _ = value.(*conn)
	}
}

func (s *session) Range(f func(key string, value any) bool) {
	if s.c != nil {
		f(sessionKey, s.c)
	}
}

// events handles gws's callbacks. gws calls them on the socket's read loop
// goroutine, one at a time.
type events struct{}

func connOf(s *gws.Conn) *conn { return s.Session().(*session).c }

// refresh notes that the peer is alive. The keepalive loop closes a peer
// silent for two ping intervals; the read deadline, two and a half to three
// intervals later, ends the read loop of one the keepalive loop could not
// close. The deadline moves only once it is half an interval stale: setting
// it is a timer update under the poller's lock, which on every frame cost
// a busy socket more than the rest of its read.
func (c *conn) refresh(s *gws.Conn) time.Time {
	now := time.Now()
	c.lastRead.Store(now.UnixNano())
	interval := c.g.opts.PingInterval
	if want := now.Add(3 * interval).UnixNano(); want-c.readDeadline >= int64(interval/2) {
		c.readDeadline = want
		_ = s.SetReadDeadline(time.Unix(0, want))
	}
	return now
}

func (events) OnOpen(s *gws.Conn) { connOf(s).refresh(s) }

func (events) OnClose(s *gws.Conn, err error) { connOf(s).closeErr = err }

// OnPing answers through the write queue, so that a stuck writer never
// blocks the read loop, and only the latest of the pings that arrive while
// a pong waits (see answerPing). A client past MaxPingRate is closed with
// 1008.
func (events) OnPing(s *gws.Conn, payload []byte) {
	c := connOf(s)
	now := c.refresh(s)
	switch {
	case c.cause.Load() != nil:
		// Closing: the close frame is the last word.
	case c.pingFlood(now):
		if c.abort(pingFlood, true) {
			c.g.stats.pingFloods.Add(1)
			c.g.log.Warn("closing a socket that sends pings faster than the ping rate", "object", c.id.String(), "conn", c.sess.ID(), "remote", c.remote, "rate", c.g.opts.MaxPingRate)
		}
	default:
		c.answerPing(s, payload)
	}
}

func (events) OnPong(s *gws.Conn, _ []byte) { connOf(s).refresh(s) }

// noWait is a context that is already done: a frame first tries the
// object's mailbox without waiting, which needs no timer.
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// OnMessage hands one frame to the object. While the object's mailbox is
// full this blocks (the socket is not read meanwhile, which pushes back on
// the client) for up to mailboxWait.
func (events) OnMessage(s *gws.Conn, m *gws.Message) {
	defer m.Close()
	c := connOf(s)
	if c.cause.Load() != nil {
		// Closing: the peer's last frames, read while the close frame is
		// on its way, go nowhere.
		return
	}
	kind := abi.Binary
	if m.Opcode == gws.OpcodeText {
		kind = abi.Text
	}
	err := c.sess.Message(noWait, kind, m.Bytes())
	if errors.Is(err, host.ErrOverloaded) {
		ctx, cancel := context.WithTimeout(c.g.ctx, mailboxWait)
		err = c.sess.Message(ctx, kind, m.Bytes())
		cancel()
	}
	c.refresh(s)
	switch {
	case err == nil:
	case errors.Is(err, host.ErrConnClosed), errors.Is(err, errClosing), errors.Is(err, errSlowReader):
		// The object let go of the socket, or the gateway is closing it:
		// the close is under way.
	case c.g.ctx.Err() != nil:
		c.abort(goingAway, true)
	case errors.Is(err, host.ErrOverloaded):
		c.g.log.Warn("closing a socket: object overloaded", "object", c.id.String(), "conn", c.sess.ID(), "remote", c.remote)
		c.abort(overloaded, true)
	case errors.Is(err, host.ErrClosed):
		c.abort(hostClosed, true)
	case errors.Is(err, host.ErrFrameTooLarge):
		c.abort(&closeCause{code: closeTooLarge, reason: "frame too large"}, true)
	default:
		c.g.log.Error("deliver frame", "object", c.id.String(), "conn", c.sess.ID(), "err", err)
		c.abort(internalError, true)
	}
}
