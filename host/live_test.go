package host_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
)

// A hammer of wakes across four times more objects than the live budget
// holds: the budget is never passed, no wake gives up waiting for room, and
// no increment or in-memory hit is lost across the hibernations that make
// room (each goes through the snapshot path).
func TestLiveBudgetHoldsUnderWakeHammer(t *testing.T) {
	// The WAT counter's instance: one 64 KiB page plus the fixed overhead
	// the budget charges; the memory case fits three of them.
	const watInstance = 64<<10 + 256<<10
	cases := []struct {
		name   string
		build  func(testing.TB) []byte
		opts   host.Options
		within func(host.LiveStats) bool
	}{
		{"objects/go", goCounter, host.Options{LiveObjects: 3}, func(s host.LiveStats) bool { return s.Objects <= 3 }},
		{"objects/wat", watCounter, host.Options{LiveObjects: 3}, func(s host.LiveStats) bool { return s.Objects <= 3 }},
		{"memory/wat", watCounter, host.Options{LiveMemory: 3 * watInstance}, func(s host.LiveStats) bool { return s.Memory <= 3*watInstance }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, tc.opts)
			deploy(t, h, "counter", tc.build)
			const objects, workers, rounds = 12, 4, 6
			var over atomic.Value
			stop := make(chan struct{})
			var sampler sync.WaitGroup
			sampler.Add(1)
			go func() {
				defer sampler.Done()
				for {
					if s := h.Stats().Live; !tc.within(s) {
						over.CompareAndSwap(nil, fmt.Sprintf("%+v", s))
					}
					select {
					case <-stop:
						return
					case <-time.After(200 * time.Microsecond):
					}
				}
			}()
			// Every worker has a socket in every room and visits them in
			// its own order, so wakes race each other and the evictor.
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				conns := make([]*client, objects)
				for o := range objects {
					conns[o] = connect(t, h, fmt.Sprintf("counter/r%d", o), "")
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := range rounds * objects {
						c := conns[(r*(w+1)+w)%objects]
						ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
						err := c.sess.Message(ctx, abi.Text, []byte("inc"))
						cancel()
						if err == nil {
							select {
							case <-c.Frames:
							case <-time.After(20 * time.Second):
								err = fmt.Errorf("no reply from %s", c.sess.Object())
							}
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(stop)
			sampler.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if v := over.Load(); v != nil {
				t.Errorf("the live budget was passed: %s", v)
			}
			total := 0
			for o := range objects {
				c := connect(t, h, fmt.Sprintf("counter/r%d", o), "")
				n := atoi(t, c.ask(t, "get"))
				if hits := atoi(t, c.ask(t, "hits")); hits != n {
					t.Errorf("r%d: hits %d (in memory, kept by snapshots) != count %d (in storage)", o, hits, n)
				}
				total += n
			}
			if total != workers*rounds*objects {
				t.Errorf("%d increments counted, want %d", total, workers*rounds*objects)
			}
			s := h.Stats().Live
			m := h.Metrics()
			if m.Hibernations[host.HibernateBudget] == 0 {
				t.Errorf("no hibernation for the budget across %d objects: %+v", objects, s)
			}
			if s.Overruns != 0 || m.WakeFailures != 0 {
				t.Errorf("%d wakes went past the budget, %d failed: %+v", s.Overruns, m.WakeFailures, s)
			}
		})
	}
}

// The evictor takes the least recently active object, and its record says
// that the budget hibernated it and why.
func TestLiveBudgetHibernatesLeastRecentlyActive(t *testing.T) {
	h := newHost(t, host.Options{LiveObjects: 3})
	deploy(t, h, "counter", watCounter)
	a := connect(t, h, "counter/a", "")
	b := connect(t, h, "counter/b", "")
	c := connect(t, h, "counter/c", "")
	for _, cl := range []*client{b, c, a} { // a is now the most recent, b the least
		cl.ask(t, "inc")
		time.Sleep(5 * time.Millisecond) // distinct activity times, whatever the clock's grain
	}
	d := connect(t, h, "counter/d", "")
	if got := d.ask(t, "inc"); got != "1" {
		t.Fatalf("d replied %q, want 1", got)
	}
	want := map[string]host.State{"counter/a": host.StateLive, "counter/b": host.StateHibernated, "counter/c": host.StateLive, "counter/d": host.StateLive}
	for obj, st := range want {
		if got := objectState(t, h, obj); got != st {
			t.Errorf("%s is %s, want %s", obj, got, st)
		}
	}
	info := inspect(t, h, "counter/b")
	if !strings.HasPrefix(info.HibernatedWhy, "budget: ") || !strings.Contains(info.HibernatedWhy, "limit 3") {
		t.Errorf("b's record says it hibernated for %q, want the budget named", info.HibernatedWhy)
	}
	// Its socket stayed open and its state came through the snapshot.
	if got := b.ask(t, "hits"); got != "1" {
		t.Errorf("b's hits after waking = %q, want 1", got)
	}
}

// A close reaching a hibernated object whose plugin has no close handler
// does not wake it; closes to one whose plugin has one are all delivered in
// one wake.
func TestCloseWakesOnlyObjectsThatListen(t *testing.T) {
	eachLang(t, func(t *testing.T) {
		h := newHost(t, host.Options{})
		deploy(t, h, "broadcast", broadcast)
		deploy(t, h, "chat", chat)
		evict := func(obj string) {
			t.Helper()
			id, _ := host.ParseObjectID(obj)
			if err := h.Evict(context.Background(), id, host.EvictOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		closeAll := func(cs ...*client) {
			t.Helper()
			for _, c := range cs {
				if err := c.sess.Close(context.Background(), 1000, "bye"); err != nil {
					t.Fatal(err)
				}
			}
		}

		b1, b2, b3 := connect(t, h, "broadcast/r", ""), connect(t, h, "broadcast/r", ""), connect(t, h, "broadcast/r", "")
		evict("broadcast/r")
		wakes := h.Metrics().Wakes
		closeAll(b1, b2)
		info := waitFor(t, h, "broadcast/r", func(i host.ObjectInfo) bool { return i.Conns == 1 })
		if info.State != host.StateHibernated || h.Metrics().Wakes != wakes {
			t.Errorf("after two closes: %s with %d wakes, want hibernated with none", info.State, h.Metrics().Wakes-wakes)
		}
		// The last socket still gets frames after a wake.
		b3.send(t, "still here")
		if got := b3.nextText(t); got != "still here" {
			t.Errorf("b3 got %q", got)
		}

		c1 := connect(t, h, "chat/r", "name=ann")
		c2 := connect(t, h, "chat/r", "name=bob")
		c3 := connect(t, h, "chat/r", "name=cy")
		connect(t, h, "chat/r", "name=dee")
		evict("chat/r")
		wakes = h.Metrics().Wakes
		closeAll(c1, c2, c3)
		waitFor(t, h, "chat/r", func(i host.ObjectInfo) bool { return i.Conns == 1 })
		if got := h.Metrics().Wakes - wakes; got != 1 {
			t.Errorf("three closes to a hibernated chat room woke it %d times, want once", got)
		}
	})
}

// waitFor polls an object's description until cond holds (10 s at most).
func waitFor(t *testing.T, h *host.Host, obj string, cond func(host.ObjectInfo) bool) host.ObjectInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info := inspect(t, h, obj)
		if cond(info) {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the state wanted: %+v", obj, info)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
