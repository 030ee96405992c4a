package gateway_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/gateway"
	"github.com/torpor-dev/torpor/internal/hosttest"
)

// Several clients in several rooms of two plugins each send a run of
// numbered messages at once; every client receives every message of its
// room exactly once, in order per sender, and nothing from other rooms.
func TestRoomsDeliverEveryMessageOnceInOrder(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		e := newEnv(t, host.Options{}, gateway.Options{}, "chat", "broadcast")
		const perSender = 40
		rooms := []struct {
			object  string
			clients int
			// decode returns the sender and text of a room message, or ok
			// false for frames that are not one (chat's joins).
			decode func(data []byte) (from, text string, ok bool)
		}{
			{"chat/one", 3, decodeChat},
			{"chat/two", 2, decodeChat},
			{"broadcast/one", 3, decodeBroadcast},
			{"broadcast/two", 2, decodeBroadcast},
		}
		type member struct {
			c    *client
			name string
		}
		members := make([][]member, len(rooms))
		for r, room := range rooms {
			for i := range room.clients {
				name := fmt.Sprintf("r%d-u%d", r, i)
				c := e.dial(t, "/"+room.object+"?name="+name)
				if strings.HasPrefix(room.object, "chat/") {
					// Sent by the connect handler, before the upgrade
					// completed: the gateway queued it and flushed it first.
					if w := c.nextChat(t); w.Type != "welcome" || w.You != name || len(w.Members) != i+1 {
						t.Fatalf("%s: first frame %+v, want a welcome for %s with %d members", name, w, name, i+1)
					}
				}
				members[r] = append(members[r], member{c, name})
			}
		}

		var wg sync.WaitGroup
		var failed errs
		for r, room := range rooms {
			for _, m := range members[r] {
				wg.Go(func() {
					for i := range perSender {
						if err := m.c.conn.WriteString(m.name + " " + strconv.Itoa(i)); err != nil {
							failed.add(fmt.Errorf("%s: send: %v", m.name, err))
							return
						}
					}
				})
				wg.Go(func() {
					next := map[string]int{}
					want := len(members[r]) * perSender
					for got := 0; got < want; {
						var f frame
						select {
						case f = <-m.c.frames:
						case <-time.After(wait):
							failed.add(fmt.Errorf("%s: %d of %d messages, then nothing for %v", m.name, got, want, wait))
							return
						}
						from, text, ok := room.decode(f.data)
						if !ok {
							continue
						}
						seq, err := strconv.Atoi(strings.TrimPrefix(text, from+" "))
						if !strings.HasPrefix(from, fmt.Sprintf("r%d-", r)) || err != nil {
							failed.add(fmt.Errorf("%s: foreign or malformed message %q from %q", m.name, text, from))
							return
						}
						if seq != next[from] {
							failed.add(fmt.Errorf("%s: from %s got #%d, want #%d (lost, repeated or reordered)", m.name, from, seq, next[from]))
							return
						}
						next[from]++
						got++
					}
				})
			}
		}
		wg.Wait()
		failed.check(t)
		if t.Failed() {
			return
		}
		// Nothing more may come: a marker each client sends now must be the
		// next room message every client sees, so a duplicate would show.
		for r, room := range rooms {
			for _, m := range members[r] {
				m.c.send(t, m.name+" end")
				for _, o := range members[r] {
					for {
						from, text, ok := room.decode(o.c.next(t).data)
						if !ok {
							continue
						}
						if text != m.name+" end" {
							t.Fatalf("%s: got %q from %s, want %s's end marker", o.name, text, from, m.name)
						}
						break
					}
				}
			}
		}
		for r := range rooms {
			for _, m := range members[r] {
				if n := m.c.lost.Load(); n > 0 {
					t.Errorf("%s: the test dropped %d frames", m.name, n)
				}
			}
		}
	})
}

func decodeChat(data []byte) (from, text string, ok bool) {
	var m chatMsg
	if json.Unmarshal(data, &m) != nil || m.Type != "message" {
		return "", "", false
	}
	return m.From, m.Text, true
}

