package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
)

// --- home side ---

// served is a connection this home serves for a remote gateway. Its frames
// are handed to the object by a goroutine of its own, in order, so that a
// slow object holds back only its own senders.
type served struct {
	key  servedKey
	link *link
	in   chan inbound  // bounded by the gateway's credit window
	done chan struct{} // closed when the connection ends, whichever side ends it

	// For a move of its object (see pauseObject and remoteConn.Moved):
	// pause stops the goroutine between two frames; handed counts the
	// frames it gave the object; moved bounces later frames back.
	pause  chan chan struct{}
	handed atomic.Uint64
	moved  atomic.Bool

	mu   sync.Mutex
	sess *host.Session // set once the object accepted it
}

func (sv *served) session() *host.Session {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.sess
}

type inbound struct {
	close  bool
	kind   abi.FrameKind
	code   int
	data   []byte
	reason string
}

// connectTimeout bounds a connect a gateway relays; the gateway's own
// handshake timeout is usually shorter and ends the wait first.
const connectTimeout = 30 * time.Second

// maxConnects bounds the relayed connects a home runs at once; more are
// answered overloaded, as a full mailbox would be.
const maxConnects = 256

func (r *relay) onConnect(msg *nats.Msg) {
	var call connectCall
	if err := json.Unmarshal(msg.Data, &call); err != nil || len(call.Gateway) != instanceLen || call.Ref == 0 {
		r.answer(msg, connectAnswer{Kind: "malformed", Message: "malformed connect request"})
		return
	}
	if !r.isGateway(call.Gateway) {
		// Only a live member's process may hold sockets here: anything
		// else would register sessions no one ever closes.
		r.answer(msg, connectAnswer{Kind: "malformed", Message: "connect from a process that is not a live member"})
		return
	}
	select {
	case r.connects <- struct{}{}:
	default:
		r.answer(msg, connectAnswer{Kind: "overloaded", Message: "too many relayed connects at once"})
		return
	}
	// A connect may wake the object: it runs on a goroutine of its own so
	// that frames for other sockets keep flowing.
	if !r.c.goSafe(func() {
		defer func() { <-r.connects }()
		r.connect(msg, call)
	}) {
		<-r.connects
	}
}

// isGateway reports whether instance is a live member's process.
func (r *relay) isGateway(instance string) bool {
	for _, m := range r.c.Members() {
		if m.Instance == instance {
			return true
		}
	}
	return false
}

func (r *relay) connect(msg *nats.Msg, call connectCall) {
	c := r.c
	// The gateway's idea of the home may be stale (the object moved):
	// only its home serves it.
	hctx, hcancel := context.WithTimeout(c.ctx, c.opts.CallTimeout)
	home, err := c.homeOf(hctx, call.Object)
	if err == nil && home != c.id {
		// The gateway read the record more recently than this host's
		// cache (the moved note may still be on its way): read it again.
		c.homes.mu.Lock()
		delete(c.homes.cache, call.Object)
		c.homes.mu.Unlock()
		home, err = c.homeOf(hctx, call.Object)
	}
	hcancel()
	if err != nil {
		r.answer(msg, answerFor(err))
		return
	}
	if home != c.id {
		r.answer(msg, connectAnswer{Kind: "moved", Message: "the object lives on another host now"})
		return
	}
	c.opts.Host.ConfirmMoveIn(call.Object) // the record says here: a move in is done
	ln := r.link(call.Gateway)
	key := servedKey{gateway: call.Gateway, ref: call.Ref}
	// Registered before the object hears of it: a close the object sends
	// from its connect handler, a close from the gateway, or the gateway's
	// process going away, all find it and end it.
	sv := &served{key: key, link: ln, in: make(chan inbound, window+1), done: make(chan struct{}), pause: make(chan chan struct{})}
	r.mu.Lock()
	if _, dup := r.served[key]; dup {
		r.mu.Unlock()
		r.answer(msg, connectAnswer{Kind: "malformed", Message: "connection reference in use"})
		return
	}
	r.served[key] = sv
	r.mu.Unlock()
	r.stats.Served.Add(1)
	rc := &remoteConn{link: ln, ref: call.Ref}
	ctx, cancel := context.WithTimeout(c.ctx, connectTimeout)
	defer cancel()
	var sess *host.Session
	if call.Resume {
		// A socket that followed its object here from its old home.
		sess, err = c.opts.Host.Adopt(ctx, call.Object, call.ConnID, rc)
	} else {
		sess, err = c.opts.Host.Connect(ctx, host.ConnectRequest{
			Object: call.Object, Path: call.Path, Query: call.Query, Remote: call.Remote, Header: call.Header,
		}, rc)
	}
	if err != nil {
		r.dropServed(key)
		r.answer(msg, answerFor(err))
		return
	}
	sv.mu.Lock()
	sv.sess = sess
	sv.mu.Unlock()
	select {
	case <-sv.done:
		// Ended while the object took it (the gateway gave up or went
		// away): the object must hear that the client is gone.
		sess.Close(c.ctx, 1006, "connect abandoned")
		r.answer(msg, connectAnswer{Kind: "closed", Message: "connection ended during connect"})
		return
	default:
	}
	if !c.goSafe(func() { r.serve(sv) }) {
		return
	}
	r.answer(msg, connectAnswer{ID: sess.ID()})
}

