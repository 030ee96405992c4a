package host_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/internal/hosttest"
)

// Regression tests for bugs a review found, each failing before its fix.

// storage_put must copy the value: a guest may reuse its buffer for the next
// call (ABI section 14), and the store keeps the value until commit.
func TestStoragePutCopiesTheValue(t *testing.T) {
	h := newHost(t, host.Options{})
	deploy(t, h, "alias", testdata("alias.wat"))
	c := connect(t, h, "alias/x", "")
	c.ask(t, "w")
	if got := c.ask(t, "r"); got != "1" {
		t.Fatalf(`storage_get(a) = %q after storage_put(a, "1"); want "1"`, got)
	}
}

// A graceful shutdown writes the connection table even of an object whose
// last event faulted (so it had no instance to hibernate): the next process
// reports the socket that was open as closed, once.
func TestShutdownAfterFaultKeepsConnectionTable(t *testing.T) {
	for _, trap := range []bool{false, true} {
		dir := t.TempDir()
		h1 := newHost(t, host.Options{DataDir: dir})
		deploy(t, h1, "cl", testdata("closes.wat"))
		a := connect(t, h1, "cl/x", "")
		if trap {
			a.send(t, "t")
			hosttest.Eventually(t, "the fault", func() bool { return objectState(t, h1, "cl/x") == host.StateHibernated })
		}
		if err := h1.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		h2 := newHost(t, host.Options{DataDir: dir})
		b := connect(t, h2, "cl/x", "")
		b.send(t, "n")
		if n := binary.LittleEndian.Uint64(b.next(t).Data); n != 1 {
			t.Errorf("trap=%v: %d close events after the restart, want 1 (socket a was open at shutdown)", trap, n)
		}
	}
}

// A deploy landing while an object wakes must not drop the frame that woke
// it: the wake takes the new version instead.
func TestDeployDuringWakeLosesNoFrame(t *testing.T) {
	h := newHost(t, host.Options{Idle: time.Millisecond})
	a := watCounter(t)
	b := append(append([]byte{}, a...), 0, 3, 1, 'x', 0) // a custom section: another version
	deploy(t, h, "counter", func(testing.TB) []byte { return a })
	c := connect(t, h, "counter/d", "")
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			w := a
			if i%2 == 1 {
				w = b
			}
			if _, err := h.Deploy(context.Background(), "counter", w); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()
	for i := range 300 {
		if err := c.sess.Message(context.Background(), abi.Text, []byte("inc")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Frames:
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d: no reply; the frame was dropped", i)
		}
		time.Sleep(2 * time.Millisecond) // let it hibernate, so the next frame wakes it
	}
}

// Under -race: an object leaving memory must finish writing its table before
// another loop for it can start.
func TestRetireDoesNotRaceNextLoop(t *testing.T) {
	h := newHost(t, host.Options{MaxFailures: 1 << 30})
	deploy(t, h, "ct", testdata("closetrap.wat"))
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				c, err := tryConnect(h, "ct/r", "")
				if err != nil {
					t.Error(err)
					return
				}
				c.sess.Close(context.Background(), 1000, "bye")
				if i%2 == 0 {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
	}
	wg.Wait()
}

// A frame to a hibernated object is handled on the sender's goroutine; a
// Close racing that wake must wait for it and hibernate what it woke, so
// the acknowledged write and the in-memory count it went with survive the
// restart. With nothing else running, Close has only that goroutine to wait
// for; the rounds move the close through the wake.
func TestCloseDuringWakeKeepsAcknowledgedState(t *testing.T) {
	for _, p := range counters {
		t.Run(p.name, func(t *testing.T) {
			build := p.build(t)
			for round := range 6 {
				dir := t.TempDir()
				h := newHost(t, host.Options{DataDir: dir})
				deploy(t, h, "counter", func(testing.TB) []byte { return build })
				c := connect(t, h, "counter/wake", "")
				c.ask(t, "inc")
				id, _ := host.ParseObjectID("counter/wake")
				if err := h.Evict(context.Background(), id, host.EvictOptions{}); err != nil {
					t.Fatal(err)
				}
				sent := make(chan error, 1)
				go func() { sent <- c.sess.Message(context.Background(), abi.Text, []byte("inc")) }()
				time.Sleep(time.Duration(round) * 100 * time.Microsecond)
				if err := h.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				<-sent
				acked := 1 + len(c.Frames)

				h2 := newHost(t, host.Options{DataDir: dir})
				c2 := connect(t, h2, "counter/wake", "")
				count, hits := atoi(t, c2.ask(t, "get")), atoi(t, c2.ask(t, "hits"))
				if count < acked || hits != count {
					t.Fatalf("round %d: after restart count %d and hits %d, with %d increments acknowledged", round, count, hits, acked)
				}
				h2.Close(context.Background())
			}
		})
	}
}

// Session.Message lends its data: an event handled in place needs no copy,
// but one that queues must take its own, since the sender (the gateway's
// read buffer) reuses it as soon as Message returns.
func TestSenderMayReuseItsBuffer(t *testing.T) {
	const senders, each = 4, 200
	h := newHost(t, host.Options{})
	deploy(t, h, "counter", watCounter)
	var wg sync.WaitGroup
	clients := make([]*client, senders)
	for i := range clients {
		clients[i] = connect(t, h, "counter/lent", "")
	}
	for _, c := range clients {
		wg.Go(func() {
			buf := []byte("inc")
			for range each {
				if err := c.sess.Message(context.Background(), abi.Text, buf); err != nil {
					t.Error(err)
					return
				}
				copy(buf, "zzz") // what a reused read buffer holds next
				buf = []byte("inc")
			}
		})
	}
	wg.Wait()
	for _, c := range clients {
		for range each {
			if got := c.nextText(t); got == "unknown command" {
				t.Fatal("an object saw the sender's buffer after Message returned")
			}
		}
	}
	if got := clients[0].ask(t, "get"); got != fmt.Sprint(senders*each) {
		t.Errorf("count %s, want %d", got, senders*each)
	}
}