func decodeBroadcast(data []byte) (from, text string, ok bool) {
	from, _, ok = strings.Cut(string(data), " ")
	return from, string(data), ok
}

// A room hibernates while its sockets stay open, and the next frame wakes
// it with its state: clients see neither a close nor a gap.
func TestHibernationKeepsSocketsOpen(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		e := newEnv(t, host.Options{Idle: 50 * time.Millisecond}, gateway.Options{}, "chat", "counter")

		t.Run("chat", func(t *testing.T) {
			a := e.dial(t, "/chat/nap?name=a")
			a.nextChatOf(t, "welcome")
			b := e.dial(t, "/chat/nap?name=b")
			b.nextChatOf(t, "welcome")
			a.send(t, "before")
			for _, c := range []*client{a, b} {
				if m := c.nextChatOf(t, "message"); m.Text != "before" {
					t.Fatalf("got %+v, want the message before", m)
				}
			}
			e.waitHibernated(t, "chat/nap")
			b.send(t, "after")
			for _, c := range []*client{a, b} {
				if m := c.nextChatOf(t, "message"); m.Text != "after" || m.From != "b" {
					t.Fatalf("got %+v, want b's message after the wake", m)
				}
			}
			e.waitHibernated(t, "chat/nap")
			// The history lives in the snapshot: a newcomer sees both.
			c := e.dial(t, "/chat/nap?name=c")
			w := c.nextChatOf(t, "welcome")
			if len(w.History) != 2 || w.History[0].Text != "before" || w.History[1].Text != "after" {
				t.Fatalf("history after two hibernations: %+v", w.History)
			}
			if a.isClosed() || b.isClosed() {
				t.Fatal("a socket closed across hibernation")
			}
			if n := e.g.Conns(); n != 3 {
				t.Fatalf("gateway holds %d sockets, want 3", n)
			}
		})

		t.Run("counter", func(t *testing.T) {
			c := e.dial(t, "/counter/nap")
			ask := func(cmd, want string) {
				t.Helper()
				c.send(t, cmd)
				if got := c.nextText(t); got != want {
					t.Fatalf("%s: got %q, want %q", cmd, got, want)
				}
			}
			ask("inc", "1")
			e.waitHibernated(t, "counter/nap")
			ask("hits", "1") // in-memory state, restored from the snapshot
			ask("inc", "2")
			e.waitHibernated(t, "counter/nap")
			ask("inc", "3")
			if c.isClosed() {
				t.Fatal("socket closed across hibernation")
			}
		})
	})
}

// The host answers chat's "ping" with "pong" from the auto-response table
// without waking the hibernated room.
func TestAutoResponseWhileHibernated(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		e := newEnv(t, host.Options{Idle: 50 * time.Millisecond}, gateway.Options{}, "chat")
		c := e.dial(t, "/chat/auto?name=a")
		c.nextChatOf(t, "welcome")
		e.waitHibernated(t, "chat/auto")

		for range 3 {
			c.send(t, "ping")
			if got := c.nextText(t); got != "pong" {
				t.Fatalf("got %q, want pong", got)
			}
		}
		if st := e.object(t, "chat/auto").State; st != host.StateHibernated {
			t.Fatalf("after the pings the room is %s, want still hibernated", st)
		}
		// Had a ping reached the room, chat would have broadcast it as a
		// message; the next message must be this one.
		c.send(t, "hello")
		if m := c.nextChatOf(t, "message"); m.Text != "hello" {
			t.Fatalf("got %+v, want hello: the room saw a ping", m)
		}
	})
}

