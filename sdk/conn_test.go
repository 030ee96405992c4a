package sdk

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/torpor-dev/torpor/abi"
)

func TestBroadcastOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []BroadcastOption
		want broadcastOptions
	}{
		{name: "none", want: broadcastOptions{except: abi.NoConn}},
		{name: "except", opts: []BroadcastOption{Except(5)}, want: broadcastOptions{except: 5}},
		{name: "tag", opts: []BroadcastOption{OnlyTag("chat")}, want: broadcastOptions{tag: "chat"}},
		{name: "both", opts: []BroadcastOption{OnlyTag("chat"), Except(5)}, want: broadcastOptions{except: 5, tag: "chat"}},
		{name: "last wins", opts: []BroadcastOption{Except(5), OnlyTag("a"), Except(6), OnlyTag("b")}, want: broadcastOptions{except: 6, tag: "b"}},
		{name: "zero option ignored", opts: []BroadcastOption{{}, Except(2)}, want: broadcastOptions{except: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := applyBroadcastOptions(tt.opts); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeConnList(t *testing.T) {
	var b []byte
	for _, id := range []uint64{1, 1 << 40, 7} {
		b = binary.LittleEndian.AppendUint64(b, id)
	}
	got, err := decodeConnList(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Conn{1, 1 << 40, 7}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, err := decodeConnList(nil); err != nil || len(got) != 0 {
		t.Errorf("empty list: %v, %v", got, err)
	}
	if _, err := decodeConnList(b[:12]); !errors.Is(err, abi.ErrMalformed) {
		t.Errorf("12 bytes: err %v, want ErrMalformed", err)
	}
}

func TestMessage(t *testing.T) {
	m := Message{Kind: abi.Text, Data: []byte("hé")}
	if !m.IsText() || m.Text() != "hé" {
		t.Errorf("text message: IsText %v, Text %q", m.IsText(), m.Text())
	}
	if (Message{Kind: abi.Binary}).IsText() {
		t.Error("binary message IsText")
	}
}

func TestFetchGrows(t *testing.T) {
	old := scratch
	t.Cleanup(func() { scratch = old })
	scratch = nil

	result := make([]byte, scratchStart+10)
	for i := range result {
		result[i] = byte(i)
	}
	calls := 0
	host := func(buf []byte) (int, error) {
		calls++
		if len(buf) < len(result) {
			return len(result), abi.BufferTooSmall
		}
		return copy(buf, result), nil
	}
	got, err := fetch(host)
	if err != nil || !reflect.DeepEqual(got, result) || calls != 2 {
		t.Fatalf("fetch: %d bytes, err %v, %d calls; want %d bytes, nil, 2", len(got), err, calls, len(result))
	}
	if len(scratch) != len(result) {
		t.Errorf("scratch is %d bytes, want it grown to %d", len(scratch), len(result))
	}

	// Large results do not replace the scratch buffer.
	result = make([]byte, scratchKeep+1)
	if got, err := fetch(host); err != nil || len(got) != len(result) {
		t.Fatalf("large fetch: %d bytes, %v", len(got), err)
	}
	if len(scratch) > scratchKeep {
		t.Errorf("scratch kept %d bytes", len(scratch))
	}

	// A host that keeps asking for more gets one retry only.
	calls = 0
	_, err = fetch(func([]byte) (int, error) { calls++; return 1 << 20, abi.BufferTooSmall })
	if !errors.Is(err, abi.BufferTooSmall) || calls != 2 {
		t.Errorf("greedy host: err %v after %d calls, want BufferTooSmall after 2", err, calls)
	}

	// Other errors pass through, and a length beyond the buffer is refused.
	if _, err := fetch(func([]byte) (int, error) { return 0, abi.NotFound }); err != abi.NotFound {
		t.Errorf("err %v, want NotFound", err)
	}
	if _, err := fetch(func(buf []byte) (int, error) { return len(buf) + 1, nil }); !errors.Is(err, abi.Internal) {
		t.Errorf("overlong length: err %v, want Internal", err)
	}
}
