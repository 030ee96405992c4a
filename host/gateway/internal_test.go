package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lxzan/gws"
	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
)

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		path, plugin, name string
		ok                 bool
	}{
		{"/chat/lobby", "chat", "lobby", true},
		{"/chat/a.b~c", "chat", "a.b~c", true},
		{"/_admin/objects", "", "", false},
		{"/chat", "", "", false},
		{"/chat/", "", "", false},
		{"//lobby", "", "", false},
		{"/chat/a/b", "", "", false},
		{"/chat/lobby/", "", "", false},
		{"chat/lobby", "", "", false},
		{"", "", "", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			id, ok := parsePath(tc.path)
			if ok != tc.ok || id.Plugin != tc.plugin || id.Name != tc.name {
				t.Fatalf("parsePath(%q) = %+v, %v; want %s/%s, %v", tc.path, id, ok, tc.plugin, tc.name, tc.ok)
			}
		})
	}
}

// FuzzParsePath: whatever the path, an accepted one is exactly
// /{plugin}/{object} with two non-empty segments and no host route.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/chat/lobby", "/_admin/x", "/chat", "/a/b/c", "", "/", "//", "/a/", "/é/ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		id, ok := parsePath(p)
		if !ok {
			return
		}
		if "/"+id.Plugin+"/"+id.Name != p || id.Plugin == "" || id.Name == "" ||
			id.Plugin[0] == '_' || strings.Contains(id.Plugin+id.Name, "/") {
			t.Fatalf("parsePath(%q) accepted %+v", p, id)
		}
	})
}

// statusCode stands in for gws's internal close status type, which the
// read loop ends with when gws itself closed the socket.
type statusCode uint16

func (c statusCode) Uint16() uint16 { return uint16(c) }
func (c statusCode) Error() string  { return "gws: message too large" }

func TestCloseStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		code   int
		reason string
	}{
		{"close frame with code", &gws.CloseError{Code: 4000, Reason: []byte("done")}, 4000, "done"},
		{"close frame without code", &gws.CloseError{}, 1005, ""},
		{"reserved code from the peer", &gws.CloseError{Code: 1006}, 1002, "invalid close code 1006"},
		{"code out of range", &gws.CloseError{Code: 2000}, 1002, "invalid close code 2000"},
		{"invalid UTF-8 reason", &gws.CloseError{Code: 1000, Reason: []byte{'a', 0xff}}, 1000, "a\uFFFD"},
		{"bad text frame", gws.ErrTextEncoding, 1007, "invalid UTF-8 in a text frame"},
		{"oversize frame", statusCode(1009), 1009, "message too large"},
		{"peer silent", os.ErrDeadlineExceeded, 1006, "peer silent for two ping intervals"},
		{"dropped", io.EOF, 1006, "connection dropped"},
		{"reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, 1006, "connection dropped"},
		{"protocol error", fmt.Errorf("gws: unexpected opcode %d", 3), 1002, "unexpected opcode 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, reason := closeStatus(tc.err)
			if code != tc.code || reason != tc.reason {
				t.Fatalf("closeStatus(%v) = %d %q, want %d %q", tc.err, code, reason, tc.code, tc.reason)
			}
		})
	}
}

func TestTruncateReason(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	got := truncateReason(long)
	if len(got) > maxReason || !utf8.ValidString(got) || !strings.HasPrefix(long, got) {
		t.Fatalf("truncateReason gave %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}

// Frames the object sends while its connect handler runs wait for the
// upgrade and then go out first, in order, followed by a close the object
// asked for meanwhile; an object that sends more than SendQueue of them
// gets its socket closed with 1008 as soon as it opens.
func TestFramesBeforeUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name        string
		frames      int
		objectClose bool
		wantFrames  int
		wantCode    uint16
		wantReason  string
		queueBytes  int // 0: the default
	}{
		{"frames, then the object's close", 3, true, 3, 4000, "bye", 0},
		{"more frames than the queue holds", 5, false, 0, 1008, "slow reader", 0},
		{"more bytes than the queue holds", 3, true, 0, 1008, "slow reader", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(nil, Options{SendQueue: 4, SendQueueBytes: tc.queueBytes, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			c := &conn{g: g, drained: make(chan struct{}, 1)}
			for i := range tc.frames {
				_ = c.Send(&host.Frame{Kind: abi.Text, Data: []byte(strconv.Itoa(i))})
			}
			if tc.objectClose {
				_ = c.Close(4000, "bye")
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hj := &hijacker{ResponseWriter: w}
				s, err := g.upgrader.Upgrade(hj, r)
				if err != nil {
					t.Error(err)
					return
				}
				c.nc = hj.nc
				s.Session().(*session).c = c
				c.attach(s)
			}))
			defer srv.Close()

			rec := &recorder{closed: make(chan struct{})}
			client, _, err := gws.NewClient(rec, &gws.ClientOption{Addr: "ws" + strings.TrimPrefix(srv.URL, "http")})
			if err != nil {
				t.Fatal(err)
			}
			go client.ReadLoop()
			select {
			case <-rec.closed:
			case <-time.After(10 * time.Second):
				t.Fatal("socket not closed")
			}
			if len(rec.frames) != tc.wantFrames {
				t.Fatalf("got frames %q, want %d", rec.frames, tc.wantFrames)
			}
			for i, f := range rec.frames {
				if f != strconv.Itoa(i) {
					t.Fatalf("frame %d is %q", i, f)
				}
			}
			if rec.code != tc.wantCode || rec.reason != tc.wantReason {
				t.Fatalf("closed with %d %q, want %d %q", rec.code, rec.reason, tc.wantCode, tc.wantReason)
			}
			if n := g.CachedFrames(); n != 0 {
				t.Fatalf("%d encodings still cached", n)
			}
		})
	}
}