// Each kind of bad input gets its own clear answer, while another room
// carries on as if nothing happened.
func TestBadInput(t *testing.T) {
	e := newEnv(t, host.Options{}, gateway.Options{
		MaxFrame:       64 << 10,
		SendQueue:      64,
		AllowedOrigins: []string{"https://good.example"},
	}, "chat", "broadcast")
	healthy := e.dial(t, "/broadcast/healthy")
	beats := 0
	stillWorks := func(t *testing.T) {
		t.Helper()
		beats++
		msg := "beat " + strconv.Itoa(beats)
		healthy.send(t, msg)
		if got := healthy.nextText(t); got != msg {
			t.Fatalf("healthy room answered %q, want %q", got, msg)
		}
	}

	// A witness in the same chat room sees the victim leave: proof that the
	// host heard of the close.
	t.Run("frames", func(t *testing.T) {
		for i, tc := range []struct {
			name string
			send func(*gws.Conn) error
			code uint16
		}{
			{"oversize text", func(c *gws.Conn) error { return c.WriteString(strings.Repeat("x", 64<<10+1)) }, 1009},
			{"oversize binary", func(c *gws.Conn) error { return c.WriteMessage(gws.OpcodeBinary, make([]byte, 128<<10)) }, 1009},
			{"invalid UTF-8 text", func(c *gws.Conn) error { return c.WriteMessage(gws.OpcodeText, []byte{'o', 'k', 0xff, 0xfe}) }, 1007},
		} {
			t.Run(tc.name, func(t *testing.T) {
				room := fmt.Sprintf("/chat/bad-%d", i)
				witness := e.dial(t, room+"?name=witness")
				witness.nextChatOf(t, "welcome")
				victim := e.dial(t, room+"?name=victim")
				victim.nextChatOf(t, "welcome")
				witness.nextChatOf(t, "join")
				// The server may close before the client is done writing;
				// the close frame is what counts.
				_ = tc.send(victim.conn)
				if code, reason := victim.waitClose(t); code != tc.code {
					t.Fatalf("closed with %d %q, want %d", code, reason, tc.code)
				}
				if m := witness.nextChatOf(t, "leave"); m.Name != "victim" {
					t.Fatalf("witness saw %+v, want victim's leave", m)
				}
				stillWorks(t)
			})
		}
	})

	t.Run("refused", func(t *testing.T) {
		withHeader := func(k, v string) http.Header {
			h := upgradeHeader()
			if v == "" {
				h.Del(k)
			} else {
				h.Set(k, v)
			}
			return h
		}
		for _, tc := range []struct {
			name, method, path string
			header             http.Header
			status             int
			body               string // a part of the body that names the cause
		}{
			{"refused by the room", "GET", "/chat/r?name=admin", upgradeHeader(), 403, "name reserved"},
			{"refused by the room with 400", "GET", "/chat/r?name=" + strings.Repeat("n", 40), upgradeHeader(), 400, "name too long"},
			{"unknown plugin", "GET", "/nosuch/r", upgradeHeader(), 404, `unknown plugin "nosuch"`},
			{"host route", "GET", "/_admin/objects", upgradeHeader(), 404, "not found"},
			{"one segment", "GET", "/chat", upgradeHeader(), 404, "not found"},
			{"three segments", "GET", "/chat/r/x", upgradeHeader(), 404, "not found"},
			{"trailing slash", "GET", "/chat/r/", upgradeHeader(), 404, "not found"},
			{"bad object name", "GET", "/chat/a%20b", upgradeHeader(), 400, "object name"},
			{"bad plugin name", "GET", "/Chat/r", upgradeHeader(), 400, "plugin name"},
			{"plain GET", "GET", "/chat/r", nil, 426, "WebSocket endpoint"},
			{"POST", "POST", "/chat/r", upgradeHeader(), 405, "GET"},
			{"WebSocket version 8", "GET", "/chat/r", withHeader("Sec-Websocket-Version", "8"), 426, "version"},
			{"no key", "GET", "/chat/r", withHeader("Sec-Websocket-Key", ""), 400, "Sec-WebSocket-Key"},
			{"foreign origin", "GET", "/chat/r", withHeader("Origin", "https://evil.example"), 403, "origin not allowed"},
			{"allowed origin", "GET", "/chat/r", withHeader("Origin", "https://good.example"), 101, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := e.handshake(t, tc.method, tc.path, tc.header)
				if status != tc.status || !strings.Contains(body, tc.body) {
					t.Fatalf("got %d %q, want %d with %q", status, body, tc.status, tc.body)
				}
				stillWorks(t)
			})
		}
		// No refused connect left a connection behind in the room.
		hosttest.Eventually(t, "chat/r to hold only the allowed connection", func() bool {
			return e.object(t, "chat/r").Conns <= 1
		})
	})

	// A client that completes the upgrade and then never reads, in a room
	// that floods it, is closed by its send queue's bound; the flood's
	// bytes far exceed what the gateway's heap ever holds.
	t.Run("slow reader", func(t *testing.T) {
		flooder := e.dial(t, "/broadcast/flood")
		stuck := e.rawUpgrade(t, "/broadcast/flood")
		hosttest.Eventually(t, "both sockets in the room", func() bool { return e.object(t, "broadcast/flood").Conns == 2 })

		base := liveHeap()
		payload := strings.Repeat("x", 32<<10)
		const frames = 2048 // 64 MiB through the room
		peak := base
		for i := range frames {
			msg := strconv.Itoa(i) + " " + payload
			flooder.send(t, msg)
			if got := flooder.nextText(t); got != msg {
				t.Fatalf("flooder got frame %.20q, want %.20q", got, msg)
			}
			if i%128 == 127 {
				peak = max(peak, liveHeap())
			}
		}
		growth := int64(peak) - int64(base)
		t.Logf("flooded %d MiB; live heap grew at most %.1f MiB over %.1f MiB", frames*len(payload)>>20, float64(growth)/(1<<20), float64(base)/(1<<20))
		if n := e.g.SlowReaders(); n != 1 {
			t.Fatalf("slow-reader closes: %d, want 1 (stalled: %d)", n, e.g.Stalled())
		}
		drainUntilClosed(t, stuck)
		hosttest.Eventually(t, "the host to forget the slow reader", func() bool { return e.object(t, "broadcast/flood").Conns == 1 })
		// Unbounded, the stuck socket holds the whole flood, frames and
		// encodings: 200 MiB of live heap when this was measured.
		if limit := int64(32 << 20); growth > limit {
			t.Fatalf("live heap grew %d MiB while flooding a stuck reader, limit %d MiB", growth>>20, limit>>20)
		}
		stillWorks(t)
	})

	// A client that never finishes its handshake is cut by the server's
	// ReadHeaderTimeout (which also bounds the TLS handshake).
	t.Run("handshake never completes", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			start func(t *testing.T, tcp net.Conn) net.Conn
		}{
			{"silent TCP", func(t *testing.T, tcp net.Conn) net.Conn { return tcp }},
			{"TLS then half a request", func(t *testing.T, tcp net.Conn) net.Conn {
				c := tls.Client(tcp, &tls.Config{RootCAs: e.roots, ServerName: "127.0.0.1"})
				if err := c.Handshake(); err != nil {
					t.Fatal(err)
				}
				if _, err := io.WriteString(c, "GET /chat/slow HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"); err != nil {
					t.Fatal(err)
				}
				return c
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tcp, err := net.Dial("tcp", e.srv.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer tcp.Close()
				start := time.Now()
				c := tc.start(t, tcp)
				drainUntilClosed(t, c)
				if took, limit := time.Since(start), readHeaderTimeout+time.Second; took > limit {
					t.Fatalf("closed after %v, want within %v", took, limit)
				}
				stillWorks(t)
			})
		}
	})
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// The host's own refusals reach the client as HTTP answers.
func TestHostRefusals(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		e := newEnv(t, host.Options{Limits: host.Limits{ConnsPerObject: 1}}, gateway.Options{}, "counter", "trapper")

		t.Run("too many connections", func(t *testing.T) {
			c := e.dial(t, "/counter/full")
			status, body := e.handshake(t, "GET", "/counter/full", upgradeHeader())
			if status != 503 || !strings.Contains(body, "too many connections") {
				t.Fatalf("got %d %q, want 503 naming too many connections", status, body)
			}
			c.send(t, "inc")
			if got := c.nextText(t); got != "1" {
				t.Fatalf("first socket got %q", got)
			}
		})

		t.Run("failed object", func(t *testing.T) {
			c := e.dial(t, "/trapper/doomed")
			for range 3 { // MaxFailures
				c.send(t, "trap")
			}
			// The host closes a failed object's sockets through Conn.Close.
			if code, reason := c.waitClose(t); code != 1011 || reason != "object failed" {
				t.Fatalf("closed with %d %q, want 1011 object failed", code, reason)
			}
			status, body := e.handshake(t, "GET", "/trapper/doomed", upgradeHeader())
			if status != 503 || !strings.Contains(body, "object failed") {
				t.Fatalf("got %d %q, want 503 naming the failed object", status, body)
			}
		})
	})
}

