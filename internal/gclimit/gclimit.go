// Package gclimit bounds the garbage a process's Go heap may carry to a fixed
// size instead of a multiple of what is live.
//
// The collector lets the heap grow to (1 + GOGC/100) times what its last cycle
// found live before collecting again. For a host whose heap is mostly
// long-lived sockets that headroom is as large as the sockets themselves:
// 10,000 idle connections hold about 250 MiB, so churn (rooms waking and
// hibernating under a live budget) can add another 250 MiB of garbage to the
// resident set before a cycle runs. Start caps the headroom instead: after
// every collection it sets the runtime's soft memory limit to what the
// runtime holds besides heap objects, plus the live heap, plus a headroom
// of a share (Options.Share) of the live heap and of the memory the process
// holds outside it (Options.Outside), so garbage stays a bounded fraction of
// the whole.
// The collector then runs when garbage reaches the headroom or when GOGC says
// so, whichever is sooner, so a small heap behaves exactly as before and a
// large one pays for its bound in extra cycles only while it churns.
package gclimit

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// MinHeadroom is the smallest headroom a Limiter allows: below it a heap
// that allocates quickly would collect too often for the bound to be worth
// it.
const MinHeadroom = 32 << 20

// Options shape the headroom: Share × (live heap + Outside), at least
// MinHeadroom.
type Options struct {
	// Outside is memory the process holds outside the Go heap, such as
	// guests' linear memory bounded by a live budget. Garbage may be a
	// share of it too, since the whole process is what must fit.
	Outside int64
	// Share is the fraction of memory garbage may add; default 0.1.
	Share float64
}

// Limiter keeps the soft memory limit at the live heap plus a headroom until
// Stop.
type Limiter struct {
	opts Options

	mu       sync.Mutex
	stopped  bool
	before   int64 // the limit to restore at Stop
	limit    int64 // the limit set last, 0 before the first cycle
	headroom int64 // the headroom it allowed

	samples []metrics.Sample
}

// Metric names, in the order of Limiter.samples.
var sampleNames = []string{
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/live:bytes",
}

// Start caps the Go heap's garbage from the next collection on. It changes
// a process-wide setting, so a process runs one Limiter at a time; Stop
// restores the limit it found.
func Start(opts Options) *Limiter {
	if opts.Share <= 0 {
		opts.Share = 0.1
	}
	opts.Outside = max(opts.Outside, 0)
	l := &Limiter{
		opts:    opts,
		before:  debug.SetMemoryLimit(-1),
		samples: make([]metrics.Sample, len(sampleNames)),
	}
	for i, name := range sampleNames {
		l.samples[i].Name = name
	}
	l.arm()
	return l
}

// Headroom is the garbage the heap may carry for what the last collection
// found live.
func (l *Limiter) Headroom() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.headroom
}

// headroomFor is the garbage allowed over a live heap of live bytes.
func (o Options) headroomFor(live uint64) int64 {
	return max(int64(o.Share*float64(live+uint64(o.Outside))), MinHeadroom)
}

// Limit is the soft memory limit set after the last collection, or 0 before
// the first.
func (l *Limiter) Limit() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

// Stop restores the memory limit in force before Start. The sentinel of the
// current cycle is left to be collected; its cleanup sees the stop and does
// nothing.
func (l *Limiter) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	l.stopped = true
	debug.SetMemoryLimit(l.before)
}

// arm allocates a sentinel that only the next collection frees; its cleanup,
// run by the runtime after that cycle, resets the limit and arms again. That
// is the only way to hear of every cycle without polling.
func (l *Limiter) arm() {
	runtime.AddCleanup(new(sentinel), func(l *Limiter) { l.cycled() }, l)
}

// sentinel holds a pointer so that it is not a tiny allocation: tiny blocks
// share memory with other objects and may outlive a cycle.
type sentinel struct {
	_ *byte
	_ [24]byte
}

func (l *Limiter) cycled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	metrics.Read(l.samples)
	total, released, free := value(l.samples[0]), value(l.samples[1]), value(l.samples[2])
	objects, live := value(l.samples[3]), value(l.samples[4])
	// What the runtime holds besides heap objects and free pages (stacks,
	// metadata, fragmentation) stays; objects count only as far as live.
	held := total - released
	other := held - min(held, free+objects)
	l.headroom = l.opts.headroomFor(live)
	limit := other + live + uint64(l.headroom)
	if l.before > 0 && limit > uint64(l.before) {
		limit = uint64(l.before) // a limit the operator set is never raised
	}
	if limit > math.MaxInt64 {
		limit = math.MaxInt64
	}
	l.limit = int64(limit)
	debug.SetMemoryLimit(l.limit)
	l.arm()
}

// value reads a sample, 0 for one this Go release does not have.
func value(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}
