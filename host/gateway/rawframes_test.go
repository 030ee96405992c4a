package gateway_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/gateway"
	"github.com/torpor-dev/torpor/internal/hosttest"
)

// canary opens a socket to a broadcast room and returns a check that it
// still answers: a room that no other socket's trouble may disturb.
func (e *env) canary(tb testing.TB, room string) func(testing.TB) {
	tb.Helper()
	c := e.dial(tb, room)
	n := 0
	return func(tb testing.TB) {
		tb.Helper()
		n++
		msg := "canary " + strconv.Itoa(n)
		c.send(tb, msg)
		if got := c.nextText(tb); got != msg {
			tb.Fatalf("canary answered %q, want %q", got, msg)
		}
	}
}

// victim opens a raw socket in a chat room with a witness in it, which
// hears what the victim says and, once the object knows the socket
// closed, the room announce its leave.
func (e *env) victim(tb testing.TB, room string) (*wire, *witness) {
	tb.Helper()
	w := e.dial(tb, room+"?name=witness")
	w.nextChatOf(tb, "welcome")
	v := e.rawWire(tb, room+"?name=victim")
	w.nextChatOf(tb, "join")
	return v, &witness{w}
}

type witness struct{ *client }

// sawLeave waits for the victim's leave, and fails unless the victim's
// messages listed came first, in order (others may come between).
func (w *witness) sawLeave(tb testing.TB, messages ...string) {
	tb.Helper()
	for {
		m := w.nextChat(tb)
		switch {
		case m.Type == "leave" && m.Name == "victim":
			if len(messages) > 0 {
				tb.Fatalf("the victim left before the room saw its messages %q", messages)
			}
			return
		case m.Type == "message" && len(messages) > 0 && m.Text == messages[0]:
			messages = messages[1:]
		}
	}
}

// The frames that killed the process: gws v1.8.9 reads a 64-bit payload
// length into an int, so one with its top bit set turns negative and
// passes the MaxFrame check; reader.go:103 then asks its buffer pool for a
// negative size, which panics in make (internal/pool.go:58) unless the
// size's low 32 bits round up to a pooled size, and then reader.go:104
// slices out of range. Either way the panic is on the read loop's
// goroutine, where nothing recovered it. Fourteen bytes, sent by any
// client right after the upgrade. Now the frame check refuses them before
// gws parses them: that socket alone closes with 1002, and its room hears.
func TestCrashingFramesCloseOneSocket(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		e := newEnv(t, host.Options{}, gateway.Options{}, "chat", "broadcast")
		alive := e.canary(t, "/broadcast/canary")
		const rule = "64-bit payload length with the top bit set"
		cases := []struct {
			name   string
			stream []byte
		}{
			// 82 ff 80 00 00 00 00 00 00 00 37 fa 21 3d: reader.go:104
			{"binary frame of length 1<<63", encodeFrame(fin|opBinary, true, 8, 1<<63, nil)},
			// 82 ff 80 00 00 00 30 30 30 30 37 fa 21 3d: pool.go:58
			{"binary frame of length 1<<63|0x30303030", encodeFrame(fin|opBinary, true, 8, 1<<63|0x30303030, nil)},
			{"text frame of length 1<<64-1", encodeFrame(fin|opText, true, 8, 1<<64-1, nil)},
			{"continuation of length 1<<63+5", concat(
				clientFrame(opText, []byte("a")),
				encodeFrame(fin|opCont, true, 8, 1<<63+5, []byte("bcdef")),
			)},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				v, w := e.victim(t, fmt.Sprintf("/chat/crash-%d", i))
				v.write(t, tc.stream)
				code, reason, ok := v.untilClose(t, time.Now().Add(wait), nil)
				if !ok || code != 1002 || reason != rule {
					t.Fatalf("got close frame %v, %d %q; want 1002 %q", ok, code, reason, rule)
				}
				drainUntilClosed(t, v.conn)
				w.sawLeave(t)
				alive(t)
			})
		}
		if n := e.g.Panics(); n != 0 {
			t.Fatalf("%d panics recovered; the frame check should have stopped them all", n)
		}
		if n := e.g.ProtocolErrors(); n != uint64(len(cases)) {
			t.Fatalf("%d protocol errors counted, want %d", n, len(cases))
		}
		hosttest.Eventually(t, "the gateway to hold only the canary", func() bool { return e.g.Conns() == 1 })
	})
}

