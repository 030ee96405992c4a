package host

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host/internal/engine"
	"github.com/torpor-dev/torpor/store"
)

// maxRejectReason caps the reason a connect handler gives, since it goes
// into an HTTP response.
const maxRejectReason = 1024

// Close codes the host itself uses.
const (
	closeGoingAway     = 1001 // connection abandoned, host restarted
	closeInternalError = 1011 // object failed
)

// handleContained runs one envelope and contains a panic in the host's own
// handling of it (wazero already turns a panic inside a host call into a
// trap): the event's effects are discarded and the instance dropped, as
// after a trap, the panic is logged once with its stack and counted, and a
// caller waiting for the answer hears of an internal error. Nothing outside
// this object is touched.
func (o *object) handleContained(env *envelope) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		o.h.counters.panics.Add(1)
		o.h.log.Error("panic while handling an event; contained to the object", "object", o.key, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		if o.ev != nil {
			o.ev.discard()
		}
		o.closing = nil
		o.dropInstance()
		if env.reply != nil && env.state.CompareAndSwap(envPending, envAnswered) {
			env.reply <- connectResult{err: fmt.Errorf("%s: internal error", o.key)}
		}
	}()
	o.handle(env)
	if o.evictAfter {
		o.evictAfter = false
		o.h.live.kickEvictor()
	}
}

// handle runs one envelope on the loop goroutine.
func (o *object) handle(env *envelope) {
	if env.kind != envControl {
		// Operators looking at an object are not its activity.
		o.lastEvent.Store(time.Now().UnixNano())
	}
	switch env.kind {
	case envControl:
		env.fn(o)
	case envConnect:
		o.answer(env, o.connect(env))
	case envMessage:
		c := o.conns[env.conn]
		if c == nil {
			return // closed by the object while the frame was queued
		}
		if err := o.ensureLive(); err != nil {
			o.h.log.Warn("frame dropped", "object", o.key, "conn", env.conn, "err", err)
			return
		}
		o.h.counters.framesIn.Add(1)
		o.h.counters.bytesIn.Add(uint64(len(env.data)))
		o.invoke(engine.ExportMessage, env.data, env.conn, uint64(env.code), uint64(len(env.data)))
	case envClose:
		if o.conns[env.conn] == nil {
			return // the object closed it first, or it never connected
		}
		c := o.conns[env.conn]
		o.removeConn(env.conn)
		o.publishConns()
		o.deliverClose(c, env.code, env.data)
	case envAlarm:
		o.alarm()
	}
}

// answer hands a connect result to a waiting caller, or, if the caller gave
// up meanwhile, forgets the connection it would have owned.
func (o *object) answer(env *envelope, err error) {
	if env.state.CompareAndSwap(envPending, envAnswered) {
		env.reply <- connectResult{err: err}
		return
	}
	if c := o.conns[env.conn]; err == nil && c != nil {
		o.removeConn(env.conn)
		o.publishConns()
		c.c.Close(closeGoingAway, "connect abandoned")
		o.deliverClose(c, closeGoingAway, []byte("connect abandoned"))
	}
}

func (o *object) connect(env *envelope) error {
	if len(o.conns) >= o.h.opts.Limits.ConnsPerObject {
		return fmt.Errorf("%s: %w (%d)", o.key, ErrTooManyConns, o.h.opts.Limits.ConnsPerObject)
	}
	if err := o.ensureLive(); err != nil {
		return err
	}
	o.addConn(&conn{id: env.conn, c: env.c})
	o.offerAutoResponses(env.c)
	if !o.inst.Has(engine.ExportConnect) {
		o.publishConns()
		return nil
	}
	ok, res, ev := o.invoke(engine.ExportConnect, env.data, env.conn, uint64(len(env.data)))
	if !ok {
		o.removeConn(env.conn)
		if o.failure != "" {
			return fmt.Errorf("%s: %w: %s", o.key, ErrObjectFailed, o.failure)
		}
		return &RejectError{Status: 500, Reason: "the object failed to handle the connection"}
	}
	if res != abi.Accept {
		reason := ev.reply
		if len(reason) > maxRejectReason {
			reason = reason[:maxRejectReason]
		}
		return &RejectError{Status: int(res), Reason: string(reason)}
	}
	o.publishConns()
	return nil
}

