package host

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torpor-dev/torpor/internal/bytesize"
)

// instanceOverhead is what a live instance costs beyond its linear memory,
// charged to the live budget with it: wazero's module instance, the
// function and table entries, the object's buffers. Measured at about
// 0.15 MiB of Go heap for a Go plugin with merged data segments, rounded up.
const instanceOverhead = 256 << 10

// Watermarks of the live budget, in percent of a limit: past evictAt
// (counting the wakes waiting for room) the evictor starts hibernating the
// least recently active objects, and it stops once usage is back under
// evictTo. Working ahead of the limit means a wake rarely has to wait.
const (
	evictAt = 95
	evictTo = 85
)

// mark is limit at pct percent. A limit of at least four units (objects, or
// the memory of the latest wake) keeps at least room units free, so that
// the next wake finds its room ready; a smaller one is evicted from only
// for a waiting wake, since keeping room there would halve it.
func mark(limit, pct, unit, room int64) int64 {
	free := limit * (100 - pct) / 100
	if unit > 0 && limit >= 4*unit {
		free = max(free, room*unit)
	}
	return limit - free
}

// high and low are the evictor's watermarks for a limit of unit-sized
// wakes: it starts past high and stops at low.
func high(limit, unit int64) int64 { return mark(limit, evictAt, unit, 1) }
func low(limit, unit int64) int64  { return mark(limit, evictTo, unit, 2) }

// roomWait bounds how long a wake waits for the evictor to make room. Past
// it the wake goes ahead over the live budget, which is a target (the
// memory budget is the hard bound): a victim busy with a long event must
// not stall every wake behind it.
const roomWait = 2 * time.Second

// liveSet is the set of objects with a live instance, with what their
// instances hold, bounded by Options.LiveMemory and LiveObjects: before a
// wake would pass either, the least recently active live objects are
// hibernated (the normal snapshot path) to make room.
type liveSet struct {
	h        *Host
	memLimit int64 // bytes; 0: unbounded
	objLimit int64 // objects; 0: unbounded

	mem   atomic.Int64 // charged by live objects: linear memory plus overhead
	count atomic.Int64
	// What the wakes waiting for room need, so the evictor frees it.
	wantMem  atomic.Int64
	wantObjs atomic.Int64
	unit     atomic.Int64 // what the latest wake reserved: the room to keep free

	mu      sync.Mutex
	objs    map[*object]struct{}
	changed chan struct{} // closed and replaced whenever an object leaves
	kick    chan struct{} // cap 1: "usage may be past evictAt"

	evictions atomic.Uint64 // hibernations asked of the evictor's victims
	waits     atomic.Uint64 // wakes that had to wait for room
	overruns  atomic.Uint64 // wakes that went ahead over the budget after roomWait
}

func newLiveSet(h *Host, memLimit int64, objLimit int) *liveSet {
	return &liveSet{
		h:        h,
		memLimit: memLimit,
		objLimit: int64(objLimit),
		objs:     map[*object]struct{}{},
		changed:  make(chan struct{}),
		kick:     make(chan struct{}, 1),
	}
}

// bounded reports whether either limit is set.
func (l *liveSet) bounded() bool { return l.memLimit > 0 || l.objLimit > 0 }

// fits reports whether one more object of need bytes stays within both
// limits.
func (l *liveSet) fits(need int64) bool {
	return (l.memLimit == 0 || l.mem.Load()+need <= l.memLimit) &&
		(l.objLimit == 0 || l.count.Load()+1 <= l.objLimit)
}

// pressed reports whether usage, with the wakes waiting for room, is past
// the high watermark of either limit: the evictor's cue.
func (l *liveSet) pressed() bool {
	return l.memLimit > 0 && l.mem.Load()+l.wantMem.Load() > high(l.memLimit, l.unit.Load()) ||
		l.objLimit > 0 && l.count.Load()+l.wantObjs.Load() > high(l.objLimit, 1)
}