// Each rule of RFC 6455 section 5 the gateway checks closes the socket
// with 1002, naming the rule, and the object hears of it; frames before
// the broken one are delivered. Close frames gws checks itself get its
// answers.
func TestBrokenFrames(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		e := newEnv(t, host.Options{}, gateway.Options{}, "chat", "broadcast")
		alive := e.canary(t, "/broadcast/canary")
		type brokenCase struct {
			name      string
			good, bad []byte
			code      uint16
			reason    string
		}
		var cases []brokenCase
		for _, tc := range frameCheckCases {
			if tc.rule != "" {
				cases = append(cases, brokenCase{tc.name, tc.good, tc.bad, 1002, tc.rule})
			}
		}
		cases = append(cases,
			brokenCase{name: "close code 999", bad: clientFrame(fin|opClose, closeBody(999, "")), code: 1002},
			brokenCase{name: "close code 1005", bad: clientFrame(fin|opClose, closeBody(1005, "")), code: 1002},
			brokenCase{name: "close code 5000", bad: clientFrame(fin|opClose, closeBody(5000, "")), code: 1002},
			brokenCase{name: "close reason not UTF-8", bad: clientFrame(fin|opClose, closeBody(1000, "\xff")), code: 1007},
			brokenCase{name: "text not UTF-8 across fragments", bad: concat(clientFrame(opText, []byte{0xe2}), clientFrame(fin|opCont, []byte{0x28, 0xa1})), code: 1007},
		)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				v, w := e.victim(t, fmt.Sprintf("/chat/broken-%d", i))
				// The frames before the broken one reach the room, in the
				// same write.
				before := "before " + strconv.Itoa(i)
				v.write(t, concat(clientFrame(fin|opText, []byte(before)), tc.good, tc.bad))
				code, reason, ok := v.untilClose(t, time.Now().Add(wait), nil)
				if !ok || code != tc.code || (tc.reason != "" && reason != tc.reason) {
					t.Fatalf("got close frame %v, %d %q; want %d %q", ok, code, reason, tc.code, tc.reason)
				}
				drainUntilClosed(t, v.conn)
				w.sawLeave(t, before)
				alive(t)
			})
		}
		if n := e.g.Panics(); n != 0 {
			t.Fatalf("%d panics recovered", n)
		}
	})
}