// deliverClose tells the guest a connection is gone, if it listens. The
// connection is out of the table already but its attachment and tags stay
// readable during the event. A hibernated object whose plugin ignores
// closes is not woken for one: the table change is all there is, and the
// loop writes it to the store.
func (o *object) deliverClose(c *conn, code int, reason []byte) {
	if !o.handles(engine.ExportClose) {
		return
	}
	if err := o.ensureLive(); err != nil || !o.inst.Has(engine.ExportClose) {
		return
	}
	o.closing = c
	o.invoke(engine.ExportClose, reason, c.id, uint64(code), uint64(len(reason)))
	o.closing = nil
}

// handles reports whether the object's plugin implements a handler, without
// waking the object: the live instance's version when there is one, else
// the active version, which the next wake would take. With no active
// version it says yes, so that the wake reports the plugin gone.
func (o *object) handles(export int) bool {
	if o.inst != nil {
		return o.inst.Has(export)
	}
	d := o.h.activePlugin(o.id.Plugin)
	return d == nil || d.plugin.Has(export)
}

// ensureLive makes sure an instance runs the object: on the first event in
// this process it reads the object's record, and on every wake it takes a
// pre-initialised instance and restores the latest snapshot into it.
func (o *object) ensureLive() (err error) {
	if o.failure != "" {
		return fmt.Errorf("%s: %w: %s", o.key, ErrObjectFailed, o.failure)
	}
	if o.inst != nil {
		return nil
	}
	if o.h.moves.has(o.key) {
		return o.errMoving()
	}
	start := time.Now()
	defer func() { o.h.counters.woke(time.Since(start), err) }()
	d := o.h.activePlugin(o.id.Plugin)
	if d == nil {
		o.closeAll(closeInternalError, "plugin removed")
		return fmt.Errorf("%s: %w", o.key, ErrUnknownPlugin)
	}
	var rec store.ObjectRecord
	if o.loaded && o.keptValid {
		// Only this process writes the record, and only its snapshot is
		// read back for a loaded object: the one the last hibernation wrote.
		rec.Snapshot = o.kept
	} else {
		rec, err = o.h.store.Object(o.key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			rec = store.ObjectRecord{}
		case err != nil:
			return fmt.Errorf("wake %s: %w", o.key, err)
		}
	}
	o.kept, o.keptValid = nil, false
	if !o.loaded {
		o.loaded = true
		if o.conns == nil {
			o.conns = map[uint64]*conn{}
		}
		// Sockets do not survive a restart: connections in the record are
		// gone, and the object hears of each once it is awake.
		o.orphans = rec.Conns
		o.setAutoResponses(rec.AutoResponses)
		if rec.Failed != "" && rec.Version == d.version.SHA256 {
			o.failure = rec.Failed
			o.setState(stFailed)
			o.h.counters.setFailed(o.key, rec.Version)
			return fmt.Errorf("%s: %w: %s", o.key, ErrObjectFailed, o.failure)
		}
	}
	if err := o.takeLease(); err != nil {
		return fmt.Errorf("wake %s: %w: %w", o.key, ErrCannotStart, err)
	}
	o.h.live.admit(o, d.plugin.InitialMemory()+instanceOverhead)
	defer func() {
		if o.inst == nil {
			o.h.live.remove(o) // the wake failed: give its reservation back
			o.releaseLease()
		}
	}()
	inst, err := o.acquire(d)
	for range 3 {
		if !errors.Is(err, engine.ErrRetired) {
			break
		}
		// A deploy replaced the version between the lookup and the
		// acquire; the new one serves this wake, invisibly to clients.
		if d = o.h.activePlugin(o.id.Plugin); d == nil {
			return fmt.Errorf("%s: %w", o.key, ErrUnknownPlugin)
		}
		inst, err = o.acquire(d)
	}
	if errors.Is(err, engine.ErrStartFailing) || errors.Is(err, engine.ErrMemoryBudget) {
		return fmt.Errorf("wake %s: %w: %w", o.key, ErrCannotStart, err)
	}
	if err != nil {
		return fmt.Errorf("wake %s: %w", o.key, err)
	}
	o.inst, o.version = inst, d
	o.h.live.resize(o, inst.MemoryBytes())
	o.liveVersion.Store(&d.version.SHA256)
	o.setState(stLive)
	if inst.Has(engine.ExportRestore) {
		if ok, _, _ := o.invoke(engine.ExportRestore, rec.Snapshot, uint64(len(rec.Snapshot))); !ok {
			return fmt.Errorf("%s: restore failed", o.key)
		}
	}
	orphans := o.orphans
	o.orphans = nil
	if o.h.moves.adoptN.Load() > 0 {
		// Sockets a move brought may still follow the object here: they
		// stay adoptable, and are reported later if no gateway adopts them.
		var report []store.ConnRecord
		for _, c := range orphans {
			if o.h.moves.isAdoptable(o.key, c.ID) {
				o.orphans = append(o.orphans, c)
			} else {
				report = append(report, c)
			}
		}
		orphans = report
	}
	for _, c := range orphans {
		if o.inst == nil {
			break
		}
		o.deliverClose(&conn{id: c.ID, attachment: c.Attachment, tags: c.Tags}, closeGoingAway, []byte("host restarted"))
	}
	if o.inst == nil {
		return fmt.Errorf("%s: wake failed", o.key)
	}
	return nil
}