func answerFor(err error) connectAnswer {
	var rej *host.RejectError
	if errors.As(err, &rej) {
		return connectAnswer{Reject: rej}
	}
	for kind, e := range sentinels {
		if errors.Is(err, e) {
			return connectAnswer{Kind: kind, Message: err.Error()}
		}
	}
	if errors.Is(err, host.ErrClosed) {
		return connectAnswer{Kind: "closed", Message: err.Error()}
	}
	return connectAnswer{Kind: "internal", Message: err.Error()}
}

func (r *relay) answer(msg *nats.Msg, ans connectAnswer) {
	b, _ := json.Marshal(ans)
	if err := msg.Respond(b); err != nil {
		r.c.log.Debug("could not answer a relayed connect", "err", err)
	}
}

// onSession queues a gateway's frame or close for its connection.
func (r *relay) onSession(msg *nats.Msg) {
	b := msg.Data
	if len(b) < 1+instanceLen+8 {
		return
	}
	key := servedKey{gateway: string(b[1 : 1+instanceLen]), ref: binary.BigEndian.Uint64(b[1+instanceLen:])}
	rest := b[1+instanceLen+8:]
	var in inbound
	switch b[0] {
	case msgFrame:
		if len(rest) < 1 {
			return
		}
		in = inbound{kind: abi.FrameKind(rest[0]), data: append([]byte(nil), rest[1:]...)}
	case msgClose:
		if len(rest) < 4 {
			return
		}
		in = inbound{close: true, code: int(int32(binary.BigEndian.Uint32(rest))), reason: string(rest[4:])}
	default:
		return
	}
	r.mu.Lock()
	sv := r.served[key]
	r.mu.Unlock()
	if sv == nil {
		return // the object closed it meanwhile
	}
	if sv.moved.Load() {
		// Its object moved away: the gateway resends what comes back, at
		// the new home. Its close (after the resume) ends this entry.
		if in.close {
			r.dropServed(key)
		} else {
			sv.link.bounce(key.ref, in)
		}
		return
	}
	select {
	case sv.in <- in:
	default:
		// Past the credit window: a gateway that does not keep to it is
		// broken; its frame is dropped and its socket closed.
		r.c.log.Warn("a gateway sent past its credit window; closing the socket", "gateway", key.gateway)
		r.endServed(sv, 1008, "relay credit window exceeded")
	}
}

// serve hands a remote connection's frames to the object until it closes.
func (r *relay) serve(sv *served) {
	c := r.c
	handed := 0
	for {
		select {
		case <-c.ctx.Done():
			return // the host closes the object and its connections itself
		case <-sv.done:
			return
		case ack := <-sv.pause:
			// Its object moves: no frame goes to it from here on; what is
			// queued goes back to the gateway (remoteConn.Moved).
			if handed > 0 {
				sv.link.credit(sv.key.ref, handed)
			}
			close(ack)
			select {
			case <-sv.done:
			case <-c.ctx.Done():
			}
			return
		case in := <-sv.in:
			if in.close {
				r.dropServed(sv.key)
				sv.sess.Close(c.ctx, in.code, in.reason)
				return
			}
			err := sv.sess.Message(c.ctx, in.kind, in.data)
			sv.handed.Add(1)
			if errors.Is(err, host.ErrConnClosed) {
				r.dropServed(sv.key)
				return
			}
			if err != nil && c.ctx.Err() == nil {
				c.log.Warn("relayed frame not delivered", "object", sv.sess.Object().String(), "err", err)
			}
			// Credit goes back in quarters of the window, so that a sender
			// seldom waits and the home seldom writes.
			if handed++; handed >= window/4 {
				sv.link.credit(sv.key.ref, handed)
				handed = 0
			}
		}
	}
}

