package gateway_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/torpor-dev/torpor/host/gateway"
)

// frameCheckCases are client streams: good is passed on whole, then bad
// breaks rule (none if empty), decided by its byte at.
var frameCheckCases = []struct {
	name      string
	good, bad []byte
	at        int
	rule      string
}{
	{name: "text", good: clientFrame(fin|opText, []byte("hello"))},
	{name: "empty binary", good: clientFrame(fin|opBinary, nil)},
	{name: "16-bit length", good: clientFrame(fin|opBinary, make([]byte, 300))},
	{name: "64-bit length", good: clientFrame(fin|opBinary, make([]byte, 70000))},
	{name: "non-minimal 16-bit length", good: encodeFrame(fin|opText, true, 2, 5, []byte("hello"))},
	{name: "non-minimal 64-bit length", good: encodeFrame(fin|opText, true, 8, 5, []byte("hello"))},
	{name: "fragments with control frames between", good: concat(
		clientFrame(opText, []byte("hel")),
		clientFrame(fin|opPing, []byte("p")),
		clientFrame(opCont, nil),
		clientFrame(fin|opPong, nil),
		clientFrame(fin|opCont, []byte("lo")),
		clientFrame(fin|opBinary, []byte{0}),
	)},
	{name: "close with code and reason", good: clientFrame(fin|opClose, closeBody(1000, "bye"))},
	{name: "empty close", good: clientFrame(fin|opClose, nil)},
	{name: "ping of 125 bytes", good: clientFrame(fin|opPing, make([]byte, 125))},
	{name: "frame cut short", good: clientFrame(fin|opText, []byte("hello"))[:8]},

	{name: "unmasked", bad: encodeFrame(fin|opText, false, 0, 2, []byte("hi")), at: 1, rule: "unmasked client frame"},
	{name: "RSV1", bad: clientFrame(fin|rsv1|opText, []byte("x")), rule: "reserved bits set without an extension"},
	{name: "RSV2 on a ping", bad: clientFrame(fin|rsv2|opPing, nil), rule: "reserved bits set without an extension"},
	{name: "RSV3 on a continuation", good: clientFrame(opText, []byte("a")), bad: clientFrame(fin|rsv3|opCont, nil), rule: "reserved bits set without an extension"},
	{name: "reserved data opcode", bad: clientFrame(fin|0x3, nil), rule: "reserved opcode 3"},
	{name: "reserved control opcode", good: clientFrame(fin|opText, nil), bad: clientFrame(fin|0xF, nil), rule: "reserved opcode 15"},
	{name: "top bit of a 64-bit length", bad: encodeFrame(fin|opBinary, true, 8, 1<<63, nil), at: 2, rule: "64-bit payload length with the top bit set"},
	{name: "length of all ones", bad: encodeFrame(fin|opText, true, 8, 1<<64-1, nil), at: 2, rule: "64-bit payload length with the top bit set"},
	{name: "fragmented ping", bad: clientFrame(opPing, nil), rule: "fragmented control frame"},
	{name: "fragmented close", bad: clientFrame(opClose, closeBody(1000, "")), rule: "fragmented control frame"},
	{name: "ping of 126 bytes", bad: clientFrame(fin|opPing, make([]byte, 126)), at: 1, rule: "control frame payload over 125 bytes"},
	{name: "pong with a 64-bit length", bad: encodeFrame(fin|opPong, true, 8, 1, []byte("x")), at: 1, rule: "control frame payload over 125 bytes"},
	{name: "close with one byte", bad: clientFrame(fin|opClose, []byte{3}), at: 1, rule: "close frame with a 1-byte payload"},
	{name: "continuation first", bad: clientFrame(fin|opCont, []byte("x")), rule: "continuation frame outside a fragmented message"},
	{name: "continuation after the end", good: concat(clientFrame(opText, []byte("a")), clientFrame(fin|opCont, []byte("b"))), bad: clientFrame(opCont, nil), rule: "continuation frame outside a fragmented message"},
	{name: "text inside a message", good: clientFrame(opText, []byte("a")), bad: clientFrame(fin|opText, []byte("b")), rule: "new data frame inside a fragmented message"},
	{name: "binary inside a message", good: concat(clientFrame(opBinary, []byte("a")), clientFrame(fin|opPing, nil)), bad: clientFrame(opBinary, nil), rule: "new data frame inside a fragmented message"},
}