// Valid streams pass the check untouched: fragmented messages with control
// frames between the fragments, lengths in every encoding, empty fragments.
// (Of two pings close together only the second may get its pong.)
func TestValidFramesPass(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		e := newEnv(t, host.Options{}, gateway.Options{}, "broadcast")
		v := e.rawWire(t, "/broadcast/valid")
		big := strings.Repeat("0123456789", 7000) // a 64-bit length
		v.write(t, concat(
			clientFrame(opText, []byte("hel")),
			clientFrame(fin|opPing, []byte("p1")),
			clientFrame(opCont, nil),
			clientFrame(fin|opPong, []byte("unasked")),
			clientFrame(fin|opCont, []byte("lo")),
			clientFrame(opBinary, []byte{1}),
			clientFrame(opCont, []byte{2}),
			clientFrame(fin|opPing, []byte("p2")),
			clientFrame(fin|opCont, []byte{3}),
			encodeFrame(fin|opText, true, 2, 5, []byte("short")),
			encodeFrame(fin|opText, true, 8, 5, []byte("eight")),
			clientFrame(fin|opText, []byte(big)),
			clientFrame(fin|opText, []byte("€ é")),
		))
		// Pongs come from the gateway, messages from the room: only each
		// kind's own order is fixed.
		var got, pongs []string
		code, _, ok := v.untilClose(t, time.Now().Add(wait), func(f serverFrame) {
			if f.op() == opPong {
				pongs = append(pongs, string(f.payload))
				return
			}
			got = append(got, fmt.Sprintf("%d:%.20s", f.op(), f.payload))
			if string(f.payload) == "€ é" {
				v.write(t, clientFrame(fin|opClose, closeBody(1000, "done")))
			}
		})
		want := []string{"1:hello", "2:\x01\x02\x03", "1:short", "1:eight", "1:" + big[:20], "1:€ é"}
		if !ok || code != 1000 || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("got %q and close %v %d; want %q and 1000", got, ok, code, want)
		}
		if p := strings.Join(pongs, "|"); p != "p1|p2" && p != "p2" {
			t.Fatalf("pongs %q; want p2, after p1 or alone", pongs)
		}
		if n := e.g.ProtocolErrors(); n != 0 {
			t.Fatalf("%d protocol errors", n)
		}
	})
}

// logRecorder is a slog.Handler keeping every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}

// errors returns the records at level Error, each as its message and
// attributes.
func (l *logRecorder) errors() []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, r := range l.records {
		if r.Level < slog.LevelError {
			continue
		}
		m := map[string]string{"msg": r.Message}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.String()
			return true
		})
		out = append(out, m)
	}
	return out
}

// Should gws panic on bytes the frame check lets through, the panic closes
// that socket alone (1011), is logged once with its stack and counted; the
// object hears of the close and the gateway's bookkeeping stays right. The
// check is switched off here to reach gws's real panic.
func TestPanicClosesOneSocket(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		logs := &logRecorder{}
		e := newEnv(t, host.Options{}, gateway.Options{Logger: slog.New(logs)}, "chat", "broadcast")
		alive := e.canary(t, "/broadcast/canary")
		e.g.UncheckFrames()
		for i, tc := range []struct {
			name   string
			stream []byte
			panic  string
		}{
			{"slice bounds", encodeFrame(fin|opBinary, true, 8, 1<<63, nil), "slice bounds out of range"},
			{"makeslice", encodeFrame(fin|opBinary, true, 8, 1<<63|0x30303030, nil), "makeslice: cap out of range"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				room := fmt.Sprintf("chat/panic-%d", i)
				v, w := e.victim(t, "/"+room)
				v.write(t, tc.stream)
				code, reason, ok := v.untilClose(t, time.Now().Add(wait), nil)
				if !ok || code != 1011 {
					t.Fatalf("got close frame %v, %d %q; want 1011", ok, code, reason)
				}
				drainUntilClosed(t, v.conn)
				v.conn.Close() // ends the server's linger
				w.sawLeave(t)
				alive(t)
				if n := e.g.Panics(); n != uint64(i+1) {
					t.Fatalf("%d panics counted, want %d", n, i+1)
				}
				errs := logs.errors()
				if len(errs) != i+1 || !strings.Contains(errs[i]["panic"], tc.panic) ||
					!strings.Contains(errs[i]["stack"], "gws.(*Conn).readMessage") || errs[i]["object"] != room {
					t.Fatalf("error logs %q; want one more, naming the panic %q, with gws's stack", errs, tc.panic)
				}
			})
		}
		hosttest.Eventually(t, "the gateway to hold only the canary", func() bool { return e.g.Conns() == 1 })
		if st := e.g.Stats(); st.Panics != 2 || st.Conns != 1 {
			t.Fatalf("stats %+v", st)
		}
		// Shutdown (in the cleanup) waits for every goroutine: it would time
		// out if a panic had left the read loop's count behind.
	})
}

