package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/gateway"
	"github.com/torpor-dev/torpor/internal/hosttest"
)

// Clients connect, talk and leave in every way at once (close frames,
// dropped connections, sockets left open), while rooms hibernate and wake
// under them, pings run every few milliseconds, and the gateway finally
// shuts down with sockets open and handshakes in flight. Meant for -race:
// it asserts what must hold whatever the interleaving.
func TestHammer(t *testing.T) {
	eachLang(t, testHammer)
}

func testHammer(t *testing.T) {
	e := newEnv(t, host.Options{Idle: 20 * time.Millisecond},
		gateway.Options{SendQueue: 32, PingInterval: 200 * time.Millisecond}, "broadcast", "chat")
	const workers, rounds, msgs = 12, 6, 5
	rooms := []string{"/broadcast/h0", "/broadcast/h1", "/chat/h2"}
	var (
		wg     sync.WaitGroup
		failed errs
		mu     sync.Mutex
		open   []*client // sockets left open for Shutdown to close
	)
	for w := range workers {
		wg.Go(func() {
			room := rooms[w%len(rooms)]
			for r := range rounds {
				name := fmt.Sprintf("w%d-%d", w, r)
				c, resp, err := e.tryDial(room+"?name="+name, nil)
				if err != nil {
					failed.add(fmt.Errorf("%s: dial: %v (%v)", name, err, resp))
					return
				}
				for i := range msgs {
					// A write fails only if the gateway closed the socket
					// (a slow reader among fast writers): then stop.
					if c.conn.WriteString(name+" "+strconv.Itoa(i)) != nil {
						break
					}
				}
				if err := ownEchoesInOrder(c, name, msgs); err != nil {
					failed.add(err)
				}
				switch r % 3 {
				case 0:
					_ = c.conn.WriteClose(1000, []byte("bye"))
				case 1:
					_ = c.conn.NetConn().Close()
				default:
					mu.Lock()
					open = append(open, c)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	failed.check(t)

	// Handshakes race the shutdown: each either upgrades (and is then
	// closed with 1001) or is refused with 503.
	stop := make(chan struct{})
	var dialers sync.WaitGroup
	for d := range 3 {
		dialers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, resp, err := e.tryDial(fmt.Sprintf("/broadcast/late?d=%d-%d", d, i), nil)
				switch {
				case err == nil:
					select {
					case <-c.closed:
						if c.code != 1001 {
							failed.add(fmt.Errorf("late socket closed with %d %q, want 1001", c.code, c.reason))
						}
					case <-time.After(wait):
						failed.add(errors.New("late socket not closed by shutdown"))
					}
					return
				case resp != nil && resp.StatusCode != http.StatusServiceUnavailable:
					failed.add(fmt.Errorf("late dial answered %s, want 503", resp.Status))
					return
				case resp != nil:
					return
				}
			}
		})
	}
	time.Sleep(10 * time.Millisecond) // let some handshakes start; not an assertion
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.g.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	close(stop)
	dialers.Wait()
	failed.check(t)

	for _, c := range open {
		select {
		case <-c.closed:
			// 1001 from Shutdown, or 1008 if it fell behind as a reader.
			if c.code != 1001 && c.code != 1008 {
				t.Errorf("open socket closed with %d %q", c.code, c.reason)
			}
		case <-time.After(wait):
			t.Fatal("an open socket was not closed by shutdown")
		}
	}
	if n := e.g.Conns(); n != 0 {
		t.Fatalf("%d sockets left after shutdown", n)
	}
	if n := e.g.CachedFrames(); n != 0 {
		t.Fatalf("%d encoded frames left after shutdown", n)
	}
	for _, room := range append(rooms, "/broadcast/late") {
		id, _ := host.ParseObjectID(strings.TrimPrefix(room, "/"))
		hosttest.Eventually(t, id.String()+" to have no connections", func() bool {
			info, err := e.h.Object(context.Background(), id)
			if errors.Is(err, host.ErrNotFound) {
				return true // no late handshake got through
			}
			return err == nil && info.Conns == 0
		})
	}
}

// ownEchoesInOrder reads until the client's own n messages came back, in
// order, among the room's other traffic; a socket the gateway closed (as a
// slow reader) ends the check early.
func ownEchoesInOrder(c *client, name string, n int) error {
	next := 0
	for next < n {
		select {
		case f := <-c.frames:
			s := string(f.data)
			if i := strings.Index(s, name+" "); i >= 0 {
				rest := s[i+len(name)+1:]
				if j := strings.IndexAny(rest, `"`); j >= 0 {
					rest = rest[:j] // chat wraps the text in JSON
				}
				if got, err := strconv.Atoi(rest); err == nil {
					if got != next {
						return fmt.Errorf("%s: own message #%d arrived when #%d was due", name, got, next)
					}
					next++
				}
			}
		case <-c.closed:
			return nil
		case <-time.After(wait):
			return fmt.Errorf("%s: %d of %d own messages came back", name, next, n)
		}
	}
	return nil
}