// dropServed forgets a served connection and stops its goroutine; it
// reports whether it was still known.
func (r *relay) dropServed(key servedKey) bool {
	r.mu.Lock()
	sv, ok := r.served[key]
	if ok {
		delete(r.served, key)
		r.stats.Served.Add(-1)
		close(sv.done)
	}
	r.mu.Unlock()
	return ok
}

// endServed closes a served connection from the home's side.
func (r *relay) endServed(sv *served, code int, reason string) {
	r.dropServed(sv.key)
	sv.link.close(sv.key.ref, code, reason)
	if sess := sv.session(); sess != nil {
		r.c.goSafe(func() { sess.Close(r.c.ctx, code, reason) })
	}
}

// gatewayGone reports every connection a gateway process held as closed
// (1006: no close frame), since its sockets went with it.
func (r *relay) gatewayGone(m Member) {
	r.mu.Lock()
	var ended []*served
	for k, sv := range r.served {
		if k.gateway == m.Instance {
			ended = append(ended, sv)
			delete(r.served, k)
			r.stats.Served.Add(-1)
			close(sv.done)
		}
	}
	delete(r.links, m.Instance)
	r.mu.Unlock()
	for _, sv := range ended {
		if sess := sv.session(); sess != nil {
			r.c.goSafe(func() { sess.Close(r.c.ctx, 1006, "gateway host gone") })
		}
	}
}

// link is this home's channel to one gateway process: the frames of an
// event for that gateway's sockets gather here and leave as one message.
type link struct {
	r       *relay
	gateway string // its instance
	subject string

	mu      sync.Mutex
	pending []pendingFrame

	// sendMu keeps what the link publishes in the order it was taken:
	// events of several objects end their batches concurrently, and a
	// frame must never overtake an earlier one for the same socket, nor a
	// close the frames before it. Publish only buffers, so it is short.
	sendMu sync.Mutex
}

type pendingFrame struct {
	f    *host.Frame
	refs []uint64
}

func (r *relay) link(gateway string) *link {
	r.mu.Lock()
	defer r.mu.Unlock()
	ln := r.links[gateway]
	if ln == nil {
		ln = &link{r: r, gateway: gateway, subject: r.c.gwSubject(gateway)}
		r.links[gateway] = ln
	}
	return ln
}

// maxBatch bounds one batch message, under NATS's default 1 MiB payload.
const maxBatch = 512 << 10

// End sends the frames gathered since the last End.
func (ln *link) End() {
	ln.sendMu.Lock()
	defer ln.sendMu.Unlock()
	ln.endLocked()
}

func (ln *link) endLocked() {
	ln.mu.Lock()
	pending := ln.pending
	ln.pending = nil
	ln.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	b := []byte{msgBatch}
	for _, p := range pending {
		if len(b) > 1 && len(b)+len(p.f.Data)+9+8*len(p.refs) > maxBatch {
			ln.publish(b)
			b = []byte{msgBatch}
		}
		b = append(b, byte(p.f.Kind))
		b = binary.BigEndian.AppendUint32(b, uint32(len(p.f.Data)))
		b = append(b, p.f.Data...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(p.refs)))
		for _, ref := range p.refs {
			b = binary.BigEndian.AppendUint64(b, ref)
		}
	}
	ln.publish(b)
}

func (ln *link) publish(b []byte) {
	if err := ln.r.c.nc.Publish(ln.subject, b); err != nil {
		ln.r.c.log.Warn("relay to a gateway failed", "subject", ln.subject, "err", err)
		return
	}
	ln.r.stats.Batches.Add(1)
}

func (ln *link) add(f *host.Frame, ref uint64) {
	ln.mu.Lock()
	if n := len(ln.pending); n > 0 && ln.pending[n-1].f == f {
		ln.pending[n-1].refs = append(ln.pending[n-1].refs, ref)
	} else {
		ln.pending = append(ln.pending, pendingFrame{f: f, refs: []uint64{ref}})
	}
	ln.mu.Unlock()
}

// send publishes one control message in the link's order; with
// afterFrames, the frames gathered so far go first, so that it does not
// overtake them.
func (ln *link) send(b []byte, afterFrames bool) {
	ln.sendMu.Lock()
	defer ln.sendMu.Unlock()
	if afterFrames {
		ln.endLocked()
	}
	ln.r.c.nc.Publish(ln.subject, b)
}