// pingFrames is n pings back to back, each with its number as payload.
func pingFrames(n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, clientFrame(fin|opPing, []byte("ping "+strconv.Itoa(i)))...)
	}
	return b
}

// A flood of pings written back to back gets, within a second, the pong of
// the last one or a 1008 close; never silence on an open socket. Without a
// rate limit it must be the last pong.
func TestPingFlood(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		const pings = 10000
		last := "ping " + strconv.Itoa(pings-1)
		for _, tc := range []struct {
			name      string
			rate      int
			wantClose bool
		}{
			{"default rate limit", 0, true},
			{"rate limit disabled", -1, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, host.Options{}, gateway.Options{MaxPingRate: tc.rate}, "broadcast")
				v := e.rawWire(t, "/broadcast/flood")
				v.write(t, pingFrames(pings))
				pongs, lastPong := 0, false
				deadline := time.Now().Add(time.Second)
				var closeCode uint16
				for !lastPong && closeCode == 0 {
					f, err := v.next(t, deadline)
					if err != nil {
						t.Fatalf("after %d pongs, none for %q and no close within a second: %v", pongs, last, err)
					}
					switch f.op() {
					case opPong:
						pongs++
						lastPong = string(f.payload) == last
					case opClose:
						closeCode, _ = f.closeCode()
					}
				}
				t.Logf("%d pings: %d pongs, last answered %v, close %d", pings, pongs, lastPong, closeCode)
				if closeCode != 0 {
					v.conn.Close() // ends the server's linger
				}
				switch {
				case tc.wantClose && closeCode != 1008:
					t.Fatalf("closed with %d, want 1008 (or the last pong)", closeCode)
				case !tc.wantClose && !lastPong:
					t.Fatalf("closed with %d; without a rate limit the last ping must be answered", closeCode)
				case closeCode == 1008:
					// The close frame is on its way before the count is taken.
					for end := time.Now().Add(2 * time.Second); e.g.PingFloods() != 1 && time.Now().Before(end); {
						time.Sleep(time.Millisecond)
					}
					if n := e.g.PingFloods(); n != 1 {
						t.Fatalf("%d ping floods counted, want 1", n)
					}
				}
				if closeCode != 0 {
					hosttest.Eventually(t, "the room to hear of the close", func() bool { return e.object(t, "broadcast/flood").Conns == 0 })
					return
				}
				// The socket is open and still works.
				v.write(t, clientFrame(fin|opText, []byte("after")))
				code, _, _ := v.untilClose(t, time.Now().Add(wait), func(f serverFrame) {
					if f.op() == opText && string(f.payload) == "after" {
						v.write(t, clientFrame(fin|opClose, closeBody(1000, "")))
					}
				})
				if code != 1000 {
					t.Fatalf("after the flood: close %d, want the echo of 'after' and then 1000", code)
				}
			})
		}
	})
}

