package host

import "github.com/torpor-dev/torpor/abi"

// Conn is the object side's handle on one client connection. The WebSocket
// gateway implements it for local sockets; a cluster gateway implements it for
// sockets held by another host. Its methods run on the object's goroutine,
// except that Send also runs on the caller of Session.Message when it answers
// an auto-response, so an implementation must be safe for that concurrency.
// Neither method may block: they run inside the object's event loop.
type Conn interface {
	// Send queues a frame: a gateway bounds its queue and closes a reader
	// too slow to keep up. The Frame is shared by every receiver of a
	// broadcast and must not be modified.
	Send(f *Frame) error
	// Close starts closing the connection with a WebSocket close code and
	// reason. The object has already forgotten the connection, so the
	// gateway's later Session.Close for it is a no-op.
	Close(code int, reason string) error
}

// Frame is one outbound WebSocket message. A broadcast hands the same *Frame
// to every receiver, so a gateway can encode it once.
type Frame struct {
	Kind abi.FrameKind
	Data []byte
}
