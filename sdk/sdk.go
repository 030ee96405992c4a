// Package sdk is the Go SDK for torpor room programs: WebAssembly modules that
// a torpor host runs once per object, delivering connection events to them and
// hibernating them while their room is idle.
//
// A plugin is a main package built as a WASI reactor. Its init function
// registers the event handlers; its main function is never called:
//
//	// Command echo sends every text frame back to the whole room and counts
//	// the frames it has seen since the room was created.
//	package main
//
//	import (
//		"strconv"
//
//		"github.com/torpor-dev/torpor/sdk"
//	)
//
//	// room is the in-memory state. It survives hibernation through the
//	// snapshot (JSON by default, so its fields are exported).
//	type room struct {
//		Frames int
//	}
//
//	func init() {
//		sdk.Register(sdk.Plugin[room]{
//			Connect: func(r *room, c sdk.Conn, req *sdk.Request) error {
//				if req.Param("name") == "" {
//					return sdk.Reject(400, "name is required")
//				}
//				return c.SetAttachment([]byte(req.Param("name")))
//			},
//			Message: func(r *room, c sdk.Conn, m sdk.Message) error {
//				r.Frames++
//				return sdk.Broadcast(strconv.Itoa(r.Frames) + " " + m.Text())
//			},
//		})
//	}
//
//	func main() {}
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o echo.wasm .
//
// # Events
//
// The host delivers one event at a time per object, so handlers need no
// locking. Connect runs before the WebSocket upgrade and may refuse the client
// with [Reject]; Message, Close and Alarm follow. A handler that returns a
// non-nil error fails its event: the host discards the event's storage writes
// and outgoing frames and rebuilds the instance from the last committed state.
// A panic does the same (it ends the instance). Handlers must not block: no
// sleeping and no waiting on other goroutines, because the instance only runs
// while the host is calling it.
//
// # State
//
// The state *S passed to every handler is the object's in-memory state. When
// the room goes idle the host asks for a snapshot (encoding/json of *S unless
// [Plugin.Snapshot] is set) and later restores a fresh instance from it, so the
// state survives hibernation and graceful shutdown. It does not survive a
// crash: what must be durable belongs in [Storage], whose writes commit
// atomically when the handler returns.
//
// # Host calls
//
// Every function that talks to the host ([Conn.Send], [Broadcast], [Storage],
// [SetAlarm], …) is valid only inside a handler, on the handler's goroutine.
// Failures come back as errors that wrap an [abi.Status] (use errors.Is).
// Built for any platform other than wasip1 the package compiles, so plugins can
// be vetted and unit-tested natively, but every host call returns [ErrNoHost].
package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"unsafe"

	"github.com/torpor-dev/torpor/abi"
)

// Plugin holds the event handlers of a room program whose in-memory state is
// an S. Every handler is optional; a nil handler has the default behaviour
// named in its doc.
type Plugin[S any] struct {
	// Connect runs when a client asks to connect, before the WebSocket
	// upgrade. Returning nil accepts the client; returning [Reject] refuses it
	// with that HTTP status and reason; any other error refuses it with 500
	// and is logged. Only here may the handler call [Conn.SetTags]. Frames
	// sent to c are delivered once the upgrade completes. Nil: accept all.
	Connect func(s *S, c Conn, r *Request) error
	// Message runs for every frame a client sends. Nil: ignore frames.
	Message func(s *S, c Conn, m Message) error
	// Close runs after a client's socket closed, with the close code and
	// reason; c can no longer be sent to. Nil: ignore.
	Close func(s *S, c Conn, code int, reason string) error
	// Alarm runs when the alarm set with [SetAlarm] fires. retry counts the
	// earlier failed attempts of the same alarm. Nil: ignore.
	Alarm func(s *S, retry int) error
	// Snapshot encodes the in-memory state for hibernation. Nil: encoding/json
	// of *s, which only sees exported fields.
	Snapshot func(s *S) ([]byte, error)
	// Restore decodes what Snapshot produced into s, which holds the zero S.
	// It is not called when there is no snapshot yet (the state stays zero).
	// Nil: encoding/json.
	Restore func(s *S, data []byte) error
}

// ErrNoHost is what every host call returns when the package is built for a
// platform other than wasip1, where no torpor host exists.
var ErrNoHost = errors.New("sdk: not running inside a torpor host")

