package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/torpor-dev/torpor/host/internal/stacklimit"
)

// Deadline bounds one call into a guest: a handler, or an instantiation
// (the module's start function and _initialize).
type Deadline struct {
	// CPU is the CPU time the call's thread may spend; 0 means no limit.
	// It is the guest's own time, measured on its thread's CPU clock, so a
	// busy machine slows a handler down but never fails it.
	CPU time.Duration
	// Wall bounds the call's wall-clock time whatever its CPU use: a guest
	// starved of CPU, or one waiting in a host call, still ends. 0 means no
	// limit.
	Wall time.Duration
}

func (d Deadline) String() string {
	switch {
	case d.CPU > 0 && d.Wall > 0:
		return fmt.Sprintf("%v CPU, %v wall", d.CPU, d.Wall)
	case d.CPU > 0:
		return fmt.Sprintf("%v CPU", d.CPU)
	case d.Wall > 0:
		return fmt.Sprintf("%v wall", d.Wall)
	}
	return "none"
}

// Causes a watchdog stops a call with; guard turns them into ErrTimeout.
var (
	errCPUSpent  = errors.New("CPU time limit")
	errWallSpent = errors.New("wall-clock limit")
)

// watchdog stops one instance's calls when the call's thread has used its
// CPU time or the call has run past its wall-clock bound. It is made once
// per instance and armed for every call; the engine's watch loop (one
// goroutine for every call, ticking only while calls run) checks it every
// watchEvery, so a call costs no timer of its own. Stopping raises the
// stopping flag and empties the instance's fuel (see stacklimit), so the
// guest calls yield at its next function entry or loop header, and yield
// traps; no context reaches wazero, which would start a watcher goroutine
// per call for one.
//
// Reading a thread's CPU clock is a system call (most calls are far shorter
// than one), so the watchdog does not read it when the call starts: it
// first reads it once the call has run firstCheck, takes that reading as its
// base and counts the time before as used in full, up to firstCheck. A call
// that ends sooner costs no clock read at all; one that runs on is measured
// to within the watch loop's tick.
type watchdog struct {
	inst     *Instance
	mu       sync.Mutex
	clock    threadClock
	base     time.Duration // the thread's CPU clock at the first reading
	before   time.Duration // CPU time counted for the call before the base
	hasBase  bool
	started  time.Time
	d        Deadline
	armed    bool
	cause    error       // why the call was stopped; nil: it was not
	stopping atomic.Bool // cause is set: read by yield without the lock
}

// firstCheck is when a call's watchdog first reads its CPU time.
const firstCheck = 10 * time.Millisecond

// watchEvery is the watch loop's tick: how late past its limit a call can
// be stopped. watchLinger is how many quiet ticks (no call running) it
// waits before it sleeps until the next call.
const (
	watchEvery  = 5 * time.Millisecond
	watchLinger = 40
)

// arm starts watching a call about to run on the calling goroutine's
// locked thread.
func (w *watchdog) arm(d Deadline) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d, w.armed, w.cause, w.hasBase = d, true, nil, false
	w.stopping.Store(false)
	if d.CPU > 0 {
		w.clock = currentThreadClock()
	}
	w.started = time.Now()
}

// disarm ends the watch and reports why the call was stopped, if it was.
func (w *watchdog) disarm() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	return w.cause
}

// check stops the call if it has passed a bound by now.
func (w *watchdog) check(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.armed || w.cause != nil {
		return
	}
	elapsed := now.Sub(w.started)
	if w.d.Wall > 0 && elapsed >= w.d.Wall {
		w.stopLocked(errWallSpent)
		return
	}
	if w.d.CPU <= 0 || elapsed < min(w.d.CPU, firstCheck) {
		return
	}
	used := elapsed // without a readable clock, CPU time is bounded by wall time
	if t, ok := w.clock.now(); ok {
		if !w.hasBase {
			w.base, w.before, w.hasBase = t, min(elapsed, firstCheck), true
		}
		used = w.before + t - w.base
	}
	if used >= w.d.CPU {
		w.stopLocked(errCPUSpent)
	}
}

// watchLoop checks every running call's watchdog each watchEvery while
// calls run, and sleeps while none has for a while; track wakes it.
func (e *Engine) watchLoop() {
	defer e.wg.Done()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.watchWake:
		}
		tick := time.NewTicker(watchEvery)
		for quiet := 0; quiet < watchLinger; {
			var now time.Time
			select {
			case <-e.ctx.Done():
				tick.Stop()
				return
			case now = <-tick.C:
			}
			e.runMu.Lock()
			quiet++
			for inst := range e.running {
				quiet = 0
				inst.dog.check(now)
			}
			if quiet >= watchLinger {
				e.watching = false
			}
			e.runMu.Unlock()
		}
		tick.Stop()
	}
}

// stop stops the call in progress, if any, for cause.
func (w *watchdog) stop(cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.armed && w.cause == nil {
		w.stopLocked(cause)
	}
}

func (w *watchdog) stopLocked(cause error) {
	w.cause = cause
	w.stopping.Store(true)
	if g := w.inst.fuel; g != nil {
		g.Set(0)
	}
}

