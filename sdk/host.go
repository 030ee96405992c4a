package sdk

import "github.com/torpor-dev/torpor/abi"

// The host calls themselves are declared twice with the same Go signatures:
// imports_wasip1.go wraps the //go:wasmimport functions, imports_other.go
// returns ErrNoHost. A call that fills a buffer returns the full result length
// and, when the buffer was too small, abi.BufferTooSmall.

// readEvent returns the current event's data, n bytes long, in a buffer of
// its own.
func readEvent(n uint32) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	return readInto(make([]byte, n))
}

// readMessage returns a message event's frame, n bytes long, in frameBuf,
// which the next frame reuses (see Message.Data): an allocation per frame is
// a quarter of what a message costs a Go room whose memory went cold since
// its last one.
func readMessage(n uint32) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	return readInto(reuse(&frameBuf, int(n)))
}

var frameBuf []byte

func readInto(b []byte) ([]byte, error) {
	if err := hostEventRead(b); err != nil {
		return nil, err
	}
	return b, nil
}

// reuse returns n bytes of *buf, growing it when it is shorter. A buffer
// over scratchKeep is not kept, so one large value does not pin its memory.
func reuse(buf *[]byte, n int) []byte {
	if cap(*buf) >= n {
		return (*buf)[:n]
	}
	b := make([]byte, n)
	if n <= scratchKeep {
		*buf = b
	}
	return b
}

// Sizes of the scratch buffer that variable-length results land in. It
// starts small, grows to fit what the host reports, and stops being kept once
// a result exceeds scratchKeep, so one large value does not pin its memory.
const (
	scratchStart = 1 << 10
	scratchKeep  = 64 << 10
)

var scratch []byte

// fetch runs a host call that writes a variable-length result into buf and
// returns the result. The result may alias the scratch buffer: it is valid
// until the next fetch, so callers copy what they keep. When the host answers
// abi.BufferTooSmall, fetch grows the buffer to the reported length and calls
// once more.
func fetch(call func(buf []byte) (int, error)) ([]byte, error) {
	if scratch == nil {
		scratch = make([]byte, scratchStart)
	}
	buf := scratch
	n, err := call(buf)
	if err == abi.BufferTooSmall && n > len(buf) {
		buf = reuse(&scratch, n)
		n, err = call(buf)
	}
	if err != nil {
		return nil, err
	}
	if n < 0 || n > len(buf) {
		return nil, abi.Internal // the host reported a length it did not write
	}
	return buf[:n], nil
}

// clone copies b out of the scratch buffer; nil stays nil.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
