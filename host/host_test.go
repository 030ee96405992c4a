package host_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/internal/hosttest"
)

// Many objects of one plugin run side by side with their own state; each
// object's events run one at a time, so concurrent increments are never lost
// and every connection sees its own replies in order.
func TestObjectsAreIsolatedAndSerial(t *testing.T) {
	for _, p := range counters {
		t.Run(p.name, func(t *testing.T) {
			h := newHost(t, host.Options{})
			deploy(t, h, "counter", p.build)
			const objects, connsPer, incs = 8, 4, 50
			var wg sync.WaitGroup
			errs := make(chan error, objects*connsPer)
			for o := range objects {
				for range connsPer {
					c := connect(t, h, fmt.Sprintf("counter/room-%d", o), "")
					wg.Add(1)
					go func() {
						defer wg.Done()
						last := 0
						for range incs {
							ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
							err := c.sess.Message(ctx, abi.Text, []byte("inc"))
							cancel()
							if err != nil {
								errs <- err
								return
							}
							select {
							case f := <-c.Frames:
								n, err := strconv.Atoi(string(f.Data))
								if err != nil || n <= last {
									errs <- fmt.Errorf("reply %q after %d: not increasing", f.Data, last)
									return
								}
								last = n
							case <-time.After(10 * time.Second):
								errs <- errors.New("no reply")
								return
							}
						}
					}()
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for o := range objects {
				c := connect(t, h, fmt.Sprintf("counter/room-%d", o), "")
				if got := atoi(t, c.ask(t, "get")); got != connsPer*incs {
					t.Errorf("room-%d count = %d, want %d", o, got, connsPer*incs)
				}
				if got := atoi(t, c.ask(t, "hits")); got != connsPer*incs {
					t.Errorf("room-%d hits = %d, want %d", o, got, connsPer*incs)
				}
			}
		})
	}
}

// Every sender's frames reach every receiver exactly once and in order,
// while several senders write to one room at once.
func TestBroadcastKeepsPerConnectionOrder(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		h := newHost(t, host.Options{})
		deploy(t, h, "broadcast", broadcast)
		const senders, each = 4, 100
		clients := make([]*client, senders)
		for i := range clients {
			clients[i] = connect(t, h, "broadcast/lobby", "")
		}
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range each {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					if err := c.sess.Message(ctx, abi.Text, fmt.Appendf(nil, "%d:%d", i, n)); err != nil {
						t.Error(err)
					}
					cancel()
				}
			}()
		}
		wg.Wait()
		for r, c := range clients {
			next := make([]int, senders)
			for range senders * each {
				var from, n int
				if _, err := fmt.Sscanf(c.nextText(t), "%d:%d", &from, &n); err != nil {
					t.Fatal(err)
				}
				if n != next[from] {
					t.Fatalf("receiver %d: from sender %d got %d, want %d", r, from, n, next[from])
				}
				next[from]++
			}
			c.quiet(t, 20*time.Millisecond)
		}
	})
}

// After Idle the instance is gone but the sockets, their ids, attachments and
// tags stay; the next frame wakes the object with its state intact, and no
// client sees a close.
func TestHibernationKeepsSocketsAndState(t *testing.T) {
	for _, p := range counters {
		t.Run(p.name, func(t *testing.T) {
			h := newHost(t, host.Options{Idle: 50 * time.Millisecond})
			deploy(t, h, "counter", p.build)
			a := connect(t, h, "counter/nap", "")
			b := connect(t, h, "counter/nap", "")
			for i := 1; i <= 3; i++ {
				if got := atoi(t, a.ask(t, "inc")); got != i {
					t.Fatalf("inc %d replied %d", i, got)
				}
			}
			hosttest.Eventually(t, "hibernation", func() bool { return objectState(t, h, "counter/nap") == host.StateHibernated })
			info := inspect(t, h, "counter/nap")
			if info.Conns != 2 || len(info.Connections) != 2 {
				t.Fatalf("hibernated object has %d connections, want 2", info.Conns)
			}
			if info.SnapshotSize != 8 {
				t.Errorf("snapshot is %d bytes, want 8", info.SnapshotSize)
			}
			if got := atoi(t, b.ask(t, "hits")); got != 3 {
				t.Errorf("hits after wake = %d, want 3 (in-memory state lost)", got)
			}
			if objectState(t, h, "counter/nap") != host.StateLive {
				t.Error("object did not wake")
			}
			for _, c := range []*client{a, b} {
				if closed, code := c.isClosed(); closed {
					t.Errorf("a client saw a close (%d)", code)
				}
			}
		})
	}
}