// An object's close reaches the client with its code and reason, and the
// gateway does not report it back.
func TestObjectClosesSocket(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		e := newEnv(t, host.Options{}, gateway.Options{}, "counter")
		c := e.dial(t, "/counter/evicted")
		c.send(t, "inc")
		if got := c.nextText(t); got != "1" {
			t.Fatalf("got %q", got)
		}
		id := host.ObjectID{Plugin: "counter", Name: "evicted"}
		if err := e.h.Evict(context.Background(), id, host.EvictOptions{Close: true, Code: 4001, Reason: "bye"}); err != nil {
			t.Fatal(err)
		}
		if code, reason := c.waitClose(t); code != 4001 || reason != "bye" {
			t.Fatalf("closed with %d %q, want 4001 bye", code, reason)
		}
		hosttest.Eventually(t, "the gateway to let the socket go", func() bool { return e.g.Conns() == 0 })
	})
}

// The gateway pings; a peer that answers stays, one that says nothing for
// two ping intervals is closed and the host told.
func TestKeepalive(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		const interval = 50 * time.Millisecond
		// A queue too long to overflow here: only the stall check can close
		// the reader that does not read.
		e := newEnv(t, host.Options{}, gateway.Options{PingInterval: interval, SendQueue: 1 << 20, SendQueueBytes: 1 << 30}, "broadcast")

		t.Run("answering peer stays", func(t *testing.T) {
			c := e.dial(t, "/broadcast/alive")
			hosttest.Eventually(t, "five pings", func() bool { return c.pings.Load() >= 5 })
			c.send(t, "still here")
			if got := c.nextText(t); got != "still here" {
				t.Fatalf("got %q", got)
			}
		})

		t.Run("silent peer is closed", func(t *testing.T) {
			conn := e.rawUpgrade(t, "/broadcast/silent")
			took := drainUntilClosed(t, conn) // reads the pings, never answers
			if took < 2*interval {
				t.Fatalf("closed after %v, before two ping intervals", took)
			}
			hosttest.Eventually(t, "the host to forget the silent peer", func() bool {
				return e.object(t, "broadcast/silent").Conns == 0
			})
		})
		t.Run("peer that sends but never reads", func(t *testing.T) {
			flooder := e.dial(t, "/broadcast/stall")
			stuck := e.rawUpgrade(t, "/broadcast/stall")
			hosttest.Eventually(t, "both sockets in the room", func() bool { return e.object(t, "broadcast/stall").Conns == 2 })
			// The stuck peer pings, so it is not silent; it just never reads.
			stop, pinged := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(pinged)
				tick := time.NewTicker(interval / 3)
				defer tick.Stop()
				ping := []byte{0x89, 0x80, 0, 0, 0, 0} // FIN ping, masked, empty
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := stuck.Write(ping); err != nil {
							return
						}
					}
				}
			}()
			payload := strings.Repeat("x", 32<<10)
			for i := 0; i < 1024 && e.g.Stalled() == 0; i++ { // enough to fill the kernel's buffers
				msg := strconv.Itoa(i) + " " + payload
				flooder.send(t, msg)
				if got := flooder.nextText(t); got != msg {
					t.Fatalf("flooder got %.20q, want %.20q", got, msg)
				}
			}
			hosttest.Eventually(t, "the stall check to close the reader", func() bool { return e.g.Stalled() == 1 })
			close(stop)
			<-pinged
			drainUntilClosed(t, stuck)
			hosttest.Eventually(t, "the host to forget the stuck reader", func() bool { return e.object(t, "broadcast/stall").Conns == 1 })
			if n := e.g.SlowReaders(); n != 0 {
				t.Fatalf("%d queue overflows; the stall check should have acted alone", n)
			}
			flooder.send(t, "after")
			if got := flooder.nextText(t); got != "after" {
				t.Fatalf("flooder got %q", got)
			}
		})
	})
}

