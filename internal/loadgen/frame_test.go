package loadgen

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    frameFields
		size int
	}{
		{"header only", frameFields{room: 0, sender: 0, seq: 0, sent: 0}, HeaderSize},
		{"one pad byte", frameFields{room: 1, sender: 2, seq: 3, sent: 4}, HeaderSize + 1},
		{"default size", frameFields{room: 99, sender: 1, seq: 12345, sent: 987654321}, 128},
		{"not a multiple of 64", frameFields{room: 7, sender: 0, seq: 1 << 31, sent: 1 << 62}, 1000},
		{"largest fields", frameFields{room: ^uint32(0), sender: ^uint32(0), seq: ^uint32(0), sent: ^uint64(0)}, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := appendFrame(nil, tc.f, tc.size)
			if len(b) != tc.size {
				t.Fatalf("frame is %d bytes, want %d", len(b), tc.size)
			}
			if !utf8.Valid(b) {
				t.Fatal("frame is not valid UTF-8, so not a valid text frame")
			}
			got, ok := checkFrame(b)
			if !ok || got != tc.f {
				t.Fatalf("checkFrame = %+v, %v; want %+v, true", got, ok, tc.f)
			}
		})
	}
}

// Any one byte changed, to any other value, is caught: the CRC covers
// the fields and the pattern the padding.
func TestFrameEverySingleByteChangeIsCaught(t *testing.T) {
	orig := appendFrame(nil, frameFields{room: 3, sender: 1, seq: 42, sent: 123456789}, 200)
	b := bytes.Clone(orig)
	for i := range b {
		for v := range 256 {
			if byte(v) == orig[i] {
				continue
			}
			b[i] = byte(v)
			if _, ok := checkFrame(b); ok {
				t.Fatalf("byte %d changed from %q to %q went unnoticed", i, orig[i], byte(v))
			}
		}
		b[i] = orig[i]
	}
	// And one byte less or more.
	if _, ok := checkFrame(orig[:len(orig)-1]); ok {
		t.Fatal("a truncated frame went unnoticed")
	}
	if _, ok := checkFrame(append(bytes.Clone(orig), 'x')); ok {
		t.Fatal("a frame with a byte appended went unnoticed")
	}
}

// checkFrame decodes bytes from the network: it never panics, and what it
// accepts is exactly what appendFrame writes.
func FuzzCheckFrame(f *testing.F) {
	f.Add(appendFrame(nil, frameFields{room: 1, sender: 2, seq: 3, sent: 4}, 128))
	f.Add(appendFrame(nil, frameFields{}, HeaderSize))
	f.Add([]byte("tb1 "))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, ok := checkFrame(b)
		if !ok {
			return
		}
		if want := appendFrame(nil, fields, len(b)); !bytes.Equal(b, want) {
			t.Fatalf("accepted %q, which is not the frame of its fields %q", b, want)
		}
	})
}

func BenchmarkCheckFrame(b *testing.B) {
	frame := appendFrame(nil, frameFields{room: 3, sender: 1, seq: 42, sent: 123456789}, 128)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := checkFrame(frame); !ok {
			b.Fatal("frame does not check")
		}
	}
}
