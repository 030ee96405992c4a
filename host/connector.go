package host

import (
	"context"
	"errors"

	"github.com/torpor-dev/torpor/abi"
)

// ErrHomeUnavailable is returned for a connection to an object whose home
// host is down or unreachable: the object refuses connections rather than
// risk a second activation elsewhere.
var ErrHomeUnavailable = errors.New("the object's home host is unavailable")

// Connector accepts connections for objects wherever they live: the Host
// for its own (Local), a cluster router for objects homed on other hosts.
// A gateway talks to a Connector and does not care which.
type Connector interface {
	Connect(ctx context.Context, req ConnectRequest, c Conn) (ClientSession, error)
}

// ClientSession is a gateway's handle on one accepted connection, local
// (*Session) or relayed to the object's home.
type ClientSession interface {
	// ID is the connection id, for logs.
	ID() uint64
	// Message delivers one frame from the client, in order per
	// connection, blocking while the object cannot take it (until ctx ends).
	Message(ctx context.Context, kind abi.FrameKind, data []byte) error
	// Close tells the object the client went away.
	Close(ctx context.Context, code int, reason string) error
}

// Local is the Connector for this host's own objects.
func (h *Host) Local() Connector { return localConnector{h} }

type localConnector struct{ h *Host }

func (l localConnector) Connect(ctx context.Context, req ConnectRequest, c Conn) (ClientSession, error) {
	s, err := l.h.Connect(ctx, req, c)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Batcher is a Conn that shares a transport with other connections (the
// link to a remote gateway host). The host hands an event's frames to every
// receiver and then ends each distinct Batch once, so that they travel
// together: one message per transport, however many of its sockets receive
// a broadcast.
type Batcher interface {
	Conn
	Batch() Batch
}

// Batch is a transport's batch of frames, sent by End.
type Batch interface {
	End()
}

// batches gathers the distinct batches an event's frames went into. It
// lives on the flushing goroutine's stack: few holds the first ones in
// place (a slice of it would move the whole value to the heap, an
// allocation every event), more the rest.
type batches struct {
	few  [4]Batch
	n    int // entries of few in use
	more []Batch
}

func (b *batches) note(c Conn) {
	bc, ok := c.(Batcher)
	if !ok {
		return
	}
	bt := bc.Batch()
	for i := range b.n {
		if b.few[i] == bt {
			return
		}
	}
	for _, x := range b.more {
		if x == bt {
			return
		}
	}
	if b.n < len(b.few) {
		b.few[b.n] = bt
		b.n++
		return
	}
	b.more = append(b.more, bt)
}

func (b *batches) end() {
	for i := range b.n {
		b.few[i].End()
	}
	for _, bt := range b.more {
		bt.End()
	}
}

// AutoResponder is a Conn that answers the object's auto-responses itself,
// where its socket is (a relayed socket's gateway host), so that they never
// cross to the object's host. The host hands it the object's table when the
// connection is accepted and whenever the table changes; nil is no pairs.
// The map must not be modified.
type AutoResponder interface {
	Conn
	SetAutoResponses(pairs map[string][]byte)
}

// pushAutoResponses gives the object's current table to every connection
// that answers auto-responses itself.
func (o *object) pushAutoResponses() {
	for _, c := range o.conns {
		o.offerAutoResponses(c.c)
	}
}

// offerAutoResponses hands the object's current table to c, if c answers
// auto-responses itself.
func (o *object) offerAutoResponses(c Conn) {
	ar, ok := c.(AutoResponder)
	if !ok {
		return
	}
	var m map[string][]byte
	if p := o.autoResp.Load(); p != nil {
		m = *p
	}
	ar.SetAutoResponses(m)
}
