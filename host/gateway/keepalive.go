package gateway

import (
	"time"
)

// tick is the keepalive loop's visit. It closes a socket whose writes made
// no progress for two visits (the peer is not reading) or whose peer sent
// nothing for two ping intervals (with 1001, so that clients reconnect),
// cuts a socket whose close is stuck behind such writes, and pings the
// others.
func (c *conn) tick() {
	s := c.sock.Load()
	if s == nil || c.ended.Load() {
		return
	}
	w := c.written.Load()
	if c.queued.Load() > 0 && w == c.seenWritten {
		c.stalls++
	} else {
		c.stalls = 0
	}
	c.seenWritten = w
	closing := c.cause.Load() != nil
	switch {
	case c.stalls >= 2 && closing:
		// The object's close frame, or gws's own, waits behind a write
		// that does not move; without a cut the socket would wait for
		// TCP to give up, which takes many minutes.
		c.nc.cut()
	case c.stalls >= 2:
		if c.abort(stalled, false) {
			c.g.stats.stalled.Add(1)
			c.g.log.Warn("closing a socket whose writes made no progress", "object", c.id.String(), "conn", c.sess.ID(), "remote", c.remote, "queued", c.queued.Load())
		}
	case closing:
	case time.Since(time.Unix(0, c.lastRead.Load())) >= 2*c.g.opts.PingInterval:
		c.g.log.Debug("closing a silent peer", "object", c.id.String(), "conn", c.sess.ID(), "remote", c.remote)
		c.abort(pingTimeout, false)
	default:
		c.push(s, func() error { return s.WritePing(nil) })
	}
}

// keepaliveLoop visits every socket each PingInterval until Shutdown.
func (g *Gateway) keepaliveLoop() {
	t := time.NewTicker(g.opts.PingInterval)
	defer t.Stop()
	var conns []*conn
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C:
		}
		g.mu.Lock()
		for c := range g.conns {
			conns = append(conns, c)
		}
		g.mu.Unlock()
		for _, c := range conns {
			c.tick()
		}
		clear(conns)
		conns = conns[:0]
	}
}