// admit is called by a waking object's loop before it takes an instance
// that will hold about need bytes, and reserves that for o: the check and
// the reservation are one step, so concurrent wakes cannot all squeeze
// into the last slot. It returns at once when the wake fits; otherwise it
// waits, counted as demand the evictor makes room for, at most roomWait,
// then goes ahead regardless. Past the high watermark it has the evictor
// start either way, so later wakes find room ready: once o's current event
// is done when the wake fits (the evictor's snapshots and commits would
// otherwise compete with the wake they make no room for), at once when it
// waits. resize settles the
// reservation to the instance's real size; remove undoes it if the wake
// fails.
func (l *liveSet) admit(o *object, need int64) {
	if !l.bounded() {
		return
	}
	l.unit.Store(need)
	var until time.Time // set once the wake has to wait
	for {
		l.mu.Lock()
		late := !until.IsZero() && !time.Now().Before(until)
		if l.fits(need) || late || l.h.isClosing() {
			l.reserve(o, need)
			l.mu.Unlock()
			waited := !until.IsZero()
			if waited {
				// The demand is usage now: counted twice, it would have
				// the evictor make room for this wake again.
				l.wantMem.Add(-need)
				l.wantObjs.Add(-1)
			}
			if late {
				l.overruns.Add(1)
			}
			if l.pressed() {
				if waited {
					l.kickEvictor()
				} else {
					o.evictAfter = true
				}
			}
			return
		}
		changed := l.changed
		l.mu.Unlock()
		if until.IsZero() {
			l.waits.Add(1)
			l.wantMem.Add(need)
			l.wantObjs.Add(1)
			until = time.Now().Add(roomWait)
		}
		l.kickEvictor()
		t := time.NewTimer(time.Until(until))
		select {
		case <-changed:
		case <-t.C:
		case <-l.h.closing:
		}
		t.Stop()
	}
}

// reserve counts need bytes and one object for o; l.mu is held.
func (l *liveSet) reserve(o *object, need int64) {
	if o.liveCharge.Load() != 0 {
		return // reserved already: a wake that failed and is tried again
	}
	o.liveCharge.Store(need)
	l.mem.Add(need)
	l.count.Add(1)
	l.objs[o] = struct{}{}
}

func (l *liveSet) kickEvictor() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// resize settles o's charge to its instance's size: after the wake, and
// after every event, which may have grown its memory.
func (l *liveSet) resize(o *object, size int64) {
	if c, was := size+instanceOverhead, o.liveCharge.Load(); c != was {
		l.mem.Add(c - was)
		o.liveCharge.Store(c)
		if l.bounded() && l.pressed() {
			l.kickEvictor()
		}
	}
}

