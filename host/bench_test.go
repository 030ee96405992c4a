package host_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
)

// countingConn counts frames and signals when a target is reached; it is the
// cheapest possible socket, so the benchmarks measure the host.
type countingConn struct {
	n      atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

func newCountingConn() *countingConn { return &countingConn{done: make(chan struct{}, 1)} }

func (c *countingConn) Send(*host.Frame) error {
	if c.n.Add(1) == c.target.Load() {
		c.done <- struct{}{}
	}
	return nil
}

func (c *countingConn) Close(int, string) error { return nil }

func (c *countingConn) expect(n int64) { c.target.Store(c.n.Load() + n) }

func (c *countingConn) wait(tb testing.TB) {
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		tb.Fatalf("only %d of %d frames arrived", c.n.Load(), c.target.Load())
	}
}

func benchHost(b *testing.B, opts host.Options) *host.Host {
	opts.NoSync = true
	return newHost(b, opts)
}

func session(b *testing.B, h *host.Host, object string, c host.Conn) *host.Session {
	id, err := host.ParseObjectID(object)
	if err != nil {
		b.Fatal(err)
	}
	s, err := h.Connect(context.Background(), host.ConnectRequest{Object: id}, c)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// Events through one live object: each event runs the counter's "hits"
// handler, which reads memory and sends one frame. The baseline runs the
// same handler through the same event machinery on the caller's goroutine,
// without the mailbox.
func BenchmarkEventsOneObject(b *testing.B) {
	for _, p := range counters {
		b.Run(p.name, func(b *testing.B) {
			h := benchHost(b, host.Options{})
			deploy(b, h, "counter", p.build)
			msg := []byte("hits")

			direct := newCountingConn()
			call, err := host.DirectMessages(h, "counter", "baseline", direct)
			if err != nil {
				b.Fatal(err)
			}
			const baseN = 20000
			start := time.Now()
			for range baseN {
				if !call(msg) {
					b.Fatal("baseline event failed")
				}
			}
			baseRate := baseN / time.Since(start).Seconds()

			c := newCountingConn()
			s := session(b, h, "counter/one", c)
			ctx := context.Background()
			b.ResetTimer()
			c.expect(int64(b.N))
			for range b.N {
				if err := s.Message(ctx, abi.Text, msg); err != nil {
					b.Fatal(err)
				}
			}
			c.wait(b)
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(baseRate, "baseline-events/s")
			b.ReportMetric(rate/baseRate, "ratio")
		})
	}
}

// Events spread over 1,000 live objects of one plugin, round-robin, each
// with its own socket.
func BenchmarkEvents1000Objects(b *testing.B) {
	for _, p := range counters {
		b.Run(p.name, func(b *testing.B) {
			h := benchHost(b, host.Options{})
			deploy(b, h, "counter", p.build)
			const objects = 1000
			c := newCountingConn()
			sessions := make([]*host.Session, objects)
			for i := range sessions {
				sessions[i] = session(b, h, fmt.Sprintf("counter/o%d", i), c)
			}
			msg := []byte("hits")
			ctx := context.Background()
			b.ResetTimer()
			c.expect(int64(b.N))
			for i := range b.N {
				if err := sessions[i%objects].Message(ctx, abi.Text, msg); err != nil {
					b.Fatal(err)
				}
			}
			c.wait(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// Wake latency: from a frame arriving at a hibernated object to its reply,
// with the instance pool at steady state (the pause between wakes lets it
// refill). The baseline is a cold start: instantiating the plugin, which is
// what every wake would cost without pre-initialised instances.
func BenchmarkWake(b *testing.B) {
	for _, p := range counters {
		b.Run(p.name, func(b *testing.B) {
			h := benchHost(b, host.Options{})
			deploy(b, h, "counter", p.build)
			id := host.ObjectID{Plugin: "counter", Name: "sleepy"}
			c := newCountingConn()
			s := session(b, h, id.String(), c)
			ctx := context.Background()
			var cold []time.Duration
			for range 20 {
				d, err := host.ColdStart(h, "counter")
				if err != nil {
					b.Fatal(err)
				}
				cold = append(cold, d)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if err := h.Evict(ctx, id, host.EvictOptions{}); err != nil {
					b.Fatal(err)
				}
				time.Sleep(30 * time.Millisecond) // let the pool refill, as it does between real wakes
				c.expect(1)
				b.StartTimer()
				start := time.Now()
				if err := s.Message(ctx, abi.Text, []byte("hits")); err != nil {
					b.Fatal(err)
				}
				c.wait(b)
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			p50, p99 := percentile(lat, 50), percentile(lat, 99)
			if testing.Verbose() {
				s := slices.Clone(lat)
				slices.Sort(s)
				b.Logf("slowest wakes: %v", s[max(0, len(s)-6):])
			}
			coldP50 := percentile(cold, 50)
			b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
			b.ReportMetric(float64(coldP50.Microseconds()), "cold-start-p50-µs")
			b.ReportMetric(float64(p50)/float64(coldP50), "p50/cold")
			b.ReportMetric(float64(len(p.build(b))), "module-B")
		})
	}
}

// Wake latency when the live budget holds a tenth of the working set: 100
// objects visited round-robin under LiveObjects 10, so every frame reaches
// a hibernated object and every wake needs a hibernation to make room
// (which the evictor does ahead of demand). The 10 ms between wakes (100
// wakes a second) is a client's think time; the pool refills in it, as
// between real wakes. Closer wakes than a Go instantiation (~3 ms of CPU)
// per core can refill outrun the pool, and those wakes instantiate inline.
func BenchmarkWakeUnderBudget(b *testing.B) {
	const objects, live = 100, 10
	for _, p := range counters {
		b.Run(p.name, func(b *testing.B) {
			h := benchHost(b, host.Options{LiveObjects: live})
			deploy(b, h, "counter", p.build)
			ctx := context.Background()
			conns := make([]*countingConn, objects)
			sessions := make([]*host.Session, objects)
			for i := range objects {
				conns[i] = newCountingConn()
				sessions[i] = session(b, h, fmt.Sprintf("counter/o%d", i), conns[i])
			}
			lat := make([]time.Duration, 0, b.N)
			hib, waits := h.Metrics().Hibernations[host.HibernateBudget], h.Stats().Live.Waits
			b.ResetTimer()
			for n := range b.N {
				b.StopTimer()
				time.Sleep(10 * time.Millisecond)
				i := n % objects
				conns[i].expect(1)
				b.StartTimer()
				start := time.Now()
				if err := sessions[i].Message(ctx, abi.Text, []byte("hits")); err != nil {
					b.Fatal(err)
				}
				conns[i].wait(b)
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			b.ReportMetric(float64(percentile(lat, 50).Microseconds()), "p50-µs")
			b.ReportMetric(float64(percentile(lat, 99).Microseconds()), "p99-µs")
			b.ReportMetric(float64(h.Metrics().Hibernations[host.HibernateBudget]-hib)/float64(b.N), "budget-hibernations/op")
			b.ReportMetric(float64(h.Stats().Live.Waits-waits)/float64(b.N), "waits/op")
		})
	}
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// memoryHost deploys the counter with no instance pool, and wakes and
// hibernates one object so that the instance validation left behind is
// gone and the store has settled before the first reading.
func memoryHost(b *testing.B, build func(testing.TB) []byte) (*host.Host, func(name string, c *countingConn) *host.Session) {
	h := benchHost(b, host.Options{Prewarm: -1})
	deploy(b, h, "counter", build)
	ctx := context.Background()
	inc := func(name string, c *countingConn) *host.Session {
		s := session(b, h, "counter/"+name, c)
		c.expect(1)
		if err := s.Message(ctx, abi.Text, []byte("inc")); err != nil {
			b.Fatal(err)
		}
		c.wait(b)
		return s
	}
	inc("warm", newCountingConn())
	if err := h.Evict(ctx, host.ObjectID{Plugin: "counter", Name: "warm"}, host.EvictOptions{Close: true}); err != nil {
		b.Fatal(err)
	}
	return h, inc
}

// Host memory per live instance: the instance, its linear memory and the
// object around it.
func BenchmarkMemoryLive(b *testing.B) {
	for _, p := range []struct {
		name  string
		build func(testing.TB) []byte
		n     int
	}{
		{"go", goCounter, 40},
		{"go-broadcast", broadcast, 40},
		{"wat", watCounter, 400},
		{"as", asCounter, 400},
		{"as-broadcast", asBroadcast, 400},
		{"rust", rsCounter, 400},
	} {
		b.Run(p.name, func(b *testing.B) {
			h, inc := memoryHost(b, p.build)
			conns := make([]*countingConn, p.n)
			for i := range conns {
				conns[i] = newCountingConn()
			}
			sessions := make([]*host.Session, 0, p.n)
			// Linear memory is mapped outside the Go heap: count what the
			// budget holds for it apart from the heap, and the process's
			// resident memory.
			heapBefore, linBefore, rssBefore := heap(), h.Stats().MemoryUsed, resident(b)
			for i, c := range conns {
				sessions = append(sessions, inc(fmt.Sprintf("l%d", i), c))
			}
			heapAfter, linAfter, rssAfter := heap(), h.Stats().MemoryUsed, resident(b)
			runtime.KeepAlive(sessions)
			n := float64(p.n)
			b.ReportMetric(float64(heapAfter-heapBefore+linAfter-linBefore)/n, "live-B/object")
			b.ReportMetric(float64(heapAfter-heapBefore)/n, "heap-B/object")
			b.ReportMetric(float64(linAfter-linBefore)/n, "linear-B/object")
			b.ReportMetric(float64(rssAfter-rssBefore)/n, "rss-B/object")
			for range b.N {
				// The figure above is the measurement; b.N only satisfies
				// the benchmark protocol.
			}
		})
	}
}

// Host memory per hibernated object with one open socket, beyond the socket
// itself: the connection values are allocated before the first reading, and
// what is left is the object's registry entry, its connection table row and
// the gateway's Session. No instance is left, so the plugin's language does
// not matter; objects are woken and hibernated one by one.
func BenchmarkMemoryHibernated(b *testing.B) {
	const n = 5000
	h, inc := memoryHost(b, watCounter)
	ctx := context.Background()
	conns := make([]*countingConn, n)
	for i := range conns {
		conns[i] = newCountingConn()
	}
	sessions := make([]*host.Session, 0, n)
	before := heap()
	for i, c := range conns {
		name := fmt.Sprintf("h%d", i)
		sessions = append(sessions, inc(name, c))
		if err := h.Evict(ctx, host.ObjectID{Plugin: "counter", Name: name}, host.EvictOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	after := heap()
	runtime.KeepAlive(sessions)
	b.ReportMetric(float64(after-before)/n, "hibernated-B/object")
	for range b.N {
		// The figure above is the measurement.
	}
}

// resident is the process's resident memory, from /proc/self/statm.
func resident(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Skip("no /proc/self/statm")
	}
	var size, rss int64
	if _, err := fmt.Sscan(string(b), &size, &rss); err != nil {
		tb.Fatal(err)
	}
	return rss * int64(os.Getpagesize())
}

func heap() int64 {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