// acquire takes an instance of d for a wake. When the memory budget refuses
// one while other objects are live, it has the least recently active of
// them hibernated and tries again: a wake does not fail for lack of memory
// while something can make room.
func (o *object) acquire(d *deployed) (*engine.Instance, error) {
	inst, err := d.plugin.Acquire(context.Background())
	for try := 0; errors.Is(err, engine.ErrMemoryBudget) && try < 8 && o.h.live.makeRoom(); try++ {
		inst, err = d.plugin.Acquire(context.Background())
	}
	return inst, err
}

// invoke runs one guest handler as one event. Its storage writes, alarm and
// connection changes are committed, and then its frames sent, only when the
// handler returns normally (0, or any status for connect); otherwise
// everything is discarded and the instance torn down.
func (o *object) invoke(export int, data []byte, args ...uint64) (ok bool, res uint32, ev *event) {
	start := time.Now()
	result := ResultError // until the event is known to have ended otherwise
	defer func() { o.h.counters.event(export, result, time.Since(start)) }()
	ev = o.beginEvent(export, data, args)
	o.inst.Bind(ev)
	res, err := o.inst.Call(export, o.h.eventDeadline, args...)
	ev.data = nil // the guest has read it; it may be the sender's buffer (envelope.lent)
	if o.inst != nil {
		o.inst.Bind(nil)
		o.h.live.resize(o, o.inst.MemoryBytes())
	}
	ended := ResultOK
	switch {
	case err != nil:
		ended = callResult(err)
	case res != 0:
		ended = ResultError
		switch {
		case export != engine.ExportConnect:
			err = fmt.Errorf("%s returned %d", engine.ExportName(export), res)
		case res < abi.RejectMin || res > abi.RejectMax:
			err = fmt.Errorf("%s returned %d, neither 0 nor an HTTP status 400-599", engine.ExportName(export), res)
		default:
			// A refused connection takes its frames, tags and attachment
			// with it; the event's other effects stand.
			o.removeConn(ev.connect)
			ended = ResultRejected
		}
	}
	if ev.failed != nil {
		// A store failure answered Internal to the guest, whatever the
		// guest did next; the host failed, not the plugin.
		err = ev.failed
		ev.discard()
		o.fault(err, false)
		return false, 0, ev
	}
	if err != nil {
		result = ended
		ev.discard()
		o.fault(err, true)
		return false, 0, ev
	}
	if err := ev.commit(); err != nil {
		// The host, not the plugin, failed: the instance's memory is ahead
		// of what was committed, so it goes, but this is no mark against
		// the object.
		ev.discard()
		o.fault(fmt.Errorf("commit: %w", err), false)
		return false, 0, ev
	}
	result = ended
	if export != engine.ExportRestore && export != engine.ExportSnapshot {
		// Only an event the object was asked to handle proves it healthy:
		// every wake runs restore, and a plugin that traps on each frame
		// must still reach MaxFailures.
		o.failures = 0
	}
	return true, res, ev
}

