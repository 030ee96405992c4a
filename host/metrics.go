package host

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torpor-dev/torpor/host/internal/engine"
)

// What the host did, for monitoring (Host.Metrics; Host.Stats has what it
// refused or contained). Every event, wake and commit adds to a few atomic
// counters and one latency histogram of fixed buckets, so the hot paths
// take no lock and allocate nothing; an exporter reads them whenever it
// likes, at a cost it pays itself.

// EventKind is the handler an event ran.
type EventKind int

// Event kinds, one per guest handler.
const (
	EventConnect EventKind = iota
	EventMessage
	EventClose
	EventAlarm
	EventSnapshot
	EventRestore
)

// NumEventKinds is the number of event kinds, for arrays indexed by them.
const NumEventKinds = int(EventRestore) + 1

var eventKindNames = [NumEventKinds]string{"connect", "message", "close", "alarm", "snapshot", "restore"}

func (k EventKind) String() string { return eventKindNames[k] }

// eventKind maps an engine export index to its kind: the engine numbers
// the handlers in the same order, from ExportConnect.
func eventKind(export int) EventKind { return EventKind(export - engine.ExportConnect) }

// EventResult is how an event ended.
type EventResult int

// Event results.
const (
	// ResultOK: the handler returned 0 and the event's effects committed.
	ResultOK EventResult = iota
	// ResultError: the handler returned another status, or the host failed
	// the event (a store failure, a panic in a host import, a commit that
	// failed, the host shutting down mid-call).
	ResultError
	// ResultTimeout: the handler ran past its CPU-time or wall-clock limit.
	ResultTimeout
	// ResultTrap: the guest trapped (a stack overflow included) or exited.
	ResultTrap
	// ResultRejected: a connect handler refused the connection with an
	// HTTP status; the event's other effects committed.
	ResultRejected
)

// NumEventResults is the number of event results, for arrays indexed by them.
const NumEventResults = int(ResultRejected) + 1

var eventResultNames = [NumEventResults]string{"ok", "error", "timeout", "trap", "rejected"}

func (r EventResult) String() string { return eventResultNames[r] }

// callResult classifies the error of a guest call.
func callResult(err error) EventResult {
	switch {
	case errors.Is(err, engine.ErrTimeout):
		return ResultTimeout
	case errors.Is(err, engine.ErrClosed), errors.Is(err, context.Canceled):
		return ResultError // the host stopped the call
	}
	return ResultTrap
}

// HibernateReason is why an object was hibernated.
type HibernateReason int

// Hibernation reasons.
const (
	// HibernateIdle: no event for Options.Idle.
	HibernateIdle HibernateReason = iota
	// HibernateEvict: an operator evicted it (Host.Evict).
	HibernateEvict
	// HibernateShutdown: the host closed.
	HibernateShutdown
	// HibernateBudget: the memory budget needed its instance. The host
	// does not hibernate for memory yet (it gives up pool instances
	// instead), so this count stays 0.
	HibernateBudget
)

// NumHibernateReasons is the number of reasons, for arrays indexed by them.
const NumHibernateReasons = int(HibernateBudget) + 1

var hibernateReasonNames = [NumHibernateReasons]string{"idle", "evict", "shutdown", "budget"}

func (r HibernateReason) String() string { return hibernateReasonNames[r] }

// latencyBounds are the upper bounds of every Histogram's buckets: from
// 10 µs, about a small handler's event, to 30 s, the default wall-clock
// limit of one.
var latencyBounds = [...]time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 30 * time.Second,
}

// latency is a histogram of durations over latencyBounds. Safe for
// concurrent use: observe is two atomic adds.
type latency struct {
	counts [len(latencyBounds) + 1]atomic.Uint64 // the last: above every bound
	sum    atomic.Int64                          // nanoseconds
}

func (l *latency) observe(d time.Duration) {
	i, _ := slices.BinarySearch(latencyBounds[:], d) // the first bound >= d
	l.counts[i].Add(1)
	l.sum.Add(int64(d))
}

func (l *latency) snapshot() Histogram {
	h := Histogram{Bounds: slices.Clone(latencyBounds[:]), Counts: make([]uint64, len(l.counts))}
	for i := range l.counts {
		h.Counts[i] = l.counts[i].Load()
	}
	h.Sum = time.Duration(l.sum.Load())
	return h
}

// Histogram is a distribution of durations. Counts[i] observations took at
// most Bounds[i] (and more than Bounds[i-1]); the last of Counts, which has
// one more element than Bounds, counts those above every bound. Sum is
// their total. Read while observations go on, Sum may be a few
// observations ahead of or behind Counts.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Sum    time.Duration
}

// Count is the number of observations.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// counters is what Metrics reports, kept as the host goes. All atomic,
// except the failed set, which changes only when an object fails, is
// evicted, or Metrics prunes it.
type counters struct {
	events       [NumEventKinds][NumEventResults]atomic.Uint64
	eventTime    [NumEventKinds]latency
	wakeTime     latency // successful wakes
	wakeFailures atomic.Uint64
	hibernations [NumHibernateReasons]atomic.Uint64
	commitTime   latency // event transactions that wrote
	framesIn     atomic.Uint64
	bytesIn      atomic.Uint64
	framesOut    atomic.Uint64
	bytesOut     atomic.Uint64
	alarmsFired  atomic.Uint64
	alarmsRetry  atomic.Uint64
	alarmsDrop   atomic.Uint64
	logLines     atomic.Uint64
	markedFailed atomic.Uint64

	// What the host refused or contained, for Host.Stats.
	logDropped     atomic.Uint64 // guest log lines dropped
	panics         atomic.Uint64 // host panics contained to one object's event
	compileRefused atomic.Uint64 // modules refused for the compile budget

	failedMu sync.Mutex
	failed   map[string]string // failed object key → the plugin version it failed on
}