// A client past MaxPingRate is closed with 1008 "ping flood" and its room
// hears; a burst of MaxPingRate pings at once, and pings at a steady rate
// below it, are answered.
func TestPingRate(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		const rate = 50
		e := newEnv(t, host.Options{}, gateway.Options{MaxPingRate: rate}, "broadcast")
		alive := e.canary(t, "/broadcast/canary")

		// ask sends pings and waits for the pong of the last.
		ask := func(t *testing.T, v *wire, n int) {
			t.Helper()
			v.write(t, pingFrames(n))
			last := "ping " + strconv.Itoa(n-1)
			deadline := time.Now().Add(wait)
			for {
				f, err := v.next(t, deadline)
				if err != nil {
					t.Fatalf("no pong for %q: %v", last, err)
				}
				if f.op() == opClose {
					code, reason := f.closeCode()
					t.Fatalf("closed with %d %q before the pong for %q", code, reason, last)
				}
				if f.op() == opPong && string(f.payload) == last {
					return
				}
			}
		}

		t.Run("a burst of the rate", func(t *testing.T) {
			ask(t, e.rawWire(t, "/broadcast/burst"), rate)
		})
		t.Run("steady pings below the rate", func(t *testing.T) {
			v := e.rawWire(t, "/broadcast/steady")
			for range rate / 4 { // for half a second at half the rate
				ask(t, v, 1)
				time.Sleep(time.Second / (rate / 2))
			}
		})
		t.Run("a flood past the rate", func(t *testing.T) {
			v := e.rawWire(t, "/broadcast/flooder")
			v.write(t, pingFrames(4*rate))
			code, reason, ok := v.untilClose(t, time.Now().Add(wait), nil)
			if !ok || code != 1008 || reason != "ping flood" {
				t.Fatalf("got close frame %v, %d %q; want 1008 ping flood", ok, code, reason)
			}
			v.conn.Close() // ends the server's linger
			hosttest.Eventually(t, "the room to hear of the close", func() bool { return e.object(t, "broadcast/flooder").Conns == 0 })
		})
		if n := e.g.PingFloods(); n != 1 {
			t.Fatalf("%d ping floods counted, want 1", n)
		}
		alive(t)
	})
}

// FuzzRawFrames writes whatever the fuzzer makes, right after an upgrade,
// to a real gateway over loopback TLS, reads what comes back until the
// server ends the connection, and checks that the process lives, nothing
// panicked, the server wrote only well-formed frames, the object heard the
// socket close, the gateway let go of it, and a canary socket in another
// room still answers.
//
// With raw false the input is a stream of frames written unmasked, which
// the harness masks (see maskStream), so the fuzzer explores frame
// sequences without having to learn masking; with raw true the bytes go
// out as they are. The seeds cover each frame-level rule of RFC 6455
// section 5; one env (host, gateway, canary) serves a whole fuzz process.
func FuzzRawFrames(f *testing.F) {
	for _, s := range rawFrameSeeds() {
		f.Add(s.raw, s.data)
	}
	const victimRoom = "broadcast/victim"
	// A small MaxFrame, so that the fuzzer reaches the 1009 paths with
	// small inputs.
	e := newEnv(f, host.Options{}, gateway.Options{MaxFrame: 4 << 10}, "broadcast")
	alive := e.canary(f, "/broadcast/canary")
	f.Fuzz(func(t *testing.T, raw bool, data []byte) {
		if len(data) > 64<<10 {
			data = data[:64<<10]
		}
		stream := data
		if !raw {
			stream = maskStream(data)
		}
		v := e.rawWire(t, "/"+victimRoom)
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			_, _ = v.conn.Write(stream) // fails if the server closed first
			// End the stream (TLS close_notify, then FIN), so that the
			// server ends the socket at once rather than after a timeout.
			tc := v.conn.(*tls.Conn)
			_ = tc.CloseWrite()
			_ = tc.NetConn().(*net.TCPConn).CloseWrite()
		}()
		readDeadline := time.Now().Add(wait)
		closed := false
		for {
			fr, err := v.next(t, readDeadline)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server did not end the connection within %v", wait)
			}
			if err != nil {
				break
			}
			if closed {
				t.Fatalf("the server sent a frame (opcode %d) after its close frame", fr.op())
			}
			closed = fr.op() == opClose
		}
		<-wrote
		v.conn.Close()

		deadline := time.Now().Add(wait)
		for e.g.Conns() != 1 || e.object(t, victimRoom).Conns != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("after the socket ended, the gateway holds %d sockets (want the canary alone) and the room %d", e.g.Conns(), e.object(t, victimRoom).Conns)
			}
			time.Sleep(time.Millisecond)
		}
		if n := e.g.Panics(); n != 0 {
			t.Fatalf("%d panics recovered", n)
		}
		alive(t)
	})
}

type rawFrameSeed struct {
	raw  bool
	data []byte
}