// Shutdown closes every socket with 1001, the host hears of each, and new
// upgrades are refused.
func TestShutdown(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		e := newEnv(t, host.Options{}, gateway.Options{}, "chat", "broadcast")
		rooms := map[string]int{"chat/s1": 3, "chat/s2": 2, "broadcast/s3": 2}
		var clients []*client
		for room, n := range rooms {
			for i := range n {
				c := e.dial(t, fmt.Sprintf("/%s?name=u%d", room, i))
				c.send(t, "hello")
				clients = append(clients, c)
			}
		}
		// The gateway registers a socket just after writing its 101, which the
		// client may have read already.
		hosttest.Eventually(t, fmt.Sprintf("the gateway to hold %d sockets", len(clients)), func() bool {
			return e.g.Conns() == len(clients)
		})

		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := e.g.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		for _, c := range clients {
			if code, reason := c.waitClose(t); code != 1001 {
				t.Fatalf("closed with %d %q, want 1001", code, reason)
			}
		}
		if n := e.g.Conns(); n != 0 {
			t.Fatalf("gateway holds %d sockets after shutdown", n)
		}
		for room := range rooms {
			hosttest.Eventually(t, room+" to have no connections", func() bool { return e.object(t, room).Conns == 0 })
		}
		if status, body := e.handshake(t, "GET", "/chat/s1", upgradeHeader()); status != 503 || !strings.Contains(body, "shutting down") {
			t.Fatalf("after shutdown: %d %q, want 503", status, body)
		}
		if err := e.g.Shutdown(ctx); err != nil {
			t.Fatalf("second shutdown: %v", err)
		}
		if n := e.g.CachedFrames(); n != 0 {
			t.Fatalf("%d encoded frames still cached", n)
		}
	})
}