// fault tears the instance down after a failed event; the next event
// rebuilds it from the last committed state. Repeated failures mark the
// object failed.
func (o *object) fault(cause error, plugin bool) {
	o.dropInstance()
	if !plugin {
		o.h.log.Error("event failed in the host; instance discarded", "object", o.key, "err", cause)
		return
	}
	o.failures++
	o.h.log.Warn("object event failed; instance discarded", "object", o.key, "failures", o.failures, "err", cause)
	if o.failures >= o.h.opts.MaxFailures {
		o.markFailed(cause)
	}
}

func (o *object) dropInstance() {
	if o.inst != nil {
		o.inst.Close()
		o.inst = nil
		o.h.live.remove(o)
	}
	o.releaseLease()
	o.ev = nil
	o.order = nil // a hibernated object keeps only its table
	o.liveVersion.Store(nil)
	if o.failure == "" {
		o.setState(stHibernated)
	}
}

// markFailed closes the object's sockets with 1011 and records the failure
// against the plugin version, so a redeploy clears it.
func (o *object) markFailed(cause error) {
	o.failure = cause.Error()
	o.setState(stFailed)
	o.h.counters.markedFailed.Add(1)
	if o.version != nil {
		o.h.counters.setFailed(o.key, o.version.version.SHA256)
	}
	o.closeAll(closeInternalError, "object failed")
	o.h.log.Error("object failed", "object", o.key, "err", cause)
	if err := o.updateRecord(func(rec *store.ObjectRecord) {
		rec.Failed = o.failure
		if o.version != nil {
			rec.Version = o.version.version.SHA256
		}
		rec.Conns = nil
	}); err != nil {
		o.h.log.Error("record failure", "object", o.key, "err", err)
		return
	}
	o.connsDirty = false
}

// closeAll closes every connection from the object's side.
func (o *object) closeAll(code int, reason string) {
	for _, id := range o.sortedConnIDs() {
		o.conns[id].c.Close(code, reason)
		o.removeConn(id)
	}
	o.publishConns()
}