// ErrNotFound is returned by Storage.Get and Storage.GetJSON for a missing key. It is the ABI
// status itself, so errors.Is(err, abi.NotFound) works too.
var ErrNotFound error = abi.NotFound

// handler is a registered Plugin with its state, without the type parameter.
type handler interface {
	connect(c Conn, r *Request) error
	message(c Conn, m Message) error
	close(c Conn, code int, reason string) error
	alarm(retry int) error
	snapshot() ([]byte, error)
	restore(data []byte) error
	// handlers is the abi.Handler* set the plugin implements.
	handlers() uint32
}

// registered is the one plugin of the module.
var registered handler

// Register makes p the plugin of this module. Call it exactly once, from an
// init function: the host runs package initialisation before the first event
// and never calls main. It panics if called twice.
func Register[S any](p Plugin[S]) {
	if registered != nil {
		panic("sdk: Register called twice")
	}
	registered = newInstance(p)
}

func newInstance[S any](p Plugin[S]) *instance[S] {
	return &instance[S]{p: p, state: new(S)}
}

// instance binds a Plugin to its state.
type instance[S any] struct {
	p     Plugin[S]
	state *S
}

func (in *instance[S]) connect(c Conn, r *Request) error {
	if in.p.Connect == nil {
		return nil
	}
	return in.p.Connect(in.state, c, r)
}

func (in *instance[S]) message(c Conn, m Message) error {
	if in.p.Message == nil {
		return nil
	}
	return in.p.Message(in.state, c, m)
}

func (in *instance[S]) close(c Conn, code int, reason string) error {
	if in.p.Close == nil {
		return nil
	}
	return in.p.Close(in.state, c, code, reason)
}

func (in *instance[S]) alarm(retry int) error {
	if in.p.Alarm == nil {
		return nil
	}
	return in.p.Alarm(in.state, retry)
}

func (in *instance[S]) handlers() uint32 {
	var set uint32
	if in.p.Connect != nil {
		set |= abi.HandlerConnect
	}
	if in.p.Close != nil {
		set |= abi.HandlerClose
	}
	if in.p.Alarm != nil {
		set |= abi.HandlerAlarm
	}
	// A state of zero size (struct{}) has nothing to keep, unless the
	// plugin encodes something of its own.
	var zero S
	if unsafe.Sizeof(zero) != 0 || in.p.Snapshot != nil || in.p.Restore != nil {
		set |= abi.HandlerState
	}
	return set
}

func (in *instance[S]) snapshot() ([]byte, error) {
	if in.p.Snapshot != nil {
		return in.p.Snapshot(in.state)
	}
	return json.Marshal(in.state)
}

// restore replaces the state with the decoded snapshot; empty data means no
// snapshot yet, so the state becomes the zero S. On error the state is left
// as it was.
func (in *instance[S]) restore(data []byte) error {
	s := new(S)
	if len(data) > 0 {
		var err error
		if in.p.Restore != nil {
			err = in.p.Restore(s, data)
		} else {
			err = json.Unmarshal(data, s)
		}
		if err != nil {
			return err
		}
	}
	in.state = s
	return nil
}

// RejectError is the error [Reject] returns. The connect dispatcher finds it
// with errors.As, so it may be wrapped.
type RejectError struct {
	// Status is the HTTP status the client receives, 400–599.
	Status int
	// Reason is the response body.
	Reason string
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("sdk: connection rejected with %d: %s", e.Status, e.Reason)
}

// Reject returns the error a Connect handler returns to refuse the client with
// an HTTP status in 400–599 and a reason, which becomes the response body. A
// status outside that range is a bug: the client gets 500 and the host log
// says why.
func Reject(status int, reason string) error {
	return &RejectError{Status: status, Reason: reason}
}

// connectResult turns a Connect handler's error into the on_connect result,
// the reason to reply and a line for the error log ("" for none).
func connectResult(err error) (status uint32, reason, logLine string) {
	if err == nil {
		return abi.Accept, "", ""
	}
	var rej *RejectError
	if errors.As(err, &rej) {
		if rej.Status < abi.RejectMin || rej.Status > abi.RejectMax {
			return 500, "", fmt.Sprintf("Reject status %d is outside %d–%d; refused with 500",
				rej.Status, abi.RejectMin, abi.RejectMax)
		}
		return uint32(rej.Status), rej.Reason, ""
	}
	return 500, "", err.Error()
}