// The send queue is bounded in bytes as well as frames: a reader that stops
// reading large frames is closed by the byte budget long before the frame
// count would act.
func TestSlowReaderByteBudget(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		e := newEnv(t, host.Options{}, gateway.Options{SendQueue: 1 << 20, SendQueueBytes: 512 << 10}, "broadcast")
		flooder := e.dial(t, "/broadcast/bytes")
		stuck := e.rawUpgrade(t, "/broadcast/bytes")
		hosttest.Eventually(t, "both sockets in the room", func() bool { return e.object(t, "broadcast/bytes").Conns == 2 })
		payload := strings.Repeat("x", 32<<10)
		for i := 0; i < 2048 && e.g.SlowReaders() == 0; i++ { // 64 MiB at most
			msg := strconv.Itoa(i) + " " + payload
			flooder.send(t, msg)
			if got := flooder.nextText(t); got != msg {
				t.Fatalf("flooder got %.20q, want %.20q", got, msg)
			}
		}
		if n := e.g.SlowReaders(); n != 1 {
			t.Fatalf("slow-reader closes: %d, want 1", n)
		}
		drainUntilClosed(t, stuck)
		hosttest.Eventually(t, "the host to forget the slow reader", func() bool { return e.object(t, "broadcast/bytes").Conns == 1 })
	})
}

// At MaxConns open sockets the gateway answers 503 with Retry-After before
// any plugin code runs; a closed socket frees its place.
func TestMaxConns(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		e := newEnv(t, host.Options{}, gateway.Options{MaxConns: 2}, "broadcast")
		a := e.dial(t, "/broadcast/full")
		e.dial(t, "/broadcast/full")
		_, resp, err := e.tryDial("/broadcast/full", nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("third socket: err %v, response %v; want 503 with Retry-After", err, resp)
		}
		a.conn.WriteClose(1000, nil)
		hosttest.Eventually(t, "the closed socket to free its place", func() bool {
			c, _, err := e.tryDial("/broadcast/full", nil)
			if err != nil {
				return false
			}
			c.conn.WriteClose(1000, nil)
			return true
		})
	})
}
