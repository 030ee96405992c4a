package engine

import "github.com/torpor-dev/torpor/abi"

// Env is the object side of one event: what the host imports act on. The
// engine decodes and bounds-checks every argument before calling it, so an Env
// only ever sees well-formed Go values.
//
// Byte slices passed to an Env alias guest memory and are valid only for the
// duration of the call: an Env that keeps one must copy it. Byte slices an
// Env returns are copied into guest memory before the next guest instruction
// runs, so they may alias the Env's own buffers.
//
// An Env is used by one goroutine at a time: the one running the event.
type Env interface {
	EventData() []byte
	Reply(b []byte) abi.Status

	Send(conn uint64, kind abi.FrameKind, data []byte) abi.Status
	Broadcast(kind abi.FrameKind, data []byte, except uint64, tag []byte) abi.Status
	CloseConn(conn uint64, code uint32, reason []byte) abi.Status
	SetTags(conn uint64, list []byte) abi.Status
	ConnList(dst []byte, tag []byte) ([]byte, abi.Status)
	Attachment(conn uint64) ([]byte, abi.Status)
	SetAttachment(conn uint64, b []byte) abi.Status

	// StorageGet writes the value into buf when it fits and returns its
	// length; otherwise it writes nothing and returns the length with
	// BufferTooSmall.
	StorageGet(key, buf []byte) (int, abi.Status)
	StoragePut(key, value []byte) abi.Status
	StorageDelete(key []byte) abi.Status
	// StorageList writes the result into buf when all of it fits and
	// returns its length; otherwise it writes nothing and returns the length
	// with BufferTooSmall.
	StorageList(buf []byte, prefix, after []byte, limit uint32) (int, abi.Status)

	AlarmSet(unixMilli int64) abi.Status
	AlarmGet() (int64, abi.Status)
	AlarmCancel() abi.Status

	SetAutoResponse(request, response []byte) abi.Status
	Log(level abi.LogLevel, msg []byte)
	ObjectID() string

	// HostPanicked reports a panic in the host's side of the import name,
	// with its stack: the event must fail as the host's fault.
	HostPanicked(name string, v any, stack []byte)
}
