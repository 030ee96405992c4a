package host

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torpor-dev/torpor/host/internal/engine"
	"github.com/torpor-dev/torpor/store"
)

// State is an object's lifecycle state as the host reports it.
type State string

// Object states.
const (
	// StateLive: an instance is running the object.
	StateLive State = "live"
	// StateHibernated: no instance; the object's state is in the store and
	// its sockets, if any, stay open.
	StateHibernated State = "hibernated"
	// StateFailed: the object failed MaxFailures times in a row and refuses
	// work until its plugin is redeployed or it is evicted.
	StateFailed State = "failed"
)

var stateNames = [...]State{StateHibernated, StateLive, StateFailed}

const (
	stHibernated int32 = iota
	stLive
	stFailed
)

// object is one object's actor. Its mailbox (queue, running, retired) is
// guarded by mu; everything below "owned by the loop" is touched only by the
// one goroutine running loop, which exists while the object has queued events
// or a live instance and exits when it has neither. A hibernated object with
// no sockets leaves the registry altogether, so idle objects cost nothing.
//
// A sender that finds the loop waiting, with nothing queued and a live
// instance, may borrow the loop's ownership and handle its message itself
// (see borrow): the same code, one event, on the sender's goroutine. That
// spares the hand-off to the loop's goroutine, which is most of what an
// event costs the host beyond the guest's own work; order is kept, since a
// message is only handled in place when nothing is ahead of it.
type object struct {
	h   *Host
	id  ObjectID
	key string

	mu      sync.Mutex
	queue   []*envelope
	running bool
	retired bool          // removed from the registry: senders must look again
	notify  chan struct{} // cap 1: "the queue is not empty", or "the borrower is done"
	slots   chan struct{} // cap Mailbox: one token per queued event
	// waiting: the loop is blocked in its select, owning nothing, with a
	// live instance. borrowed: a sender owns what the loop owns (see
	// borrow). loopWants: the loop woke while it was borrowed and waits to
	// be told it is back.
	waiting, borrowed, loopWants bool

	// Published for listings and the socket fast path; written by the loop.
	state       atomic.Int32
	nconns      atomic.Int32
	alarmQueued atomic.Bool
	lastEvent   atomic.Int64 // Unix nanoseconds
	autoResp    atomic.Pointer[map[string][]byte]
	liveVersion atomic.Pointer[string] // sha256 of the version the live instance runs
	liveCharge  atomic.Int64           // what the live budget charges for its instance; 0 while it has none

	// Owned by the loop. Its flags sit together: every hibernated object
	// pays for this struct, rounded up to the allocator's next size.
	loaded     bool // the stored record was read in this process
	evictAfter bool // the live budget wants the evictor started once this event is done
	// connsDirty: the table changed since it was last written to the store.
	connsDirty bool
	keptValid  bool // kept holds the snapshot the last hibernation wrote
	inst       *engine.Instance
	version    *deployed // the plugin version inst runs
	conns      map[uint64]*conn
	order      []*conn // conns by ascending id, for broadcasts; nil until needed again
	failures   int
	failure    string             // non-empty: the object is failed, with this cause
	ev         *event             // the event being handled; nil while hibernated
	orphans    []store.ConnRecord // connections of the last process, to report closed
	closing    *conn              // the connection whose close event runs
	logs       logLimiter
	idleAt     time.Time // when the instance hibernates for want of events
	// kept: the snapshot this process last wrote, held while hibernated
	// when it is at most keepSnapshot bytes, so the next wake need not
	// read the record back (see ensureLive).
	kept []byte
}

// keepSnapshot bounds a snapshot a hibernated object keeps in memory: a
// small one costs less to hold than the store read it saves a wake (tens
// of microseconds on a quiet machine whose caches went cold), and only a
// loaded object's snapshot is needed from its record; the rest of the record
// it holds already.
const keepSnapshot = 512

// conn is one connection in an object's table.
type conn struct {
	id         uint64
	c          Conn
	attachment []byte
	tags       []string
}

type envKind uint8

const (
	envConnect envKind = iota
	envMessage
	envClose
	envAlarm
	envControl
)

// envelope is one queued event.
type envelope struct {
	kind envKind
	conn uint64
	c    Conn          // envConnect
	data []byte        // message payload, close reason, request info
	code int           // close code; frame kind for messages
	fn   func(*object) // envControl
	// unbounded: the envelope took no mailbox slot (close reports).
	unbounded bool
	// lent: data is the caller's, valid only during enqueue; it is copied
	// before the envelope is queued (an event handled in place needs no
	// copy: the guest copies what it reads).
	lent bool
	// reply is for callers that wait (connect, control); state settles the
	// race between a caller giving up and the loop answering.
	reply chan connectResult
	state atomic.Int32
}

const (
	envPending int32 = iota
	envAbandoned
	envAnswered
)

type connectResult struct {
	err error
}

// errRetired makes deliver look the object up again.
var errRetired = errors.New("object retired")

