package abi

// Status is the i32 every host import returns. Expected failures come back to
// the guest as a Status; only a bug in the guest that the guest itself cannot
// handle (a trap) aborts the instance.
type Status uint32

// The complete set of statuses. New ones are only added with a minor version;
// guests treat an unknown non-zero status like Internal.
const (
	// OK: the call did what it says.
	OK Status = 0
	// Bounds: a (pointer, length) pair lies outside the guest's linear memory.
	// Nothing was read or written.
	Bounds Status = 1
	// NotFound: no such key, connection, alarm or object.
	NotFound Status = 2
	// TooLarge: an argument exceeds a host limit (frame size, key or value
	// size, attachment size, tag count, event write volume).
	TooLarge Status = 3
	// Invalid: an argument is malformed (unknown frame kind, close code outside
	// 1000 and 3000–4999, text that is not UTF-8, a bad encoding).
	Invalid Status = 4
	// BufferTooSmall: the result does not fit in the guest's buffer. Nothing was
	// copied; the needed length was written to the len_out pointer, so the guest
	// can grow its buffer and call again.
	BufferTooSmall Status = 5
	// BadState: the call is not allowed in this event (for example send during
	// snapshot, or conn_set_tags outside that connection's connect event).
	BadState Status = 6
	// Internal: the host failed (for example the store is unavailable). The
	// event fails as a whole; the guest may return early.
	Internal Status = 7
)

var statusNames = [...]string{
	OK:             "ok",
	Bounds:         "out of bounds",
	NotFound:       "not found",
	TooLarge:       "too large",
	Invalid:        "invalid argument",
	BufferTooSmall: "buffer too small",
	BadState:       "not allowed in this event",
	Internal:       "internal host error",
}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown status"
}

// Error makes a non-OK Status usable as an error in Go guests and tests.
func (s Status) Error() string { return "torpor: " + s.String() }
