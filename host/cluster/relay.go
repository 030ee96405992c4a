package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
)

// The relay carries the sockets of objects homed on other hosts. A gateway
// host that is not an object's home opens a remote session: the connect is
// a request to the home, and the client's frames and close travel on the
// home's session subject, in order per connection. The home answers
// through a link per gateway process: frames for that gateway's sockets,
// one NATS message per event however many of its sockets a broadcast
// reaches, and closes and credits.
//
// Credits bound what is in flight: a gateway sends at most window frames
// of a connection that the home has not yet handed to the object; the home
// returns credit as it does. A slow object thus slows its remote senders
// exactly as it slows local ones, and no queue grows without bound.
//
// Subjects, with instance the process id of the host (see Member.Instance):
//
//	torpor.v1.{cluster}.connect.{instance}  connect requests to a home
//	torpor.v1.{cluster}.sess.{instance}     frames and closes to a home
//	torpor.v1.{cluster}.gw.{instance}       frames, closes, credits to a gateway
type relay struct {
	c *Cluster

	subs []*nats.Subscription

	mu      sync.Mutex
	remote  map[uint64]*remoteSession // this gateway's sessions, by ref
	served  map[servedKey]*served     // sessions this home serves
	links   map[string]*link          // by gateway instance
	nextRef atomic.Uint64

	connects chan struct{} // relayed connects running, up to maxConnects

	stats RelayStats
}

// RelayStats count the relay's NATS messages, for metrics and tests.
type RelayStats struct {
	// Batches are home → gateway messages carrying frames: one per event
	// and gateway host, however many of its sockets receive them.
	Batches atomic.Uint64
	// FramesIn are client frames sent gateway → home.
	FramesIn atomic.Uint64
	// Sessions are remote sessions open through this host as gateway.
	Sessions atomic.Int64
	// Served are remote sessions this host serves as home.
	Served atomic.Int64
}

// Stats returns the relay's counters.
func (c *Cluster) Stats() *RelayStats { return &c.relay.stats }

// StatsView is the relay's counters as JSON for the admin API's stats.
func (c *Cluster) StatsView() map[string]any {
	s := &c.relay.stats
	return map[string]any{
		"members":         len(c.Members()),
		"relay_batches":   s.Batches.Load(),
		"relay_frames_in": s.FramesIn.Load(),
		"relay_sessions":  s.Sessions.Load(),
		"relay_served":    s.Served.Load(),
	}
}

type servedKey struct {
	gateway string
	ref     uint64
}

// window is how many frames of one connection may be in flight to its home.
const window = 256

// Message types on the session and gateway subjects.
const (
	msgFrame  = 1 // gateway → home: one client frame
	msgClose  = 2 // either way: a connection closed
	msgBatch  = 3 // home → gateway: frames for sockets of that gateway
	msgCredit = 4 // home → gateway: frames handed to the object
	msgAuto   = 5 // home → gateway: the object's auto-response pairs
	msgMoved  = 6 // home → gateway: the object moved; frames not handed come back
	msgBounce = 7 // home → gateway: a frame that arrived after the move, back
)

const instanceLen = 16 // hex digits of a Member.Instance

func (c *Cluster) connectSubject(instance string) string { return c.subject + "connect." + instance }
func (c *Cluster) sessSubject(instance string) string    { return c.subject + "sess." + instance }
func (c *Cluster) gwSubject(instance string) string      { return c.subject + "gw." + instance }

func (r *relay) start(c *Cluster) error {
	r.c = c
	r.remote = map[uint64]*remoteSession{}
	r.served = map[servedKey]*served{}
	r.links = map[string]*link{}
	r.connects = make(chan struct{}, maxConnects)
	inst := c.opts.Self.Instance
	for subj, fn := range map[string]nats.MsgHandler{
		c.connectSubject(inst): r.onConnect,
		c.sessSubject(inst):    r.onSession,
		c.gwSubject(inst):      r.onGateway,
	} {
		sub, err := c.nc.Subscribe(subj, fn)
		if err != nil {
			return fmt.Errorf("cluster: subscribe to %s: %w", subj, err)
		}
		// A home may take a while with one connect (a wake); frames for
		// other sockets must not wait behind it in a small buffer.
		sub.SetPendingLimits(1<<20, 256<<20)
		r.subs = append(r.subs, sub)
	}
	return nil
}