func TestChatHibernationKeepsAttachmentsTagsAndHistory(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		h := newHost(t, host.Options{Idle: 50 * time.Millisecond})
		deploy(t, h, "chat", chat)
		ann := connect(t, h, "chat/room", "name=ann")
		if got := ann.nextText(t); !strings.Contains(got, `"welcome"`) || !strings.Contains(got, `"you":"ann"`) {
			t.Fatalf("welcome = %s", got)
		}
		ann.send(t, "hello before sleep")
		if got := ann.nextText(t); !strings.Contains(got, "hello before sleep") {
			t.Fatalf("echo = %s", got)
		}
		hosttest.Eventually(t, "hibernation", func() bool { return objectState(t, h, "chat/room") == host.StateHibernated })
		info := inspect(t, h, "chat/room")
		if len(info.Connections) != 1 || len(info.Connections[0].Tags) != 1 || info.Connections[0].Tags[0] != "chat" ||
			info.Connections[0].AttachmentSize != len("ann") || info.Connections[0].ID != ann.sess.ID() {
			t.Fatalf("connection table after hibernation = %+v", info.Connections)
		}
		// Auto-responses are answered without waking the object.
		if got := ann.ask(t, "ping"); got != "pong" {
			t.Fatalf("auto-response = %q", got)
		}
		if objectState(t, h, "chat/room") != host.StateHibernated {
			t.Fatal("auto-response woke the object")
		}
		bob := connect(t, h, "chat/room", "name=bob")
		welcome := bob.nextText(t)
		for _, want := range []string{`"ann"`, `"bob"`, "hello before sleep"} {
			if !strings.Contains(welcome, want) {
				t.Errorf("welcome after wake lacks %s: %s", want, welcome)
			}
		}
		if got := ann.nextText(t); !strings.Contains(got, `"join"`) || !strings.Contains(got, "bob") {
			t.Errorf("ann saw %s, want bob's join", got)
		}
		if closed, _ := ann.isClosed(); closed {
			t.Error("ann saw a close")
		}
	})
}

// Writes followed by a trap in the same handler leave no write and no frame
// behind; the object is rebuilt and answers the next event.
func TestTrapDiscardsWritesAndFrames(t *testing.T) {
	for _, p := range counters {
		t.Run(p.name, func(t *testing.T) {
			h := newHost(t, host.Options{})
			deploy(t, h, "counter", p.build)
			c := connect(t, h, "counter/t", "")
			c.ask(t, "inc")
			c.send(t, "trap")
			if got := c.ask(t, "get"); got != "1" {
				t.Fatalf("count after trap = %s, want 1 (the trapped write leaked)", got)
			}
			if closed, _ := c.isClosed(); closed {
				t.Fatal("a trap closed the socket")
			}
		})
	}
}

