package host

import (
	"errors"
	"fmt"

	"github.com/torpor-dev/torpor/host/internal/engine"
)

// Errors callers branch on. Each is wrapped with the object or plugin it
// concerns; test with errors.Is.
var (
	// ErrClosed: the host is shutting down or shut down.
	ErrClosed = errors.New("host closed")
	// ErrInvalidName: a plugin or object name breaks the naming rules.
	ErrInvalidName = errors.New("invalid name")
	// ErrInvalidPlugin: Deploy refused the module; the message names why.
	ErrInvalidPlugin = engine.ErrInvalid
	// ErrUnknownPlugin: no plugin of that name is deployed.
	ErrUnknownPlugin = errors.New("unknown plugin")
	// ErrObjectFailed: the object failed repeatedly and refuses work until
	// its plugin is redeployed or it is evicted.
	ErrObjectFailed = errors.New("object failed")
	// ErrOverloaded: the object's mailbox stayed full until the caller's
	// context ended.
	ErrOverloaded = errors.New("object overloaded")
	// ErrTooManyConns: the object has ConnsPerObject connections already.
	ErrTooManyConns = errors.New("too many connections to object")
	// ErrConnClosed: the connection is no longer attached to its object.
	ErrConnClosed = errors.New("connection closed")
	// ErrFrameTooLarge: a frame exceeds Limits.FrameSize.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrNotFound: no such object.
	ErrNotFound = errors.New("not found")
	// ErrCannotStart: the object could not be given an instance: its
	// plugin's start-up keeps failing, or the memory budget has no room.
	// It is temporary; the object itself is not marked failed.
	ErrCannotStart = errors.New("object cannot start")
)

// RejectError is returned by Connect when the plugin refused the connection;
// a gateway answers the upgrade request with Status and Reason.
type RejectError struct {
	Status int
	Reason string
}

func (e *RejectError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("connection rejected with status %d", e.Status)
	}
	return fmt.Sprintf("connection rejected with status %d: %s", e.Status, e.Reason)
}
