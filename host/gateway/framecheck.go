package gateway

import (
	"encoding/binary"
	"strconv"
)

// frameCheck follows the frame headers of the byte stream a client sends
// (after TLS), and finds the frames RFC 6455 section 5 forbids before gws
// parses them: gws v1.8.9 panics on some (a 64-bit length with its top bit
// set makes its payload length negative), and the rest are cheaper refused
// here than half-parsed there. It reads headers only and skips payloads by
// count, so its cost does not grow with frame sizes, and it needs no
// buffer: a header split across reads is carried in hdr.
//
// No extension is ever negotiated, so every RSV bit must be zero. The
// checks:
//   - 5.1: every client frame is masked;
//   - 5.2: RSV1-3 zero, no reserved opcode (3-7, 0xB-0xF), a 64-bit length
//     with its most significant bit zero;
//   - 5.4: a continuation frame only inside a fragmented message, a new
//     text or binary frame only outside one (control frames may come
//     between fragments);
//   - 5.5: control frames unfragmented (FIN set) with at most 125 bytes of
//     payload; 5.5.1: a close payload is empty or holds at least a code.
//
// Left to gws, which handles them correctly: frame and message sizes over
// MaxFrame (1009), close codes and reasons (1002, 1007), UTF-8 in text
// messages (1007). A length not in its minimal encoding (RFC 6455 asks the
// sender for the minimal one) is accepted, as by most servers: it is
// unambiguous and harmless.
//
// Not safe for concurrent use: the socket's read loop owns it.
type frameCheck struct {
	hdr       [14]byte // the header being read
	have      int      // bytes of it seen
	need      int      // its length, known once its second byte is seen
	skip      uint64   // payload bytes of the last header still to come
	fragments bool     // a fragmented text or binary message is open
	reason    string   // the first violation; the stream is dead after it
}

// scan follows p, the next bytes of the stream, and returns how many of
// them may be passed on: all of them, or, once a frame breaks a rule,
// those before that frame's first byte (0 when the frame began in an
// earlier p, or at p's start). The rule broken is then in reason; scan
// must not be called again.
func (fc *frameCheck) scan(p []byte) int {
	start := 0 // where the header being read began in p
	for i := 0; i < len(p); {
		if fc.skip > 0 {
			n := uint64(len(p) - i)
			if n > fc.skip {
				n = fc.skip
			}
			fc.skip -= n
			i += int(n)
			continue
		}
		if fc.have == 0 {
			start = i
		}
		fc.hdr[fc.have] = p[i]
		fc.have++
		i++
		if reason := fc.header(); reason != "" {
			fc.reason = reason
			return start
		}
	}
	return len(p)
}

// header checks the header bytes seen so far, as each one arrives, and
// starts skipping the payload once the header is complete.
func (fc *frameCheck) header() string {
	h := &fc.hdr
	fin, op := h[0]&0x80 != 0, h[0]&0x0f
	switch fc.have {
	case 1:
		if h[0]&0x70 != 0 {
			return "reserved bits set without an extension"
		}
		switch {
		case op >= 0x8 && op <= 0xA:
			if !fin {
				return "fragmented control frame"
			}
		case op == 0x0:
			if !fc.fragments {
				return "continuation frame outside a fragmented message"
			}
			fc.fragments = !fin
		case op == 0x1 || op == 0x2:
			if fc.fragments {
				return "new data frame inside a fragmented message"
			}
			fc.fragments = !fin
		default:
			return "reserved opcode " + strconv.Itoa(int(op))
		}
		return ""
	case 2:
		if h[1]&0x80 == 0 {
			return "unmasked client frame"
		}
		code := h[1] & 0x7f
		if op >= 0x8 {
			if code > 125 {
				return "control frame payload over 125 bytes"
			}
			if op == 0x8 && code == 1 {
				return "close frame with a 1-byte payload"
			}
		}
		switch code {
		case 126:
			fc.need = 2 + 2 + 4
		case 127:
			fc.need = 2 + 8 + 4
		default:
			fc.need = 2 + 4
		}
	case 3:
		if h[1]&0x7f == 127 && h[2]&0x80 != 0 {
			return "64-bit payload length with the top bit set"
		}
	}
	if fc.have < fc.need {
		return ""
	}
	switch code := h[1] & 0x7f; code {
	case 126:
		fc.skip = uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		fc.skip = binary.BigEndian.Uint64(h[2:10])
	default:
		fc.skip = uint64(code)
	}
	fc.have, fc.need = 0, 0
	return ""
}
