package abi_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/torpor-dev/torpor/abi"
)

func TestListRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		items []string
	}{
		{"none", nil},
		{"one", []string{"chat"}},
		{"empty item", []string{""}},
		{"several", []string{"a", "", "tag with spaces", "\x00binary\xff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := abi.DecodeList(abi.EncodeList(tt.items))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.items) {
				t.Fatalf("got %q, want %q", got, tt.items)
			}
			for i := range got {
				if got[i] != tt.items[i] {
					t.Fatalf("got %q, want %q", got, tt.items)
				}
			}
		})
	}
}

func TestMalformedEncodings(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"short length", []byte{1, 0}},
		{"length past end", []byte{5, 0, 0, 0, 'a'}},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := abi.DecodeList(tt.b); !errors.Is(err, abi.ErrMalformed) {
				t.Fatalf("DecodeList err = %v", err)
			}
			if _, err := abi.DecodePairs(tt.b); !errors.Is(err, abi.ErrMalformed) {
				t.Fatalf("DecodePairs err = %v", err)
			}
		})
	}
	odd := abi.EncodeList([]string{"key without value"})
	if _, err := abi.DecodePairs(odd); !errors.Is(err, abi.ErrMalformed) {
		t.Fatalf("odd pairs: err = %v", err)
	}
}

// FuzzDecodePairs feeds arbitrary bytes to the decoder the host and SDK use
// on data from the other side: it must never panic, and what it accepts must
// encode back to the same bytes.
func FuzzDecodePairs(f *testing.F) {
	f.Add(abi.AppendPair(nil, []byte(":path"), []byte("/chat/lobby")))
	f.Add([]byte{})
	f.Add([]byte{4, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, err := abi.DecodePairs(b)
		if err != nil {
			return
		}
		var again []byte
		for _, p := range pairs {
			again = abi.AppendPair(again, p.Key, p.Value)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %x gave %x", b, again)
		}
	})
}

func TestVersion(t *testing.T) {
	major, minor := abi.SplitVersion(abi.Version)
	if major != abi.Major || minor != abi.Minor {
		t.Fatalf("SplitVersion(Version) = %d.%d", major, minor)
	}
}