func (o *object) updateRecord(fn func(*store.ObjectRecord)) error {
	rec, err := o.h.store.Object(o.key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	fn(&rec)
	return o.h.store.PutObject(o.key, rec)
}

// hibernate snapshots the guest and writes the snapshot, connection table
// and auto-responses in one transaction, then closes the instance. If the
// snapshot or the write fails, the instance stays (a failed snapshot handler
// counts as a fault, like any other). It reports whether the instance is gone.
// A hibernation that succeeds is counted under reason.
func (o *object) hibernate(reason HibernateReason) bool {
	return o.hibernateWhy(reason, reason.String())
}

// hibernateWhy is hibernate with the reason spelled out for the record,
// which `object inspect` shows.
func (o *object) hibernateWhy(reason HibernateReason, why string) bool {
	if o.inst == nil {
		return true
	}
	var snapshot []byte
	if o.inst.Has(engine.ExportSnapshot) {
		ok, _, ev := o.invoke(engine.ExportSnapshot, nil)
		if !ok {
			return true // the fault dropped the instance; the last snapshot stands
		}
		snapshot = ev.reply
	}
	rec := store.ObjectRecord{
		Version:    o.version.version.SHA256,
		Snapshot:   snapshot,
		Conns:      o.connRecords(),
		Hibernated: time.Now(),
		LastEvent:  time.Unix(0, o.lastEvent.Load()),
		// What made room for others is worth an operator's eye.
		HibernatedWhy: why,
	}
	rec.AutoResponses = o.autoResponseRecords()
	if !o.leaseHeld() {
		// Another host may run the object by now: its last commit stands,
		// this snapshot does not.
		o.h.log.Warn("hibernate: lease lost; snapshot dropped", "object", o.key)
		o.dropInstance()
		return true
	}
	if err := o.h.store.PutObject(o.key, rec); err != nil {
		o.h.log.Error("hibernate: write failed; object stays live", "object", o.key, "err", err)
		return false
	}
	o.connsDirty = false
	if len(snapshot) <= keepSnapshot {
		o.kept, o.keptValid = snapshot, true
	}
	o.dropInstance()
	o.h.counters.hibernations[reason].Add(1)
	o.h.log.Debug("object hibernated", "object", o.key, "reason", why, "snapshot_bytes", len(snapshot), "conns", len(rec.Conns))
	return true
}

func (o *object) autoResponseRecords() []store.AutoResponse {
	m := o.autoResp.Load()
	if m == nil {
		return nil
	}
	recs := make([]store.AutoResponse, 0, len(*m))
	for req, resp := range *m {
		recs = append(recs, store.AutoResponse{Request: []byte(req), Response: resp})
	}
	return recs
}

func (o *object) connRecords() []store.ConnRecord {
	if len(o.conns) == 0 {
		return nil
	}
	recs := make([]store.ConnRecord, 0, len(o.conns))
	for _, id := range o.sortedConnIDs() {
		c := o.conns[id]
		recs = append(recs, store.ConnRecord{ID: c.id, Attachment: c.attachment, Tags: c.tags})
	}
	return recs
}

func (o *object) setAutoResponses(pairs []store.AutoResponse) {
	if len(pairs) == 0 {
		o.autoResp.Store(nil)
		return
	}
	m := make(map[string][]byte, len(pairs))
	for _, p := range pairs {
		m[string(p.Request)] = p.Response
	}
	o.autoResp.Store(&m)
}

// alarm fires the object's alarm, if it is still due, and on failure
// reschedules it with exponential backoff until AlarmRetries is spent.
func (o *object) alarm() {
	defer func() {
		o.alarmQueued.Store(false)
		o.h.kickAlarms()
	}()
	a, err := o.h.store.Alarm(o.key)
	if err != nil || a.At.After(time.Now()) {
		return // cancelled or moved since it was queued
	}
	err = o.ensureLive()
	if err == nil && !o.inst.Has(engine.ExportAlarm) {
		if err := o.h.store.DeleteAlarm(o.key); err != nil {
			o.h.log.Error("drop alarm", "object", o.key, "err", err)
		}
		return
	}
	if err == nil {
		o.h.counters.alarmsFired.Add(1)
		if ok, _, _ := o.invoke(engine.ExportAlarm, nil, uint64(a.Retry)); ok {
			return
		}
		err = errors.New("alarm handler failed")
	}
	if a.Retry >= o.h.opts.AlarmRetries {
		o.h.counters.alarmsDrop.Add(1)
		o.h.log.Error("alarm dropped after retries", "object", o.key, "retries", a.Retry, "err", err)
		if err := o.h.store.DeleteAlarm(o.key); err != nil {
			o.h.log.Error("drop alarm", "object", o.key, "err", err)
		}
		return
	}
	a.Retry++
	a.At = time.Now().Add(o.h.opts.AlarmRetryBase << (a.Retry - 1))
	if err := o.h.store.SetAlarm(a); err != nil {
		o.h.log.Error("reschedule alarm", "object", o.key, "err", err)
		return
	}
	o.h.counters.alarmsRetry.Add(1)
}
