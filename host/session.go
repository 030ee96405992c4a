package host

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/torpor-dev/torpor/abi"
)

// ConnectRequest is what a gateway knows of a client asking to connect.
type ConnectRequest struct {
	Object ObjectID
	Path   string
	Query  string // raw, without '?'
	Remote string // client address, host:port
	Header map[string][]string
}

// Session is a gateway's handle on one accepted connection. Its methods are
// safe for concurrent use, but a gateway calls Message from one goroutine per
// connection so that the object sees that connection's frames in order.
type Session struct {
	h  *Host
	o  *object
	id uint64
	c  Conn
}

// ID is the connection id the object knows the connection by. It is stable
// for the socket's life, across hibernation.
func (s *Session) ID() uint64 { return s.id }

// Object is the object the connection belongs to.
func (s *Session) Object() ObjectID { return s.o.id }

// Connect asks id's object to accept a connection, waking it if needed. On
// success the object holds c and the gateway should complete the upgrade; a
// plugin's refusal comes back as *RejectError. Frames the object sends during
// its connect handler reach c before Connect returns, so c must queue them
// until the upgrade is done.
func (h *Host) Connect(ctx context.Context, req ConnectRequest, c Conn) (*Session, error) {
	if err := req.Object.Validate(); err != nil {
		return nil, err
	}
	if h.activePlugin(req.Object.Plugin) == nil {
		return nil, fmt.Errorf("%s: %w", req.Object, ErrUnknownPlugin)
	}
	env := &envelope{
		kind:  envConnect,
		conn:  h.connSeq.Add(1),
		c:     c,
		data:  encodeRequestInfo(req),
		reply: make(chan connectResult, 1),
	}
	o, err := h.deliver(ctx, req.Object, env)
	if err != nil {
		return nil, err
	}
	select {
	case res := <-env.reply:
		if res.err != nil {
			return nil, res.err
		}
	case <-ctx.Done():
		if env.state.CompareAndSwap(envPending, envAbandoned) {
			return nil, fmt.Errorf("connect %s: %w", req.Object, ctx.Err())
		}
		if res := <-env.reply; res.err != nil {
			return nil, res.err
		}
	}
	return &Session{h: h, o: o, id: env.conn, c: c}, nil
}

func encodeRequestInfo(req ConnectRequest) []byte {
	var b []byte
	add := func(k, v string) { b = abi.AppendPair(b, []byte(k), []byte(v)) }
	add(abi.RequestInfoPath, req.Path)
	add(abi.RequestInfoQuery, req.Query)
	add(abi.RequestInfoRemote, req.Remote)
	add(abi.RequestInfoObject, req.Object.String())
	for _, name := range slices.Sorted(maps.Keys(req.Header)) {
		for _, v := range req.Header[name] {
			add(strings.ToLower(name), v)
		}
	}
	return b
}

// Message delivers one frame from the client. A text frame equal to one of
// the object's auto-response requests is answered at once, without waking
// the object. Message blocks while the object's mailbox is full (which is
// how a gateway pushes back on a fast client) until ctx ends. data is copied.
func (s *Session) Message(ctx context.Context, kind abi.FrameKind, data []byte) error {
	if !kind.Valid() {
		return fmt.Errorf("frame kind %d: %w", kind, abi.Invalid)
	}
	if len(data) > s.h.opts.Limits.FrameSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrFrameTooLarge, len(data), s.h.opts.Limits.FrameSize)
	}
	if kind == abi.Text {
		if m := s.o.autoResp.Load(); m != nil {
			if resp, ok := (*m)[string(data)]; ok {
				err := s.c.Send(&Frame{Kind: abi.Text, Data: resp})
				if b, ok := s.c.(Batcher); ok {
					b.Batch().End()
				}
				return err
			}
		}
	}
	// Most frames reach an object whose loop is waiting and are handled
	// right here (see borrow); their envelope lives on this stack, which
	// spares the heap an allocation per frame.
	here := envelope{kind: envMessage, conn: s.id, code: int(kind), data: data, lent: true}
	if s.o.borrow(&here) {
		return nil
	}
	env := &envelope{kind: envMessage, conn: s.id, code: int(kind), data: data, lent: true}
	if err := s.o.enqueue(ctx, env); err != nil {
		if err == errRetired {
			return ErrConnClosed
		}
		return err
	}
	return nil
}

// Close tells the object the client went away; its close handler runs with
// the code and reason. Closing twice, or a connection the object closed
// itself, is a no-op.
func (s *Session) Close(ctx context.Context, code int, reason string) error {
	env := &envelope{kind: envClose, conn: s.id, code: code, data: []byte(reason)}
	err := s.o.enqueue(ctx, env)
	if err == errRetired {
		return nil
	}
	return err
}
