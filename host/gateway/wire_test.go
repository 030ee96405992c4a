package gateway_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// WebSocket frames on the wire, for tests that speak RFC 6455 by hand over
// a raw upgraded connection (env.rawUpgrade).

// Frame header bits, first byte.
const (
	fin      = 0x80
	rsv1     = 0x40
	rsv2     = 0x20
	rsv3     = 0x10
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// testMaskKey masks every client frame the tests build: not zero, so that
// a server that forgot to unmask would see garbage.
var testMaskKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// clientFrame encodes a frame the way a client must send it: b0 holds FIN,
// RSV and the opcode, the payload is masked, and its length takes the
// shortest encoding.
func clientFrame(b0 byte, payload []byte) []byte {
	return encodeFrame(b0, true, 0, uint64(len(payload)), payload)
}

// encodeFrame encodes a frame, broken if asked: width is the size of the
// length field (1 for the 7-bit code alone, 2, 8, or 0 for the shortest),
// declared the length written there, which may differ from len(payload).
func encodeFrame(b0 byte, masked bool, width int, declared uint64, payload []byte) []byte {
	if width == 0 {
		switch {
		case declared <= 125:
			width = 1
		case declared <= 0xffff:
			width = 2
		default:
			width = 8
		}
	}
	var mask byte
	if masked {
		mask = 0x80
	}
	b := []byte{b0}
	switch width {
	case 1:
		b = append(b, mask|byte(declared&0x7f))
	case 2:
		b = binary.BigEndian.AppendUint16(append(b, mask|126), uint16(declared))
	default:
		b = binary.BigEndian.AppendUint64(append(b, mask|127), declared)
	}
	if !masked {
		return append(b, payload...)
	}
	b = append(b, testMaskKey[:]...)
	for i, c := range payload {
		b = append(b, c^testMaskKey[i%4])
	}
	return b
}

// maskStream turns a stream of frames written unmasked into the stream a
// client would send: each frame gets the mask bit, testMaskKey and a
// masked payload. Lengths are taken as written; a frame cut short by the
// end of data stays cut short. Any input is accepted, so that the fuzzer
// can write frames without learning to mask them.
func maskStream(data []byte) []byte {
	out := make([]byte, 0, len(data)+len(data)/2+8)
	for i := 0; i < len(data); {
		out = append(out, data[i])
		if i++; i == len(data) {
			break
		}
		code := data[i] & 0x7f
		out = append(out, data[i]|0x80)
		i++
		ext := map[byte]int{126: 2, 127: 8}[code]
		if len(data)-i < ext {
			return append(out, data[i:]...)
		}
		n := uint64(code)
		switch ext {
		case 2:
			n = uint64(binary.BigEndian.Uint16(data[i:]))
		case 8:
			n = binary.BigEndian.Uint64(data[i:])
		}
		out = append(out, data[i:i+ext]...)
		i += ext
		out = append(out, testMaskKey[:]...)
		m := uint64(len(data) - i)
		if n < m {
			m = n
		}
		for j := range int(m) {
			out = append(out, data[i+j]^testMaskKey[j%4])
		}
		i += int(m)
	}
	return out
}

func concat(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	return b
}

// closeBody is a close frame's payload.
func closeBody(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// serverFrame is a frame as the server sent it.
type serverFrame struct {
	b0      byte
	payload []byte
}

func (f serverFrame) op() byte { return f.b0 & 0x0f }

// closeCode returns a close frame's code and reason (0 without a code).
func (f serverFrame) closeCode() (uint16, string) {
	if len(f.payload) < 2 {
		return 0, ""
	}
	return binary.BigEndian.Uint16(f.payload), string(f.payload[2:])
}

// errServerFrame: the server sent a frame no server may send.
var errServerFrame = errors.New("bad server frame")

// readServerFrame reads one frame the server sent and checks that it is
// one a server may send: unmasked, no RSV bit, a known opcode, unfragmented
// (the gateway never fragments), a control payload of at most 125 bytes.
func readServerFrame(r *bufio.Reader) (serverFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return serverFrame{}, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return serverFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return serverFrame{}, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	f := serverFrame{b0: h[0]}
	switch op := f.op(); {
	case h[1]&0x80 != 0:
		return f, fmt.Errorf("%w: masked", errServerFrame)
	case h[0]&0x70 != 0:
		return f, fmt.Errorf("%w: RSV bits %#x", errServerFrame, h[0]&0x70)
	case h[0]&fin == 0:
		return f, fmt.Errorf("%w: no FIN", errServerFrame)
	case op != opText && op != opBinary && op != opClose && op != opPing && op != opPong:
		return f, fmt.Errorf("%w: opcode %d", errServerFrame, op)
	case op >= opClose && n > 125:
		return f, fmt.Errorf("%w: control frame of %d bytes", errServerFrame, n)
	case n > 64<<20:
		return f, fmt.Errorf("%w: %d bytes", errServerFrame, n)
	}
	f.payload = make([]byte, n)
	_, err := io.ReadFull(r, f.payload)
	return f, err
}

// wire is a raw upgraded connection with a reader of the server's frames.
type wire struct {
	conn net.Conn
	r    *bufio.Reader
}

// rawWire upgrades a raw connection (see env.rawUpgrade).
func (e *env) rawWire(tb testing.TB, path string) *wire {
	tb.Helper()
	conn := e.rawUpgrade(tb, path)
	return &wire{conn: conn, r: bufio.NewReader(conn)}
}

func (w *wire) write(tb testing.TB, b []byte) {
	tb.Helper()
	if _, err := w.conn.Write(b); err != nil {
		tb.Fatalf("write %d bytes: %v", len(b), err)
	}
}

// next reads the server's next frame, waiting until deadline, and fails the
// test for a frame no server may send.
func (w *wire) next(tb testing.TB, deadline time.Time) (serverFrame, error) {
	tb.Helper()
	_ = w.conn.SetReadDeadline(deadline)
	f, err := readServerFrame(w.r)
	if errors.Is(err, errServerFrame) {
		tb.Fatal(err)
	}
	return f, err
}

// untilClose reads frames until a close frame, the end of the connection
// or the deadline, passing every other frame to seen (which may be nil),
// and returns the close frame's code and reason (ok false if none came).
func (w *wire) untilClose(tb testing.TB, deadline time.Time, seen func(serverFrame)) (code uint16, reason string, ok bool) {
	tb.Helper()
	for {
		f, err := w.next(tb, deadline)
		if err != nil {
			// The deadline, the end of the connection, or a reset.
			return 0, "", false
		}
		if f.op() == opClose {
			code, reason := f.closeCode()
			return code, reason, true
		}
		if seen != nil {
			seen(f)
		}
	}
}