// remove uncounts o, whose instance is gone, and wakes the waiters.
func (l *liveSet) remove(o *object) {
	was := o.liveCharge.Swap(0)
	if was == 0 {
		return
	}
	l.mem.Add(-was)
	l.count.Add(-1)
	l.mu.Lock()
	delete(l.objs, o)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// evictLoop hibernates the least recently active live objects whenever
// usage passes evictAt, until it is under evictTo. It runs until the host
// closes.
func (l *liveSet) evictLoop() {
	for {
		select {
		case <-l.h.closing:
			return
		case <-l.kick:
		}
		for l.pressed() && !l.h.isClosing() {
			if !l.evictOnce() {
				break
			}
		}
	}
}

// victim is a live object as the evictor saw it.
type victim struct {
	o    *object
	last int64
	mem  int64
}

// evictOnce picks, least recently active first, the objects whose
// hibernation brings usage under evictTo, asks each to hibernate, and waits
// for them (bounded). It reports whether it asked anyone.
func (l *liveSet) evictOnce() bool {
	mem, count := l.mem.Load()+l.wantMem.Load(), l.count.Load()+l.wantObjs.Load()
	enough := func() bool {
		return (l.memLimit == 0 || mem <= low(l.memLimit, l.unit.Load())) &&
			(l.objLimit == 0 || count <= low(l.objLimit, 1))
	}
	asked, done := l.askOldest(l.reason(mem, count), enough, func(v victim) {
		mem -= v.mem
		count--
	})
	if asked == 0 {
		return false
	}
	timeout := time.NewTimer(roomWait)
	defer timeout.Stop()
	for range asked {
		select {
		case <-done:
		case <-timeout.C:
			return true
		case <-l.h.closing:
			return false
		}
	}
	return true
}

// askOldest asks the live objects, least recently active first, to
// hibernate for why, until enough says so (checked before each); took hears
// of each one asked. It returns how many it asked and the channel that
// hears each request handled.
func (l *liveSet) askOldest(why string, enough func() bool, took func(victim)) (int, <-chan struct{}) {
	all := l.byAge()
	done := make(chan struct{}, len(all))
	asked := 0
	for _, v := range all {
		if enough() {
			break
		}
		if v.o.askHibernate(why, done) {
			asked++
			took(v)
		}
	}
	l.evictions.Add(uint64(asked))
	return asked, done
}

// byAge lists the live objects, least recently active first; those still
// waking (reserved, not yet live) are not candidates.
func (l *liveSet) byAge() []victim {
	l.mu.Lock()
	all := make([]victim, 0, len(l.objs))
	for o := range l.objs {
		if o.state.Load() == stLive {
			all = append(all, victim{o: o, last: o.lastEvent.Load(), mem: o.liveCharge.Load()})
		}
	}
	l.mu.Unlock()
	slices.SortFunc(all, func(a, b victim) int { return cmp.Compare(a.last, b.last) })
	return all
}

// reason says what was over the budget, for the record and the log.
func (l *liveSet) reason(mem, count int64) string {
	if l.memLimit > 0 && mem > high(l.memLimit, l.unit.Load()) {
		return fmt.Sprintf("live memory %s of %s", bytesize.Format(mem), bytesize.Format(l.memLimit))
	}
	return fmt.Sprintf("%d live objects and %d waking, limit %d", l.count.Load(), count-l.count.Load(), l.objLimit)
}

// LiveStats reports the live budget: what live instances hold and how the
// evictor kept them within it.
type LiveStats struct {
	Objects     int64  `json:"objects"`
	Memory      int64  `json:"memory_bytes"`
	MemoryLimit int64  `json:"memory_limit_bytes"` // 0: unbounded
	ObjectLimit int64  `json:"object_limit"`       // 0: unbounded
	Evictions   uint64 `json:"evictions"`          // hibernations the evictor asked for
	Waits       uint64 `json:"waits"`              // wakes that waited for room
	Overruns    uint64 `json:"overruns"`           // wakes that went ahead over the budget
}

func (l *liveSet) stats() LiveStats {
	return LiveStats{
		Objects:     l.count.Load(),
		Memory:      l.mem.Load(),
		MemoryLimit: l.memLimit,
		ObjectLimit: l.objLimit,
		Evictions:   l.evictions.Load(),
		Waits:       l.waits.Load(),
		Overruns:    l.overruns.Load(),
	}
}

// askHibernate queues, without waiting for a mailbox slot, a request that
// the object hibernate for the budget if it is still live and has had no
// event since; done hears when it was handled. It reports whether the
// request was queued: a full mailbox means a busy object, not an idle one.
func (o *object) askHibernate(why string, done chan<- struct{}) bool {
	seen := o.lastEvent.Load()
	env := &envelope{kind: envControl, fn: func(o *object) {
		defer func() { done <- struct{}{} }()
		if o.inst == nil || o.lastEvent.Load() != seen {
			return // hibernated meanwhile, or active again: not the least recent now
		}
		o.hibernateWhy(HibernateBudget, "budget: "+why)
	}}
	ok, _ := o.tryEnqueue(env)
	return ok
}

// makeRoom has the evictor hibernate the least recently active live
// objects, for a wake the memory budget refused, and waits until one is
// gone (bounded by roomWait). It reports false when nothing is live, so
// nothing can make room.
func (l *liveSet) makeRoom() bool {
	if l.count.Load() == 0 {
		return false
	}
	l.mu.Lock()
	changed := l.changed
	l.mu.Unlock()
	// A few at once: the refusal means the budget is short by more than the
	// evictor's margin, and one victim may be small.
	asked := 0
	if n, _ := l.askOldest("memory budget refused a wake", func() bool { return asked == 4 }, func(victim) { asked++ }); n == 0 {
		return false
	}
	t := time.NewTimer(roomWait)
	defer t.Stop()
	select {
	case <-changed:
		return true
	case <-t.C:
		return false
	case <-l.h.closing:
		return false
	}
}