// guard runs fn, which calls into inst, a guest of p, on a locked OS thread
// under d, inside p's and the engine's concurrency slots, where the
// watchdog, Interrupt or Close can stop it. ctx bounds only the wait for a
// slot. guard returns fn's error, replaced by ErrTimeout (wrapped, naming
// the bound) or ErrClosed when the guest was stopped.
func (e *Engine) guard(ctx context.Context, inst *Instance, d Deadline, fn api.Function) error {
	p := inst.plugin
	if err := e.enter(ctx, p); err != nil {
		return err
	}
	defer e.leave(p)
	return e.run(inst, d, fn)
}

// run is guard for a caller that already holds inst's slots.
func (e *Engine) run(inst *Instance, d Deadline, fn api.Function) error {
	// The guest runs on this goroutine's thread from here to the return:
	// pinning the goroutine makes the thread's CPU clock the guest's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	if !e.track(inst) {
		return ErrClosed
	}
	inst.dog.arm(d)
	err := fn.CallWithStack(inst.ctx, inst.stack)
	cause := inst.dog.disarm()
	e.untrack(inst)
	switch {
	case cause == nil:
		return err
	case err == nil:
		// Stopped just as it returned: the call stands. The empty fuel
		// only makes the next call yield once, and arm clears the flag.
		return nil
	case errors.Is(cause, errCPUSpent):
		return fmt.Errorf("%w (%v of CPU time)", ErrTimeout, d.CPU)
	case errors.Is(cause, errWallSpent):
		return fmt.Errorf("%w (%v of wall-clock time)", ErrTimeout, d.Wall)
	}
	// Closed or canceled: err is only the yield's own trap, whose message
	// (a wasm stack trace ending in the host's yield) would tell a reader
	// nothing but the host's internals.
	return cause
}

// track records inst as running a call, so that Interrupt can stop it; it
// reports false once the engine is closing.
func (e *Engine) track(inst *Instance) bool {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	if e.ctx.Err() != nil {
		return false
	}
	e.running[inst] = struct{}{}
	e.calls++
	if !e.watching {
		e.watching = true
		select {
		case e.watchWake <- struct{}{}:
		default:
		}
	}
	return true
}

func (e *Engine) untrack(inst *Instance) {
	e.runMu.Lock()
	delete(e.running, inst)
	e.runMu.Unlock()
}

// stopRunning stops every call in progress with cause.
func (e *Engine) stopRunning(cause error) {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	for inst := range e.running {
		inst.dog.stop(cause)
	}
}

// slots bound how many guest calls run at once: at most Total, and at most
// PerPlugin of one plugin's, so that one plugin's busy objects cannot take
// every slot from the others. A running call is preempted like a goroutine
// only where it yields (every FuelPerYield checks; see stacklimit), and
// holds its native stack out of the memory budget, so the bound is also one
// on both.
type slots struct {
	total     chan struct{} // nil: unbounded
	perPlugin int           // 0: unbounded
	waiting   atomic.Int64
}

func newSlots(total, perPlugin int) *slots {
	s := &slots{perPlugin: perPlugin}
	if total > 0 {
		s.total = make(chan struct{}, total)
	}
	return s
}

// enter takes a slot of p's and one of the engine's, waiting (until ctx or
// the engine ends) while they are taken; leave gives them back.
func (e *Engine) enter(ctx context.Context, p *Plugin) error {
	s := e.slots
	if err := acquire(ctx, e.ctx, p.slots, &s.waiting); err != nil {
		return err
	}
	if err := acquire(ctx, e.ctx, s.total, &s.waiting); err != nil {
		if p.slots != nil {
			<-p.slots
		}
		return err
	}
	return nil
}

func (e *Engine) leave(p *Plugin) {
	if e.slots.total != nil {
		<-e.slots.total
	}
	if p.slots != nil {
		<-p.slots
	}
}

func acquire(ctx, closing context.Context, ch chan struct{}, waiting *atomic.Int64) error {
	if ch == nil {
		return nil
	}
	select {
	case ch <- struct{}{}:
		return nil
	default:
	}
	waiting.Add(1)
	defer waiting.Add(-1)
	select {
	case ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-closing.Done():
		return ErrClosed
	}
}

// errStopped is what yield panics with to end a stopped call; guard reports
// the watchdog's cause instead.
var errStopped = errors.New("call stopped by the host")

// instantiateYield provides the function instrumented guests call when
// their fuel runs out (see stacklimit): a point in Go code where the
// runtime can stop the goroutine, so that a collection never waits for a
// long guest call, and where a call the watchdog stopped ends.
func instantiateYield(ctx context.Context, rt wazero.Runtime) error {
	yield := func(ctx context.Context, _ api.Module, _ []uint64) {
		if inst, _ := ctx.Value(instanceKey{}).(*Instance); inst != nil && inst.dog.stopping.Load() {
			panic(errStopped)
		}
	}
	_, err := rt.NewHostModuleBuilder(stacklimit.YieldModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(yield), nil, nil).
		WithName(stacklimit.YieldImport).
		Export(stacklimit.YieldImport).
		Instantiate(ctx)
	return err
}
