package loadgen

import (
	"bytes"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/lxzan/gws"
)

// Baseline is the plainest server of the broadcast-room protocol that is
// still fair to compare with: gws, a map of rooms, and for each frame one
// encoding broadcast to every socket of the room, the sender included.
// There is no WebAssembly, no store and no mailbox. Like torpor's gateway
// it reads each socket on one goroutine (gws's ParallelEnabled off),
// writes through gws's per-socket queue, and bounds that queue in frames
// and bytes: a socket that would exceed it is cut off as a slow reader,
// so a slow client costs it no more memory than it costs torpor.
//
// The room is the request path, so any /{plugin}/{room} URL works. A
// Baseline is an http.Handler; Close ends every socket.
type Baseline struct {
	opts     BaselineOptions
	upgrader *gws.Upgrader

	mu    sync.Mutex
	rooms map[string]*baseRoom
	conns map[*baseMember]struct{}
	reads sync.WaitGroup
}

// BaselineOptions bound the baseline. Zero values get torpor serve's
// defaults (--send-queue, --send-queue-bytes, --frame-size).
type BaselineOptions struct {
	SendQueue      int // frames queued per socket
	SendQueueBytes int // bytes queued per socket
	MaxFrame       int // largest inbound frame
}

type baseRoom struct {
	name    string
	mu      sync.RWMutex
	members []*baseMember
}

type baseMember struct {
	conn   *gws.Conn
	room   *baseRoom
	slot   int // index in room.members, under room.mu
	queued atomic.Int64
	bytes  atomic.Int64
	cut    atomic.Bool
}

const memberKey = "m"

// NewBaseline builds a baseline server.
func NewBaseline(o BaselineOptions) *Baseline {
	if o.SendQueue <= 0 {
		o.SendQueue = 256
	}
	if o.SendQueueBytes <= 0 {
		o.SendQueueBytes = 8 << 20
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = 1 << 20
	}
	b := &Baseline{opts: o, rooms: map[string]*baseRoom{}, conns: map[*baseMember]struct{}{}}
	b.upgrader = gws.NewUpgrader((*baseEvents)(b), &gws.ServerOption{
		ParallelEnabled:    false,
		ReadMaxPayloadSize: o.MaxFrame,
		CheckUtf8Enabled:   true, // torpor refuses invalid UTF-8 too
	})
	return b
}

// ServeHTTP upgrades the request and joins the socket to the room named
// by its path.
func (b *Baseline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := b.upgrader.Upgrade(w, r)
	if err != nil {
		return // gws answered the request
	}
	m := &baseMember{conn: conn}
	conn.Session().Store(memberKey, m)
	b.mu.Lock()
	rm := b.rooms[r.URL.Path]
	if rm == nil {
		rm = &baseRoom{name: r.URL.Path}
		b.rooms[rm.name] = rm
	}
	m.room = rm
	rm.mu.Lock()
	m.slot = len(rm.members)
	rm.members = append(rm.members, m)
	rm.mu.Unlock()
	b.conns[m] = struct{}{}
	b.reads.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.reads.Done()
		conn.ReadLoop()
	}()
}

// Close closes every socket and waits for their read loops.
func (b *Baseline) Close() {
	b.mu.Lock()
	for m := range b.conns {
		m.conn.NetConn().Close()
	}
	b.mu.Unlock()
	b.reads.Wait()
}

// leave takes a closed socket out of its room.
func (b *Baseline) leave(m *baseMember) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.conns, m)
	rm := m.room
	rm.mu.Lock()
	last := rm.members[len(rm.members)-1]
	rm.members[m.slot] = last
	last.slot = m.slot
	rm.members = rm.members[:len(rm.members)-1]
	empty := len(rm.members) == 0
	rm.mu.Unlock()
	if empty {
		delete(b.rooms, rm.name)
	}
}

// broadcast queues one frame for every socket of the room.
func (b *Baseline) broadcast(rm *baseRoom, op gws.Opcode, payload []byte) {
	bc := gws.NewBroadcaster(op, payload)
	size := int64(len(payload))
	rm.mu.RLock()
	for _, m := range rm.members {
		if m.cut.Load() {
			continue
		}
		n := m.queued.Add(1)
		nb := m.bytes.Add(size)
		if n > int64(b.opts.SendQueue) || nb > int64(b.opts.SendQueueBytes) && nb != size {
			m.queued.Add(-1)
			m.bytes.Add(-size)
			// A slow reader: cut it off without waiting for its writer.
			if m.cut.CompareAndSwap(false, true) {
				m.conn.NetConn().Close()
			}
			continue
		}
		if bc.Broadcast(m.conn) != nil {
			m.queued.Add(-1)
			m.bytes.Add(-size)
			continue
		}
		// The queue runs jobs in order: this one runs once the frame
		// above is written.
		m.conn.Async(func() {
			m.queued.Add(-1)
			m.bytes.Add(-size)
		})
	}
	rm.mu.RUnlock()
	bc.Close()
}

// baseEvents are the Baseline's gws handlers.
type baseEvents Baseline

var _ gws.Event = (*baseEvents)(nil)

func member(c *gws.Conn) *baseMember {
	v, _ := c.Session().Load(memberKey)
	m, _ := v.(*baseMember)
	return m
}

func (*baseEvents) OnOpen(*gws.Conn) {}

func (e *baseEvents) OnClose(c *gws.Conn, _ error) {
	if m := member(c); m != nil {
		(*Baseline)(e).leave(m)
	}
}

func (*baseEvents) OnPing(c *gws.Conn, payload []byte) { c.WritePong(payload) }

func (*baseEvents) OnPong(*gws.Conn, []byte) {}

func (e *baseEvents) OnMessage(c *gws.Conn, msg *gws.Message) {
	m := member(c)
	if m == nil || (msg.Opcode != gws.OpcodeText && msg.Opcode != gws.OpcodeBinary) {
		msg.Close()
		return
	}
	// The broadcaster encodes on the first socket and the queues write
	// later; the payload is copied once so gws can recycle its buffer now.
	payload := bytes.Clone(msg.Bytes())
	msg.Close()
	(*Baseline)(e).broadcast(m.room, msg.Opcode, payload)
}