func (c *counters) event(export int, r EventResult, d time.Duration) {
	k := eventKind(export)
	c.events[k][r].Add(1)
	c.eventTime[k].observe(d)
}

// woke records a wake that took d and ended with err; a failed object's
// refusal is no wake at all.
func (c *counters) woke(d time.Duration, err error) {
	switch {
	case err == nil:
		c.wakeTime.observe(d)
	case !errors.Is(err, ErrObjectFailed):
		c.wakeFailures.Add(1)
	}
}

// setFailed records that the object key is failed on version, or, with
// version "", that it no longer is.
func (c *counters) setFailed(key, version string) {
	c.failedMu.Lock()
	defer c.failedMu.Unlock()
	if version == "" {
		delete(c.failed, key)
		return
	}
	if c.failed == nil {
		c.failed = map[string]string{}
	}
	c.failed[key] = version
}

// Metrics is a snapshot of what the host is doing and has done. Counts of
// things done count from New.
type Metrics struct {
	// ObjectsLive counts the objects an instance runs; ObjectsHibernated
	// those in memory without one, which is those with open sockets (an
	// object with neither an instance nor sockets is only in the store,
	// and not counted). ObjectsFailed counts the objects known to be
	// failed on their plugin's active version: marked failed in this
	// process, or found failed in the store when an event reached them;
	// a redeploy or an eviction clears them.
	ObjectsLive       int
	ObjectsHibernated int
	ObjectsFailed     int
	// ObjectsMarkedFailed counts the objects this process marked failed.
	ObjectsMarkedFailed uint64
	// Instances are the live instances (given to an object, or being built
	// for one); PooledInstances wait initialised in the plugins' pools.
	// Stats.MemoryUsed is the linear memory of both.
	Instances       int
	PooledInstances int
	// Events counts the guest handler calls by kind and result;
	// EventDuration times them by kind, from the call to its frames being
	// handed to the connections (commit and flush included).
	Events        [NumEventKinds][NumEventResults]uint64
	EventDuration [NumEventKinds]Histogram
	// WakeLatency times every wake that gave an object an instance: from
	// the event that needed one to the instance being ready (the record
	// read, the instance taken from the pool or built, the snapshot
	// restored). Wakes is its count; WakeFailures counts the wakes that
	// found no instance (a plugin removed, its start-up failing, the
	// memory budget, a failed restore).
	Wakes        uint64
	WakeFailures uint64
	WakeLatency  Histogram
	// Hibernations counts the instances hibernated, by reason.
	Hibernations [NumHibernateReasons]uint64
	// Commits counts the event transactions that wrote to the store, and
	// CommitLatency times them.
	Commits       uint64
	CommitLatency Histogram
	// FramesIn and BytesIn count the client frames delivered to objects'
	// message handlers (auto-responses never reach one); FramesOut and
	// BytesOut the frames the output gate handed to connections, a
	// broadcast once per receiver. Bytes are payload bytes.
	FramesIn  uint64
	BytesIn   uint64
	FramesOut uint64
	BytesOut  uint64
	// AlarmsFired counts alarm handler calls; AlarmsRetried the failed
	// ones rescheduled, AlarmsDropped those given up after AlarmRetries.
	AlarmsFired   uint64
	AlarmsRetried uint64
	AlarmsDropped uint64
	// GuestLogLines counts the guest log lines written to the host log;
	// Stats.GuestLogDropped those dropped.
	GuestLogLines uint64
}

// Metrics returns the host's activity counters. Safe for concurrent use; it
// walks the objects in memory under the registry's lock, so it costs a few
// milliseconds per hundred thousand of them: call it once per scrape, not
// per event.
func (h *Host) Metrics() Metrics {
	c := &h.counters
	var m Metrics
	h.mu.Lock()
	for _, o := range h.objects {
		switch o.state.Load() {
		case stLive:
			m.ObjectsLive++
		case stHibernated:
			m.ObjectsHibernated++
		}
	}
	h.mu.Unlock()
	c.failedMu.Lock()
	for key, version := range c.failed {
		plugin, _, _ := strings.Cut(key, "/")
		if d := h.activePlugin(plugin); d == nil || d.version.SHA256 != version {
			delete(c.failed, key) // redeployed or removed: no longer failed
			continue
		}
		m.ObjectsFailed++
	}
	c.failedMu.Unlock()
	m.ObjectsMarkedFailed = c.markedFailed.Load()
	m.Instances, m.PooledInstances = h.engine.Instances()
	for k := range NumEventKinds {
		for r := range NumEventResults {
			m.Events[k][r] = c.events[k][r].Load()
		}
		m.EventDuration[k] = c.eventTime[k].snapshot()
	}
	m.WakeLatency = c.wakeTime.snapshot()
	m.Wakes = m.WakeLatency.Count()
	m.WakeFailures = c.wakeFailures.Load()
	for r := range NumHibernateReasons {
		m.Hibernations[r] = c.hibernations[r].Load()
	}
	m.CommitLatency = c.commitTime.snapshot()
	m.Commits = m.CommitLatency.Count()
	m.FramesIn, m.BytesIn = c.framesIn.Load(), c.bytesIn.Load()
	m.FramesOut, m.BytesOut = c.framesOut.Load(), c.bytesOut.Load()
	m.AlarmsFired, m.AlarmsRetried, m.AlarmsDropped = c.alarmsFired.Load(), c.alarmsRetry.Load(), c.alarmsDrop.Load()
	m.GuestLogLines = c.logLines.Load()
	return m
}