func (ln *link) close(ref uint64, code int, reason string) {
	b := []byte{msgClose}
	b = binary.BigEndian.AppendUint64(b, ref)
	b = binary.BigEndian.AppendUint32(b, uint32(int32(code)))
	ln.send(append(b, reason...), true)
}

func (ln *link) credit(ref uint64, n int) {
	b := []byte{msgCredit}
	b = binary.BigEndian.AppendUint64(b, ref)
	ln.send(binary.BigEndian.AppendUint32(b, uint32(n)), false)
}

// remoteConn is the host.Conn of a relayed connection, at its home.
type remoteConn struct {
	link *link
	ref  uint64
}

var (
	_ host.Batcher       = (*remoteConn)(nil)
	_ host.AutoResponder = (*remoteConn)(nil)
)

var _ host.Mover = (*remoteConn)(nil)

// Moved tells the gateway the object is moving away: it stops sending,
// gets back the frames not handed to the object (those queued here, and
// later the ones still on their way), and resumes the socket at the new
// home. The relay paused this connection first (pauseObject), so the count
// of frames handed is final.
func (rc *remoteConn) Moved() {
	r := rc.link.r
	key := servedKey{gateway: rc.link.gateway, ref: rc.ref}
	r.mu.Lock()
	sv := r.served[key]
	r.mu.Unlock()
	if sv == nil {
		rc.link.close(rc.ref, closeServiceRestart, "object moved to another host")
		return
	}
	sv.moved.Store(true)
	var left []inbound
	for drained := false; !drained; {
		select {
		case in := <-sv.in:
			if !in.close {
				left = append(left, in)
			}
		default:
			drained = true
		}
	}
	b := []byte{msgMoved}
	b = binary.BigEndian.AppendUint64(b, rc.ref)
	b = binary.BigEndian.AppendUint64(b, sv.handed.Load())
	b = binary.BigEndian.AppendUint32(b, uint32(len(left)))
	for _, in := range left {
		b = appendInbound(b, in)
	}
	rc.link.send(b, true)
}

func appendInbound(b []byte, in inbound) []byte {
	b = append(b, byte(in.kind))
	b = binary.BigEndian.AppendUint32(b, uint32(len(in.data)))
	return append(b, in.data...)
}

// bounce sends a frame that reached this host after its object moved back
// to the gateway.
func (ln *link) bounce(ref uint64, in inbound) {
	b := []byte{msgBounce}
	b = binary.BigEndian.AppendUint64(b, ref)
	ln.send(appendInbound(b, in), false)
}

// pauseObject stops handing frames of id's relayed sockets to it, before it
// moves: afterwards each one's count of frames handed is final.
func (r *relay) pauseObject(ctx context.Context, id host.ObjectID) {
	for _, sv := range r.servedOf(id) {
		ack := make(chan struct{})
		select {
		case sv.pause <- ack:
			<-ack
		case <-sv.done:
		case <-ctx.Done():
			return
		}
	}
}

// endObject closes the relayed sockets of id served here.
func (r *relay) endObject(id host.ObjectID, code int, reason string) {
	for _, sv := range r.servedOf(id) {
		r.endServed(sv, code, reason)
	}
}

// servedOf lists the connections of id this home serves.
func (r *relay) servedOf(id host.ObjectID) []*served {
	r.mu.Lock()
	defer r.mu.Unlock()
	var svs []*served
	for _, sv := range r.served {
		if sess := sv.session(); sess != nil && sess.Object() == id {
			svs = append(svs, sv)
		}
	}
	return svs
}

// SetAutoResponses pushes the object's table to the gateway, in order with
// the frames before it.
func (rc *remoteConn) SetAutoResponses(m map[string][]byte) {
	b := []byte{msgAuto}
	b = binary.BigEndian.AppendUint64(b, rc.ref)
	rc.link.send(appendPairs(b, m), true)
}

func (rc *remoteConn) Send(f *host.Frame) error {
	rc.link.add(f, rc.ref)
	return nil
}

func (rc *remoteConn) Batch() host.Batch { return rc.link }

// Close closes the socket at its gateway; the object has forgotten it.
func (rc *remoteConn) Close(code int, reason string) error {
	rc.link.r.dropServed(servedKey{gateway: rc.link.gateway, ref: rc.ref})
	rc.link.close(rc.ref, code, reason)
	return nil
}
