package loadgen

import (
	"bytes"
	"hash/crc32"
)

// A bench frame is ASCII text, so that it is a valid text frame, and says
// everything a receiver needs to check it on its own:
//
//	tb1 RRRRRRRR SSSSSSSS QQQQQQQQ TTTTTTTTTTTTTTTT CCCCCCCC PPPP…
//
// "tb1" and a space, then four fixed-width lower-case hex fields, each
// followed by one space: the room's index, the sender's index within its
// room, the sender's sequence number (0, 1, 2 …) and the send time in
// nanoseconds since the run's epoch (a monotonic reading, so sender and
// receiver must be the same process). Then CRC-32 (IEEE) of every byte of
// the frame but the CRC field itself, and padding up to the frame size:
// byte i of the frame, from HeaderSize on, is padAlphabet[(seed+i)%64]
// with seed = room*7 + sender*13 + seq*31, so the padding of one message
// does not fit another.
//
// checkFrame accepts exactly the frames appendFrame writes: a frame is
// valid if and only if it is byte for byte what appendFrame makes of the
// fields it carries and its length.
const (
	frameMagic = "tb1 "
	offRoom    = len(frameMagic)
	offSender  = offRoom + 9
	offSeq     = offSender + 9
	offTime    = offSeq + 9
	offCRC     = offTime + 17
	// HeaderSize is the smallest frame: the header without padding.
	HeaderSize = offCRC + 9
)

const padAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

// padTwice holds the alphabet twice, so that any 64-byte stretch of padding
// is one slice of it.
var padTwice = []byte(padAlphabet + padAlphabet)

// frameFields are what a frame carries.
type frameFields struct {
	room, sender, seq uint32
	sent              uint64 // nanoseconds since the run's epoch
}

func (f frameFields) seed() uint64 {
	return uint64(f.room)*7 + uint64(f.sender)*13 + uint64(f.seq)*31
}

const hexDigits = "0123456789abcdef"

func putHex(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

// parseHex reads a fixed-width lower-case hex field; anything else fails.
func parseHex(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// appendFrame appends the frame of f, size bytes long (at least
// HeaderSize), to dst.
func appendFrame(dst []byte, f frameFields, size int) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, size)...)
	b := dst[start:]
	copy(b, frameMagic)
	putHex(b[offRoom:offRoom+8], uint64(f.room))
	putHex(b[offSender:offSender+8], uint64(f.sender))
	putHex(b[offSeq:offSeq+8], uint64(f.seq))
	putHex(b[offTime:offTime+16], f.sent)
	for _, off := range []int{offSender, offSeq, offTime, offCRC, HeaderSize} {
		b[off-1] = ' '
	}
	seed := f.seed()
	for i := HeaderSize; i < size; i++ {
		b[i] = padAlphabet[(seed+uint64(i))%64]
	}
	putHex(b[offCRC:offCRC+8], uint64(frameCRC(b)))
	return dst
}

// frameCRC is the checksum of b without its CRC field.
func frameCRC(b []byte) uint32 {
	c := crc32.ChecksumIEEE(b[:offCRC])
	return crc32.Update(c, crc32.IEEETable, b[offCRC+8:])
}

// checkFrame parses b and reports whether it is a valid bench frame: the
// header well formed, the padding the pattern of its fields, the CRC
// right. It allocates nothing.
func checkFrame(b []byte) (frameFields, bool) {
	var f frameFields
	if len(b) < HeaderSize || string(b[:len(frameMagic)]) != frameMagic {
		return f, false
	}
	for _, off := range []int{offSender, offSeq, offTime, offCRC, HeaderSize} {
		if b[off-1] != ' ' {
			return f, false
		}
	}
	room, ok1 := parseHex(b[offRoom : offRoom+8])
	sender, ok2 := parseHex(b[offSender : offSender+8])
	seq, ok3 := parseHex(b[offSeq : offSeq+8])
	sent, ok4 := parseHex(b[offTime : offTime+16])
	crc, ok5 := parseHex(b[offCRC : offCRC+8])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return f, false
	}
	f = frameFields{room: uint32(room), sender: uint32(sender), seq: uint32(seq), sent: sent}
	// The padding, 64 bytes at a time against the doubled alphabet.
	seed := f.seed()
	for i := HeaderSize; i < len(b); i += 64 {
		end := min(i+64, len(b))
		j := int((seed + uint64(i)) % 64)
		if !bytes.Equal(b[i:end], padTwice[j:j+end-i]) {
			return f, false
		}
	}
	if uint32(crc) != frameCRC(b) {
		return f, false
	}
	return f, true
}