func newObject(h *Host, id ObjectID, key string) *object {
	return &object{
		h:      h,
		id:     id,
		key:    key,
		notify: make(chan struct{}, 1),
		slots:  make(chan struct{}, h.opts.Mailbox),
	}
}

// enqueue adds env to the mailbox, waiting for room until ctx ends. A
// message or connect to an object with no loop running is handled in place
// instead (see runHere); Session.Message tries borrow before it gets here.
func (o *object) enqueue(ctx context.Context, env *envelope) error {
	if o.h.isClosing() {
		// Close drains what is queued; it must not be fed forever.
		return ErrClosed
	}
	if (env.kind == envMessage || env.kind == envConnect) && o.runHere(env) {
		return nil
	}
	if env.lent {
		env.data, env.lent = bytes.Clone(env.data), false
	}
	// A close report takes no slot: there is at most one per connection,
	// and refusing it for a full mailbox would leave a ghost connection in
	// the table for good.
	env.unbounded = env.kind == envClose
	if !env.unbounded {
		select {
		case o.slots <- struct{}{}:
		default:
			select {
			case o.slots <- struct{}{}:
			case <-ctx.Done():
				return fmt.Errorf("%s: %w: %w", o.key, ErrOverloaded, ctx.Err())
			case <-o.h.closing:
				return ErrClosed
			}
		}
	}
	release := func() {
		if !env.unbounded {
			<-o.slots
		}
	}
	o.mu.Lock()
	if o.retired {
		o.mu.Unlock()
		release()
		return errRetired
	}
	o.queue = append(o.queue, env)
	if o.running {
		o.mu.Unlock()
		select {
		case o.notify <- struct{}{}:
		default:
		}
		return nil
	}
	o.running = true
	o.mu.Unlock()
	if !o.h.goFunc(o.loop) {
		o.mu.Lock()
		o.running = false
		if i := slices.Index(o.queue, env); i >= 0 {
			o.queue = slices.Delete(o.queue, i, i+1)
		}
		o.mu.Unlock()
		release()
		return ErrClosed
	}
	return nil
}

// tryEnqueue is enqueue without waiting: false when the mailbox is full.
func (o *object) tryEnqueue(env *envelope) (bool, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := o.enqueue(ctx, env)
	if errors.Is(err, ErrOverloaded) {
		return false, nil
	}
	return err == nil, err
}

// borrow handles env on the calling goroutine when the loop is waiting
// with nothing queued and a live instance, taking the loop's ownership of
// the object for that one event; it reports whether it did. The loop, if it
// wakes meanwhile (a timer, another sender, the host closing), waits until
// the borrower hands ownership back.
func (o *object) borrow(env *envelope) bool {
	o.mu.Lock()
	// inst is the loop's, but nothing writes it while the loop waits and
	// no one borrows: what the loop wrote before it waited is visible.
	if !o.waiting || o.borrowed || len(o.queue) > 0 || o.retired || o.inst == nil {
		o.mu.Unlock()
		return false
	}
	o.borrowed = true
	o.mu.Unlock()

	o.handleHere(env)
	o.idleAt = time.Now().Add(o.h.opts.Idle)

	o.mu.Lock()
	o.borrowed = false
	// The loop must look again if it woke meanwhile, if events queued up
	// behind this one, or if the event cost the instance.
	tell := o.loopWants || len(o.queue) > 0 || o.inst == nil
	o.loopWants = false
	o.mu.Unlock()
	if tell {
		select {
		case o.notify <- struct{}{}:
		default:
		}
	}
	return true
}

// runHere handles env on the calling goroutine when no loop runs and nothing
// is queued (a frame to a hibernated object, a connect to a new one) and
// reports whether it did; the loop starts afterwards, to keep the idle time
// and take what queued meanwhile. Starting the loop first would hand the
// wake to another thread while the caller only waits (a connect) or has
// nothing else to do for its socket (a frame; the next one would queue
// behind this one): on a machine whose other cores sleep, waking one costs
// the wake tens of microseconds before it starts.
func (o *object) runHere(env *envelope) bool {
	o.mu.Lock()
	// The object's own state first: a frame to a busy object must not take
	// the host-wide lock that hold does.
	if o.running || len(o.queue) > 0 || o.retired || !o.h.hold() {
		o.mu.Unlock()
		return false
	}
	defer o.h.wg.Done()
	o.running = true
	o.mu.Unlock()

	o.handleHere(env)
	if !o.h.goFunc(o.loop) {
		// The host began closing meanwhile and starts no goroutine: the
		// loop's shutdown (hibernating what this event woke) runs here,
		// before Close, which waits for this goroutine, goes on.
		o.loop()
	}
	return true
}

// handleHere handles env, which took no mailbox slot, on a sender's
// goroutine that owns the object for it (see borrow and runHere).
func (o *object) handleHere(env *envelope) {
	env.unbounded = true
	o.handleContained(env)
	o.reportDroppedLogs()
}