func (r *relay) stop() {
	for _, s := range r.subs {
		s.Unsubscribe()
	}
}

// --- gateway side ---

// Connector returns the host.Connector a gateway uses: this host's own
// objects are connected locally, the others through their home.
func (c *Cluster) Connector() host.Connector { return router{c} }

type router struct{ c *Cluster }

// connectCall is a connect request to a home.
type connectCall struct {
	Gateway string              `json:"gateway"` // the gateway's instance
	Ref     uint64              `json:"ref"`     // the gateway's id for the socket
	Object  host.ObjectID       `json:"object"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Remote  string              `json:"remote"`
	Header  map[string][]string `json:"header"`
	// Resume: the socket follows its object from its old home; ConnID is
	// the connection id the object knows it by.
	Resume bool   `json:"resume,omitempty"`
	ConnID uint64 `json:"conn_id,omitempty"`
}

// connectAnswer is a home's answer: the connection id, or why not.
type connectAnswer struct {
	ID uint64 `json:"id,omitempty"`
	// Reject is a plugin's refusal, carried to the client as it gave it.
	Reject *host.RejectError `json:"reject,omitempty"`
	// Kind names a host sentinel error the gateway maps to a status.
	Kind    string `json:"kind,omitempty"`
	Message string `json:"message,omitempty"`
}

// sentinels are the host errors a connect answer carries by name.
var sentinels = map[string]error{
	"unknown_plugin": host.ErrUnknownPlugin,
	"invalid_name":   host.ErrInvalidName,
	"object_failed":  host.ErrObjectFailed,
	"cannot_start":   host.ErrCannotStart,
	"too_many_conns": host.ErrTooManyConns,
	"closed":         host.ErrHomeUnavailable, // the home is shutting down
	"overloaded":     host.ErrOverloaded,
}

func (rt router) Connect(ctx context.Context, req host.ConnectRequest, conn host.Conn) (host.ClientSession, error) {
	c := rt.c
	if err := req.Object.Validate(); err != nil {
		return nil, err
	}
	if state := c.members.current(); state != StateServing {
		return nil, fmt.Errorf("%w: this host is %s; connect through another", host.ErrHomeUnavailable, state)
	}
	if !c.standalone() {
		// A host that just joined does not know the cluster's plugins
		// yet: it would answer 404 for one it is about to deploy.
		select {
		case <-c.plugins.synced:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: this host is still joining the cluster (deploying its plugins)", host.ErrHomeUnavailable)
		}
	}
	for tries := 0; ; tries++ {
		s, err := rt.connect(ctx, req, conn)
		var moved errMoved
		if errors.As(err, &moved) {
			if tries > 0 {
				return nil, fmt.Errorf("%s: %w: it is moving between hosts", req.Object, host.ErrHomeUnavailable)
			}
			// Its home moved: forget where it was and look again.
			c.homes.mu.Lock()
			delete(c.homes.cache, req.Object)
			c.homes.mu.Unlock()
			continue
		}
		return s, err
	}
}

// errMoved is a home's answer that the object lives elsewhere now.
type errMoved struct{ msg string }

func (e errMoved) Error() string { return e.msg }

func (rt router) connect(ctx context.Context, req host.ConnectRequest, conn host.Conn) (host.ClientSession, error) {
	c := rt.c
	home, err := c.homeOf(ctx, req.Object)
	if err != nil {
		return nil, err
	}
	if home == c.id {
		c.opts.Host.ConfirmMoveIn(req.Object) // the record says here: a move in is done
		return c.opts.Host.Local().Connect(ctx, req, conn)
	}
	m, ok := c.Member(home)
	if !ok {
		return nil, fmt.Errorf("%s: %w: %s is not a live member", req.Object, host.ErrHomeUnavailable, home)
	}
	r := &c.relay
	s := &remoteSession{r: r, object: req.Object, home: m, ref: r.nextRef.Add(1), conn: conn, credit: make(chan struct{}, 1), credits: window}
	// Registered before asking, so that frames the object sends from its
	// connect handler find the socket; the gateway's conn queues them
	// until the upgrade.
	r.mu.Lock()
	r.remote[s.ref] = s
	r.mu.Unlock()
	b, _ := json.Marshal(connectCall{
		Gateway: c.opts.Self.Instance, Ref: s.ref, Object: req.Object,
		Path: req.Path, Query: req.Query, Remote: req.Remote, Header: req.Header,
	})
	msg, err := c.nc.RequestWithContext(ctx, c.connectSubject(m.Instance), b)
	if err != nil {
		r.forget(s.ref)
		// The home may accept it after all: tell it the client is gone,
		// so that the object does not keep a connection nobody reads.
		s.sendClose(1006, "connect abandoned")
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("connect %s through %s: %w", req.Object, m.Name, err)
		}
		return nil, fmt.Errorf("%s: %w: %s: %w", req.Object, host.ErrHomeUnavailable, m.Name, err)
	}
	var ans connectAnswer
	if err := json.Unmarshal(msg.Data, &ans); err != nil {
		r.forget(s.ref)
		s.sendClose(1006, "connect abandoned")
		return nil, fmt.Errorf("connect %s: malformed answer from %s: %w", req.Object, m.Name, err)
	}
	switch {
	case ans.Reject != nil:
		r.forget(s.ref)
		if ans.Reject.Status < abi.RejectMin || ans.Reject.Status > abi.RejectMax {
			return nil, fmt.Errorf("connect %s: %s answered a refusal with status %d", req.Object, m.Name, ans.Reject.Status)
		}
		return nil, ans.Reject
	case ans.Kind == "moved":
		r.forget(s.ref)
		return nil, fmt.Errorf("%s: %w", req.Object, errMoved{msg: "moved from " + m.Name})
	case ans.Kind != "":
		r.forget(s.ref)
		if e, ok := sentinels[ans.Kind]; ok {
			return nil, fmt.Errorf("%s on %s: %w: %s", req.Object, m.Name, e, ans.Message)
		}
		return nil, fmt.Errorf("%s on %s: %s", req.Object, m.Name, ans.Message)
	case ans.ID == 0:
		r.forget(s.ref)
		return nil, fmt.Errorf("connect %s: %s answered without a connection id", req.Object, m.Name)
	}
	s.mu.Lock()
	s.id = ans.ID
	s.counted = !s.closed
	s.mu.Unlock()
	if s.counted {
		r.stats.Sessions.Add(1)
	}
	return s, nil
}

func (r *relay) forget(ref uint64) *remoteSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.remote[ref]
	delete(r.remote, ref)
	return s
}

// remoteSession is a socket on this gateway whose object lives elsewhere.
type remoteSession struct {
	r      *relay
	object host.ObjectID
	ref    uint64
	id     uint64    // the home's connection id
	conn   host.Conn // the gateway's socket

	// autoResp is the object's auto-response table, pushed by the home:
	// a matching text frame is answered here and never crosses.
	autoResp atomic.Pointer[map[string][]byte]

	mu      sync.Mutex
	home    Member // where the object lives; changes when it moves
	credits int
	closed  bool
	counted bool          // in RelayStats.Sessions
	credit  chan struct{} // signalled when credits arrive, the session ends or resumes
	// While its object moves (msgMoved until the resume): sent counts the
	// frames published, returned the ones the old home gave back, pending
	// those still to come back.
	sent     uint64
	moving   bool
	returned []inbound
	pending  int64
	// local is set once the object moved to this host: the socket is then
	// an ordinary local one.
	local *host.Session
}

func (s *remoteSession) ID() uint64 { return s.id }

// Message sends a client frame to the home once it has credit, waiting
// until ctx ends (which the gateway reads as the object being overloaded).
func (s *remoteSession) Message(ctx context.Context, kind abi.FrameKind, data []byte) error {
	if kind == abi.Text {
		if m := s.autoResp.Load(); m != nil {
			if resp, ok := (*m)[string(data)]; ok {
				return s.conn.Send(&host.Frame{Kind: abi.Text, Data: resp})
			}
		}
	}
	for {
		s.mu.Lock()
		if s.local != nil {
			local := s.local
			s.mu.Unlock()
			return local.Message(ctx, kind, data)
		}
		if s.closed {
			s.mu.Unlock()
			return host.ErrConnClosed
		}
		if s.credits > 0 && !s.moving {
			s.credits--
			// Published under the lock, so that a move's count of frames
			// sent (msgMoved) sees it or not, never half.
			err := s.publish(kind, data)
			s.mu.Unlock()
			return err
		}
		name := s.home.Name
		s.mu.Unlock()
		select {
		case <-s.credit:
		case <-ctx.Done():
			return fmt.Errorf("%w: no credit from %s: %w", host.ErrOverloaded, name, ctx.Err())
		}
	}
}

// publish sends one client frame to the home; s.mu is held.
func (s *remoteSession) publish(kind abi.FrameKind, data []byte) error {
	c := s.r.c
	b := make([]byte, 0, 1+instanceLen+8+1+len(data))
	b = append(b, msgFrame)
	b = append(b, c.opts.Self.Instance...)
	b = binary.BigEndian.AppendUint64(b, s.ref)
	b = append(b, byte(kind))
	b = append(b, data...)
	if err := c.nc.Publish(c.sessSubject(s.home.Instance), b); err != nil {
		return fmt.Errorf("relay a frame to %s: %w", s.home.Name, err)
	}
	s.sent++
	s.r.stats.FramesIn.Add(1)
	return nil
}

// Close tells the home the client went away.
func (s *remoteSession) Close(ctx context.Context, code int, reason string) error {
	s.mu.Lock()
	local := s.local
	s.mu.Unlock()
	if local != nil {
		return local.Close(ctx, code, reason)
	}
	if !s.end() {
		return nil
	}
	return s.sendClose(code, reason)
}

func (s *remoteSession) sendClose(code int, reason string) error {
	s.mu.Lock()
	home := s.home
	s.mu.Unlock()
	return s.sendCloseTo(home, code, reason)
}

func (s *remoteSession) sendCloseTo(home Member, code int, reason string) error {
	c := s.r.c
	b := make([]byte, 0, 1+instanceLen+8+4+len(reason))
	b = append(b, msgClose)
	b = append(b, c.opts.Self.Instance...)
	b = binary.BigEndian.AppendUint64(b, s.ref)
	b = binary.BigEndian.AppendUint32(b, uint32(int32(code)))
	b = append(b, reason...)
	return c.nc.Publish(c.sessSubject(home.Instance), b)
}

// end marks the session over and forgets it; false if it already was.
func (s *remoteSession) end() bool {
	s.mu.Lock()
	was, counted := s.closed, s.counted
	s.closed, s.counted = true, false
	s.mu.Unlock()
	if was {
		return false
	}
	s.r.forget(s.ref)
	if counted {
		s.r.stats.Sessions.Add(-1)
	}
	select {
	case s.credit <- struct{}{}:
	default:
	}
	return true
}

// session is this gateway's remote session ref, or nil.
func (r *relay) session(ref uint64) *remoteSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.remote[ref]
}

// onGateway handles what homes send this gateway.
func (r *relay) onGateway(msg *nats.Msg) {
	b := msg.Data
	if len(b) == 0 {
		return
	}
	switch b[0] {
	case msgBatch:
		r.deliverBatch(b[1:])
	case msgClose:
		if len(b) < 1+8+4 {
			return
		}
		code := int(int32(binary.BigEndian.Uint32(b[9:])))
		s := r.session(binary.BigEndian.Uint64(b[1:]))
		if s != nil && s.end() {
			s.conn.Close(code, string(b[13:]))
		}
	case msgAuto:
		if len(b) < 1+8 {
			return
		}
		m, ok := decodePairs(b[9:])
		if !ok {
			return
		}
		s := r.session(binary.BigEndian.Uint64(b[1:]))
		if s == nil {
			return
		}
		if len(m) == 0 {
			s.autoResp.Store(nil)
		} else {
			s.autoResp.Store(&m)
		}
	case msgMoved:
		if len(b) < 1+8+8+4 {
			return
		}
		s := r.session(binary.BigEndian.Uint64(b[1:]))
		if s == nil {
			return
		}
		handed := binary.BigEndian.Uint64(b[9:])
		n := int(binary.BigEndian.Uint32(b[17:]))
		left, ok := decodeInbound(b[21:], n)
		if !ok {
			return
		}
		s.mu.Lock()
		s.moving = true
		s.returned = append(s.returned[:0], left...)
		s.pending = int64(s.sent) - int64(handed) - int64(len(left))
		ready := s.pending <= 0
		s.mu.Unlock()
		if ready {
			r.c.goSafe(s.resume)
		}
	case msgBounce:
		if len(b) < 1+8 {
			return
		}
		s := r.session(binary.BigEndian.Uint64(b[1:]))
		in, ok := decodeInbound(b[9:], 1)
		if s == nil || !ok {
			return
		}
		s.mu.Lock()
		s.returned = append(s.returned, in...)
		s.pending--
		ready := s.moving && s.pending == 0
		s.mu.Unlock()
		if ready {
			r.c.goSafe(s.resume)
		}
	case msgCredit:
		if len(b) < 1+8+4 {
			return
		}
		n := int(binary.BigEndian.Uint32(b[9:]))
		s := r.session(binary.BigEndian.Uint64(b[1:]))
		if s == nil {
			return
		}
		s.mu.Lock()
		s.credits = min(s.credits+n, window)
		s.mu.Unlock()
		select {
		case s.credit <- struct{}{}:
		default:
		}
	}
}

// deliverBatch hands each frame of a batch to its sockets here, one
// *host.Frame per frame so the gateway encodes it once for all of them.
func (r *relay) deliverBatch(b []byte) {
	for len(b) >= 1+4 {
		kind := abi.FrameKind(b[0])
		n := int(binary.BigEndian.Uint32(b[1:]))
		b = b[5:]
		if len(b) < n+4 {
			return
		}
		f := &host.Frame{Kind: kind, Data: append([]byte(nil), b[:n]...)}
		b = b[n:]
		refs := int(binary.BigEndian.Uint32(b))
		b = b[4:]
		if len(b) < 8*refs {
			return
		}
		r.mu.Lock()
		for i := range refs {
			if s := r.remote[binary.BigEndian.Uint64(b[8*i:])]; s != nil {
				s.conn.Send(f)
			}
		}
		r.mu.Unlock()
		b = b[8*refs:]
	}
}

// homeGone closes this gateway's sockets of objects homed on m: their
// clients reconnect, and are refused with 503 until m is back.
func (r *relay) homeGone(m Member) {
	r.mu.Lock()
	var ended []*remoteSession
	for _, s := range r.remote {
		s.mu.Lock()
		gone := s.home.Instance == m.Instance
		s.mu.Unlock()
		if gone {
			ended = append(ended, s)
		}
	}
	r.mu.Unlock()
	for _, s := range ended {
		if s.end() {
			s.conn.Close(closeServiceRestart, "the host this object lives on went away; reconnect later")
		}
	}
}

// closeServiceRestart tells a client the server is restarting and it may
// reconnect.
const closeServiceRestart = 1012

// appendPairs encodes auto-response pairs: for each, request and response,
// each a u32 length and its bytes.
func appendPairs(b []byte, m map[string][]byte) []byte {
	for req, resp := range m {
		b = binary.BigEndian.AppendUint32(b, uint32(len(req)))
		b = append(b, req...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(resp)))
		b = append(b, resp...)
	}
	return b
}

// decodePairs is appendPairs' inverse; false for bytes it did not make.
func decodePairs(b []byte) (map[string][]byte, bool) {
	m := map[string][]byte{}
	field := func() ([]byte, bool) {
		if len(b) < 4 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint32(b))
		if len(b)-4 < n {
			return nil, false
		}
		f := b[4 : 4+n]
		b = b[4+n:]
		return f, true
	}
	for len(b) > 0 {
		req, ok := field()
		if !ok {
			return nil, false
		}
		resp, ok := field()
		if !ok {
			return nil, false
		}
		m[string(req)] = append([]byte(nil), resp...)
	}
	return m, true
}

// becomeLocal attaches a socket whose object moved to this very host to the
// object here: from now on its frames go to the local session.
func (s *remoteSession) becomeLocal(ctx context.Context, old Member, fail func(string, error)) {
	h := s.r.c.opts.Host
	h.ConfirmMoveIn(s.object) // the record says here
	sess, err := h.Adopt(ctx, s.object, s.id, s.conn)
	if err != nil {
		fail("this host, its new home, did not adopt it", err)
		return
	}
	s.mu.Lock()
	returned := s.returned
	s.local, s.returned, s.moving = sess, nil, false
	counted := s.counted
	s.counted = false
	s.mu.Unlock()
	s.r.forget(s.ref)
	if counted {
		s.r.stats.Sessions.Add(-1)
	}
	s.sendCloseTo(old, 1000, "moved") // the old home forgets its entry
	for _, in := range returned {
		if err := sess.Message(ctx, in.kind, in.data); err != nil {
			s.r.c.log.Warn("a frame given back by the old home was not delivered", "object", s.object.String(), "err", err)
		}
	}
	select {
	case s.credit <- struct{}{}:
	default:
	}
}

// decodeInbound reads n frames as appendInbound wrote them.
func decodeInbound(b []byte, n int) ([]inbound, bool) {
	out := make([]inbound, 0, n)
	for range n {
		if len(b) < 5 {
			return nil, false
		}
		kind := abi.FrameKind(b[0])
		l := int(binary.BigEndian.Uint32(b[1:]))
		if len(b)-5 < l {
			return nil, false
		}
		out = append(out, inbound{kind: kind, data: append([]byte(nil), b[5:5+l]...)})
		b = b[5+l:]
	}
	return out, len(b) == 0
}

// resumeWait bounds how long a socket waits for its object's new home.
const resumeWait = 30 * time.Second

// resume points a socket whose object moved at its new home: the new
// home adopts the connection (no connect event), the frames the old home
// gave back go first, and sending goes on. Failing that, the socket closes
// with 1012 and its client reconnects.
func (s *remoteSession) resume() {
	c := s.r.c
	s.mu.Lock()
	old := s.home
	s.mu.Unlock()
	fail := func(why string, err error) {
		c.log.Warn("a relayed socket could not follow its object", "object", s.object.String(), "why", why, "err", err)
		if s.end() {
			s.sendCloseTo(old, closeServiceRestart, "moved")
			s.conn.Close(closeServiceRestart, "object moved; reconnect")
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, resumeWait)
	defer cancel()
	var m Member
	for {
		c.homes.mu.Lock()
		delete(c.homes.cache, s.object)
		c.homes.mu.Unlock()
		home, err := c.homeOf(ctx, s.object)
		if err == nil && home == c.id {
			s.becomeLocal(ctx, old, fail)
			return
		}
		if err == nil && home != old.ID {
			var ok bool
			if m, ok = c.Member(home); ok {
				break
			}
		}
		select {
		case <-ctx.Done():
			fail("no new home recorded", ctx.Err())
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	b, _ := json.Marshal(connectCall{Gateway: c.opts.Self.Instance, Ref: s.ref, Object: s.object, Resume: true, ConnID: s.id})
	msg, err := c.nc.RequestWithContext(ctx, c.connectSubject(m.Instance), b)
	if err != nil {
		fail("the new home did not answer", err)
		return
	}
	var ans connectAnswer
	if err := json.Unmarshal(msg.Data, &ans); err != nil || ans.ID != s.id {
		fail("the new home did not adopt it", fmt.Errorf("%s", ans.Message))
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.home = m
	s.credits = window
	var err2 error
	for _, in := range s.returned {
		s.credits--
		if err2 = s.publish(in.kind, in.data); err2 != nil {
			break
		}
	}
	s.returned, s.moving = nil, false
	s.mu.Unlock()
	select {
	case s.credit <- struct{}{}:
	default:
	}
	s.sendCloseTo(old, 1000, "moved") // the old home forgets its entry
	if err2 != nil {
		fail("resending to the new home", err2)
	}
	c.log.Debug("relayed socket followed its object", "object", s.object.String(), "from", old.Name, "to", m.Name)
}