// rawFrameSeeds covers the frame-level rules of RFC 6455 section 5. Most
// are frame streams written unmasked (the harness masks them); the raw
// ones test masking itself.
func rawFrameSeeds() []rawFrameSeed {
	u := func(b0 byte, payload []byte) []byte { return encodeFrame(b0, false, 0, uint64(len(payload)), payload) }
	// uw writes the length in width bytes, declaring declared.
	uw := func(b0 byte, width int, declared uint64, payload []byte) []byte {
		return encodeFrame(b0, false, width, declared, payload)
	}
	text := func(s string) []byte { return u(fin|opText, []byte(s)) }
	closeWith := func(code uint16, reason string) []byte { return u(fin|opClose, closeBody(code, reason)) }
	var seeds []rawFrameSeed
	add := func(frames ...[]byte) { seeds = append(seeds, rawFrameSeed{false, concat(frames...)}) }
	addRaw := func(frames ...[]byte) { seeds = append(seeds, rawFrameSeed{true, concat(frames...)}) }

	// 5.1 masking, 5.3 the mask key.
	addRaw(encodeFrame(fin|opText, false, 0, 5, []byte("hello")))
	addRaw(clientFrame(fin|opText, []byte("hello")))
	addRaw([]byte{fin | opText, 0x85, 0, 0, 0, 0}, []byte("hello")) // key of zeros
	addRaw([]byte{fin | opText, 0x85, 0xff, 0xff, 0xff, 0xff}, []byte{'h' ^ 0xff, 'e' ^ 0xff, 'l' ^ 0xff, 'l' ^ 0xff, 'o' ^ 0xff})
	addRaw([]byte{fin | opText, 0x85, 0x01, 0x02}) // key cut short
	addRaw(clientFrame(fin|opText, []byte("masked")), encodeFrame(fin|opText, false, 0, 8, []byte("unmasked")))
	addRaw(encodeFrame(fin|opBinary, true, 8, 1<<63, nil))            // the crashes, as a client sends them
	addRaw(encodeFrame(fin|opBinary, true, 8, 1<<63|0x30303030, nil)) // (reader.go:104, pool.go:58)
	addRaw(encodeFrame(fin|opPing, false, 0, 0, nil))

	// 5.2 FIN, RSV, opcodes.
	add(u(fin|rsv1|opText, []byte("x")))
	add(u(fin|rsv2|opBinary, []byte("x")))
	add(u(fin|rsv3|opText, []byte("x")))
	add(u(fin|rsv1|rsv2|rsv3|opPing, nil))
	for _, op := range []byte{0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		add(u(fin|op, []byte("reserved")))
	}
	add(u(opText, []byte("never finished")))
	add(text("a"), text("b"), u(fin|opBinary, []byte{0, 1, 2}))
	// 5.2 lengths: 7, 16 and 64 bits; non-minimal; the top bit; past MaxFrame.
	add(text(strings.Repeat("x", 125)))
	add(text(strings.Repeat("x", 126)))
	add(text(strings.Repeat("x", 4<<10)))
	add(text(strings.Repeat("x", 4<<10+1)))
	add(uw(fin|opText, 2, 5, []byte("hello")))
	add(uw(fin|opText, 8, 5, []byte("hello")))
	add(uw(fin|opBinary, 8, 300, make([]byte, 300)))
	add(uw(fin|opBinary, 8, 70000, nil))
	add(uw(fin|opBinary, 8, 1<<62, nil))
	add(uw(fin|opBinary, 8, 1<<63, nil))
	add(uw(fin|opBinary, 8, 1<<63|0x30303030, nil))
	add(uw(fin|opText, 8, 1<<64-1, nil))
	add(uw(fin|opBinary, 8, 1<<63|5, []byte("hello")))
	add(uw(fin|opText, 2, 0xffff, []byte("short")))
	add([]byte{fin | opText})
	add([]byte{fin | opText, 126, 0})
	add([]byte{fin | opText, 127, 0, 0, 0})

	// 5.4 fragmentation.
	add(u(opText, []byte("hel")), u(fin|opCont, []byte("lo")))
	add(u(opBinary, []byte{1}), u(opCont, []byte{2}), u(opCont, nil), u(fin|opCont, []byte{3}))
	add(u(opText, []byte("a")), u(fin|opPing, []byte("between")), u(fin|opPong, nil), u(fin|opCont, []byte("b")))
	add(u(opText, []byte("a")), closeWith(1000, "mid-message"))
	add(u(opText, nil), u(opCont, nil), u(fin|opCont, nil))
	add(u(fin|opCont, []byte("no start")))
	add(u(opCont, []byte("no start")), u(fin|opCont, nil))
	add(u(opText, []byte("a")), u(fin|opCont, []byte("b")), u(fin|opCont, []byte("after the end")))
	add(u(opText, []byte("a")), text("b"))
	add(u(opText, []byte("a")), u(opBinary, []byte("b")), u(fin|opCont, nil))
	add(u(opBinary, make([]byte, 3000)), u(fin|opCont, make([]byte, 3000)))
	add(u(opText, []byte("a")), uw(fin|opCont, 8, 1<<63, nil))

	// 5.5 control frames.
	add(u(fin|opPing, make([]byte, 125)))
	add(uw(fin|opPing, 2, 126, make([]byte, 126)))
	add(uw(fin|opPong, 2, 126, make([]byte, 126)))
	add(uw(fin|opClose, 2, 126, closeBody(1000, strings.Repeat("r", 124))))
	add(uw(fin|opPing, 8, 0, nil))
	add(u(opPing, []byte("fragmented")), u(fin|opCont, nil))
	add(u(opClose, closeBody(1000, "")))
	add(u(opPong, nil))
	// 5.5.1 close.
	add(u(fin|opClose, nil))
	add(u(fin|opClose, []byte{0x03}))
	for _, code := range []uint16{1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999} {
		add(closeWith(code, "ok"))
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535} {
		add(closeWith(code, ""))
	}
	add(closeWith(1000, "\xff\xfe"))
	add(closeWith(1000, "\xc3"))
	add(closeWith(1000, "adieu, ça va"))
	add(closeWith(1000, strings.Repeat("r", 123)))
	add(closeWith(1000, "bye"), text("after the close"))
	// 5.5.2 ping, 5.5.3 pong.
	add(u(fin|opPing, nil))
	add(u(fin|opPing, []byte("payload")), u(fin|opPing, []byte("latest")))
	add(u(fin|opPong, []byte("unasked")))
	var pings [][]byte
	for i := range 50 {
		pings = append(pings, u(fin|opPing, []byte(strconv.Itoa(i))))
	}
	add(pings...)

	// 5.6 data frames.
	add(text(""))
	add(text("\xff"))
	add(text("\xc0\xaf"))         // overlong
	add(text("\xed\xa0\x80"))     // a surrogate
	add(text("\xf4\x90\x80\x80")) // past U+10FFFF
	add(text("ends mid-rune \xe2\x82"))
	add(u(opText, []byte{0xe2}), u(fin|opCont, []byte{0x82, 0xac}))
	add(u(opText, []byte{0xe2}), u(fin|opCont, []byte{0x28, 0xa1}))
	add(u(fin|opBinary, []byte{0xff, 0xfe, 0}))
	add(u(fin|opBinary, nil))

	// 5.8 extensibility: RSV bits and reserved opcodes on every kind.
	add(u(fin|rsv1|opClose, closeBody(1000, "")))
	add(u(rsv1|opText, []byte("a")), u(fin|rsv1|opCont, []byte("b")))
	add(u(fin|0xB, make([]byte, 126)))

	// Not WebSocket at all.
	add()
	addRaw([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	addRaw([]byte{0})
	return seeds
}