type recorder struct {
	gws.BuiltinEventHandler
	frames []string
	code   uint16
	reason string
	closed chan struct{}
}

func (r *recorder) OnMessage(_ *gws.Conn, m *gws.Message) {
	r.frames = append(r.frames, m.Data.String())
	m.Close()
}

func (r *recorder) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		r.code, r.reason = ce.Code, string(ce.Reason)
	}
	close(r.closed)
}

// recordingConn records each Write it gets.
type recordingConn struct {
	net.Conn
	writes [][]byte
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

// A data frame with another queued behind it is held and goes out with the
// next write; a control frame, the queue's last frame or a full batch writes
// everything held, in order. After a close frame no data frame goes out.
func TestNetConnBatchesQueuedFrames(t *testing.T) {
	rec := &recordingConn{}
	more := true
	nc := &netConn{Conn: rec, more: func() bool { return more }}
	text := func(s string) []byte { return append([]byte{0x81, byte(len(s))}, s...) }
	ping := []byte{0x89, 0}
	closeFrame := []byte{0x88, 2, 0x03, 0xe8}
	write := func(p []byte) {
		t.Helper()
		if n, err := nc.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	tests := []struct {
		name   string
		more   bool
		frames [][]byte
		want   [][]byte // the writes the connection sees
	}{
		{"held while more follow", true, [][]byte{text("a"), text("b")}, nil},
		{"the last frame writes all", false, [][]byte{text("c")}, [][]byte{slices.Concat(text("a"), text("b"), text("c"))}},
		{"alone, straight through", false, [][]byte{text("d")}, [][]byte{text("d")}},
		{"a control frame writes all", true, [][]byte{text("e"), ping}, [][]byte{slices.Concat(text("e"), ping)}},
		{"a full batch goes out first", true, [][]byte{make([]byte, heldMax-1), {0x82, 1, 9}},
			[][]byte{slices.Concat(make([]byte, heldMax-1), []byte{0x82, 1, 9})}},
		// The upgrade response goes through the same Write; its 'H' is no
		// close frame.
		{"the upgrade response is not a close", false, [][]byte{[]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"), text("f")},
			[][]byte{[]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"), text("f")}},
		{"a close writes what is held", true, [][]byte{text("g"), closeFrame}, [][]byte{slices.Concat(text("g"), closeFrame)}},
		{"no data after a close", false, [][]byte{text("h"), {0x82, 1, 9}}, nil},
	}
	for _, tt := range tests {
		rec.writes, more = nil, tt.more
		for _, f := range tt.frames {
			write(f)
		}
		if !slices.EqualFunc(rec.writes, tt.want, bytes.Equal) {
			t.Errorf("%s: the connection saw %d writes %q, want %q", tt.name, len(rec.writes), rec.writes, tt.want)
		}
	}
}

// encodeFrame writes what RFC 6455 section 5.2 asks of a server's final
// frame, at each boundary of the length's three forms.
func TestEncodeFrame(t *testing.T) {
	for _, tc := range []struct {
		kind   abi.FrameKind
		n      int
		header []byte
	}{
		{abi.Text, 0, []byte{0x81, 0}},
		{abi.Binary, 125, []byte{0x82, 125}},
		{abi.Text, 126, []byte{0x81, 126, 0, 126}},
		{abi.Binary, 65535, []byte{0x82, 126, 0xff, 0xff}},
		{abi.Binary, 65536, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		data := bytes.Repeat([]byte("x"), tc.n)
		w, err := encodeFrame(&host.Frame{Kind: tc.kind, Data: data})
		if err != nil {
			t.Fatalf("kind %d, %d bytes: %v", tc.kind, tc.n, err)
		}
		if want := slices.Concat(tc.header, data); !bytes.Equal(*w, want) {
			t.Errorf("kind %d, %d bytes: header % x, want % x", tc.kind, tc.n, (*w)[:min(len(*w), 10)], tc.header)
		}
	}
	for _, f := range []*host.Frame{{Kind: abi.Text, Data: []byte{0xff}}, {Kind: 3, Data: []byte("x")}} {
		if _, err := encodeFrame(f); err == nil {
			t.Errorf("encodeFrame(kind %d, % x) succeeded", f.Kind, f.Data)
		}
	}
}