// A reopened host has every committed write, the snapshot taken at shutdown
// and the alarm, which fires after the restart.
func TestRestartKeepsStorageSnapshotAndAlarm(t *testing.T) {
	for _, p := range counters {
		t.Run(p.name, func(t *testing.T) {
			dir := t.TempDir()
			h := newHost(t, host.Options{DataDir: dir})
			deploy(t, h, "counter", p.build)
			c := connect(t, h, "counter/durable", "")
			c.ask(t, "inc")
			c.ask(t, "inc")
			if got := c.ask(t, "alarm"); got != "alarm set" {
				t.Fatalf("alarm reply %q", got)
			}
			if err := h.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			h2 := newHost(t, host.Options{DataDir: dir})
			// The alarm may fire, and broadcast "alarm", at any moment now.
			c2 := connect(t, h2, "counter/durable", "")
			if got := c2.askPast(t, "get", "alarm"); got != "2" {
				t.Errorf("count after restart = %s, want 2", got)
			}
			if got := c2.askPast(t, "hits", "alarm"); got != "2" {
				t.Errorf("hits after restart = %s, want 2 (snapshot lost)", got)
			}
			hosttest.Eventually(t, "alarm to fire after restart", func() bool {
				return c2.askPast(t, "alarms", "alarm") == "1"
			})
		})
	}
}

// A plugin's connect handler can refuse with a status and a reason, and the
// host refuses unknown plugins and bad names before any plugin code runs.
func TestConnectRefusals(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		h := newHost(t, host.Options{})
		deploy(t, h, "chat", chat)
		tests := []struct {
			name, object, query string
			status              int
			reason              string
			err                 error
		}{
			{name: "reserved name", object: "chat/r", query: "name=admin", status: 403, reason: "name reserved"},
			{name: "long name", object: "chat/r", query: "name=" + strings.Repeat("x", 40), status: 400, reason: "name too long"},
			{name: "unknown plugin", object: "nope/r", err: host.ErrUnknownPlugin},
			{name: "bad object name", object: "chat/a b", err: host.ErrInvalidName},
			{name: "reserved plugin name", object: "_admin/x", err: host.ErrInvalidName},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := tryConnect(h, tt.object, tt.query)
				if tt.err != nil {
					if !errors.Is(err, tt.err) {
						t.Fatalf("err = %v, want %v", err, tt.err)
					}
					return
				}
				var rej *host.RejectError
				if !errors.As(err, &rej) {
					t.Fatalf("err = %v, want a rejection", err)
				}
				if rej.Status != tt.status || !strings.Contains(rej.Reason, tt.reason) {
					t.Fatalf("rejected with %d %q, want %d %q", rej.Status, rej.Reason, tt.status, tt.reason)
				}
			})
		}
		// A refused connection leaves no trace in the room.
		ok := connect(t, h, "chat/r", "name=carol")
		if got := ok.nextText(t); !strings.Contains(got, `"members":["carol"]`) {
			t.Fatalf("welcome = %s", got)
		}
	})
}

// Sockets that were open when the host stopped are reported closed to the
// object after the restart, so rooms do not keep ghosts.
func TestRestartClosesOrphanedConnections(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		dir := t.TempDir()
		h := newHost(t, host.Options{DataDir: dir})
		deploy(t, h, "chat", chat)
		ghost := connect(t, h, "chat/r", "name=ghost")
		ghost.nextText(t)
		if err := h.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		h2 := newHost(t, host.Options{DataDir: dir})
		c := connect(t, h2, "chat/r", "name=live")
		if got := c.nextText(t); !strings.Contains(got, `"members":["live"]`) {
			t.Fatalf("welcome after restart = %s (ghost still listed?)", got)
		}
	})
}

// A plugin that traps on every frame reaches MaxFailures even though each
// rebuild runs its restore handler successfully: the object is marked failed
// and its sockets closed with 1011.
func TestRepeatedTrapsMarkObjectFailed(t *testing.T) {
	for _, p := range counters {
		t.Run(p.name, func(t *testing.T) {
			h := newHost(t, host.Options{})
			deploy(t, h, "counter", p.build)
			c := connect(t, h, "counter/doomed", "")
			for range 3 {
				c.send(t, "trap")
			}
			select {
			case <-c.Done:
			case <-time.After(10 * time.Second):
				t.Fatal("three traps in a row did not close the socket")
			}
			if _, code := c.isClosed(); code != 1011 {
				t.Fatalf("close code %d, want 1011", code)
			}
			if st := objectState(t, h, "counter/doomed"); st != host.StateFailed {
				t.Fatalf("state %s, want failed", st)
			}
		})
	}
}