// loop handles queued events one at a time, hibernates the instance after
// Idle without events (or when the host closes) and exits when there is
// neither an event nor an instance.
func (o *object) loop() {
	// Control events (inspect, evict) are not activity: an operator looking
	// at an object must not keep it awake.
	o.idleAt = time.Now().Add(o.h.opts.Idle)
	idle := time.NewTimer(o.h.opts.Idle)
	defer idle.Stop()
	for {
		o.mu.Lock()
		if o.borrowed {
			// A sender handles an event: what the loop owns is its until
			// it says so.
			o.loopWants = true
			o.mu.Unlock()
			<-o.notify
			continue
		}
		o.waiting = false
		if len(o.queue) > 0 {
			env := o.queue[0]
			o.queue[0] = nil
			o.queue = o.queue[1:]
			if len(o.queue) == 0 {
				o.queue = nil // let a burst's backing array go
			}
			o.mu.Unlock()
			if !env.unbounded {
				<-o.slots
			}
			o.handleContained(env)
			o.reportDroppedLogs()
			if env.kind != envControl {
				o.idleAt = time.Now().Add(o.h.opts.Idle)
			}
			continue
		}
		if o.inst == nil {
			removable := len(o.conns) == 0
			if o.connsDirty && o.loaded {
				// Still the owner: write the table before anyone else may
				// start a loop, then look at the queue again. A batch of
				// closes that did not wake the object costs one write.
				o.mu.Unlock()
				o.saveConns()
				continue
			}
			o.running = false
			o.mu.Unlock()
			if removable {
				o.retire()
			}
			return
		}
		o.mu.Unlock()

		if o.h.isClosing() {
			if !o.hibernate(HibernateShutdown) {
				o.dropInstance() // shutting down: the error is logged, state since the last snapshot is lost
			}
			continue
		}
		wait := time.Until(o.idleAt)
		if wait <= 0 {
			if !o.hibernate(HibernateIdle) {
				o.idleAt = time.Now().Add(o.h.opts.Idle) // try again later, not in a hot loop
			}
			continue
		}
		idle.Reset(wait)
		o.mu.Lock()
		o.waiting = len(o.queue) == 0
		o.mu.Unlock()
		select {
		case <-o.notify:
		case <-idle.C:
		case <-o.h.closing:
		}
	}
}

// saveConns writes the connection table and auto-responses to the object's
// record when they changed since it was last written without a snapshot
// being taken (after a fault, say): before an object with no sockets leaves
// memory, so the next activation does not report closed connections again,
// and at shutdown, so the next process reports every open one. A write that
// fails is logged and not retried: a stale table costs duplicate close
// events, not data.
func (o *object) saveConns() {
	if !o.connsDirty || !o.loaded {
		return
	}
	o.connsDirty = false
	err := o.updateRecord(func(rec *store.ObjectRecord) {
		rec.Conns = o.connRecords()
		rec.AutoResponses = o.autoResponseRecords()
	})
	if err != nil {
		o.h.log.Error("write the connection table", "object", o.key, "err", err)
	}
}

// retire removes an idle, socketless, hibernated object from the registry.
func (o *object) retire() {
	o.h.mu.Lock()
	o.mu.Lock()
	if !o.running && len(o.queue) == 0 && o.h.objects[o.key] == o {
		delete(o.h.objects, o.key)
		o.retired = true
	}
	o.mu.Unlock()
	o.h.mu.Unlock()
}

func (o *object) setState(s int32) { o.state.Store(s) }

// State reports the object's current state.
func (o *object) State() State { return stateNames[o.state.Load()] }

// publishConns records a change to the connection table: for listings, and
// so that the stored table is known to be stale.
func (o *object) publishConns() {
	o.nconns.Store(int32(len(o.conns)))
	o.connsDirty = true
}

// addConn and removeConn change the connection table; every change goes
// through them, so the broadcast order is rebuilt when it must be.
func (o *object) addConn(c *conn) {
	o.conns[c.id] = c
	o.order = nil
}

func (o *object) removeConn(id uint64) {
	delete(o.conns, id)
	o.order = nil
}

// orderedConns returns the connections in ascending id order, so that
// broadcasts are deterministic. The slice is kept until the table changes:
// a room broadcasting to the same sockets again needs no allocation, sort
// or map lookups, and a slice the caller ranges over is never modified.
func (o *object) orderedConns() []*conn {
	if o.order == nil && len(o.conns) > 0 {
		o.order = make([]*conn, 0, len(o.conns))
		for _, c := range o.conns {
			o.order = append(o.order, c)
		}
		slices.SortFunc(o.order, func(a, b *conn) int { return cmp.Compare(a.id, b.id) })
	}
	return o.order
}

// sortedConnIDs returns the connection ids in ascending order, so that lists
// are deterministic. Unlike orderedConns it keeps nothing: its callers
// (listings, the table written at hibernation or after closes) also run on
// hibernated objects, which should hold no broadcast order.
func (o *object) sortedConnIDs() []uint64 {
	ids := make([]uint64, 0, len(o.conns))
	for id := range o.conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