func TestFrameCheck(t *testing.T) {
	for _, tc := range frameCheckCases {
		t.Run(tc.name, func(t *testing.T) {
			stream := concat(tc.good, tc.bad)
			want := len(stream)
			if tc.rule != "" {
				want = len(tc.good)
			}
			if n, rule := gateway.CheckFrames(stream); n != want || rule != tc.rule {
				t.Fatalf("whole: passed %d of %d bytes, rule %q; want %d, %q", n, len(stream), rule, want, tc.rule)
			}
			// A byte at a time, the bad frame's bytes before the one that
			// decides are passed on too: gws cannot act on half a header.
			if tc.rule != "" {
				want = len(tc.good) + tc.at
			}
			if n, rule := gateway.CheckFrames(chunks(stream, func() int { return 1 })...); n != want || rule != tc.rule {
				t.Fatalf("byte by byte: passed %d of %d bytes, rule %q; want %d, %q", n, len(stream), rule, want, tc.rule)
			}
		})
	}
}

// chunks cuts b into pieces of the sizes size returns (at least 1).
func chunks(b []byte, size func() int) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := min(max(size(), 1), len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// FuzzFrameCheck compares the streaming check, fed in random chunks, with
// a plain frame-at-a-time reading of the whole stream.
func FuzzFrameCheck(f *testing.F) {
	for i, tc := range frameCheckCases {
		f.Add(concat(tc.good, tc.bad), uint64(i))
	}
	f.Fuzz(func(t *testing.T, stream []byte, seed uint64) {
		start, at, rule := referenceCheck(stream)
		rng := rand.New(rand.NewPCG(seed, seed>>32))
		maxChunk := 1 + int(seed%64)
		parts := chunks(stream, func() int { return 1 + rng.IntN(maxChunk) })
		want := len(stream)
		if rule != "" {
			// Every chunk before the one holding the deciding byte is
			// passed on, and that one up to the bad frame's start.
			chunkStart := 0
			for _, p := range parts {
				if chunkStart+len(p) > at {
					break
				}
				chunkStart += len(p)
			}
			want = max(start, chunkStart)
		}
		if n, got := gateway.CheckFrames(parts...); n != want || got != rule {
			t.Fatalf("stream %x in %d chunks: passed %d, rule %q; want %d, %q (bad frame at %d, decided at %d)",
				stream, len(parts), n, got, want, rule, start, at)
		}
	})
}

// referenceCheck reads stream a whole frame at a time, the way RFC 6455
// section 5 is written, and returns where the first frame breaking a rule
// starts, the offset of the byte that shows it, and the rule ("" and
// len(stream) twice when the stream, perhaps cut short, breaks none).
func referenceCheck(stream []byte) (start, at int, rule string) {
	fragmented := false
	for off := 0; off < len(stream); {
		h := stream[off:]
		final, op := h[0]&fin != 0, h[0]&0x0f
		control := op&0x8 != 0
		switch {
		case h[0]&0x70 != 0:
			return off, off, "reserved bits set without an extension"
		case op > opBinary && op < opClose || op > opPong:
			return off, off, "reserved opcode " + strconv.Itoa(int(op))
		case control && !final:
			return off, off, "fragmented control frame"
		case op == opCont && !fragmented:
			return off, off, "continuation frame outside a fragmented message"
		case (op == opText || op == opBinary) && fragmented:
			return off, off, "new data frame inside a fragmented message"
		}
		if !control {
			fragmented = !final
		}
		if len(h) < 2 {
			break
		}
		n, head := uint64(h[1]&0x7f), 2
		switch {
		case h[1]&0x80 == 0:
			return off, off + 1, "unmasked client frame"
		case control && n > 125:
			return off, off + 1, "control frame payload over 125 bytes"
		case op == opClose && n == 1:
			return off, off + 1, "close frame with a 1-byte payload"
		}
		switch n {
		case 126:
			if len(h) < 4 {
				return len(stream), len(stream), ""
			}
			n, head = uint64(binary.BigEndian.Uint16(h[2:])), 4
		case 127:
			if len(h) >= 3 && h[2]&0x80 != 0 {
				return off, off + 2, "64-bit payload length with the top bit set"
			}
			if len(h) < 10 {
				return len(stream), len(stream), ""
			}
			n, head = binary.BigEndian.Uint64(h[2:]), 10
		}
		head += 4 // the mask key
		if uint64(len(h)) < uint64(head)+n {
			break
		}
		off += head + int(n)
	}
	return len(stream), len(stream), ""
}

// The check passes a valid stream through unchanged whatever the reads'
// sizes: it only looks.
func TestFrameCheckLeavesBytesAlone(t *testing.T) {
	var stream []byte
	for i := range 200 {
		stream = append(stream, clientFrame(fin|opText, bytes.Repeat([]byte{'a' + byte(i%26)}, i*37%300))...)
	}
	orig := bytes.Clone(stream)
	if n, rule := gateway.CheckFrames(chunks(stream, func() int { return 7 })...); n != len(stream) || rule != "" {
		t.Fatalf("passed %d of %d, rule %q", n, len(stream), rule)
	}
	if !bytes.Equal(stream, orig) {
		t.Fatal("the check changed the bytes")
	}
}
