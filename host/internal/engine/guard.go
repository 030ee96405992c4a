package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
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

// Causes a watchdog cancels a call with; call turns them into ErrTimeout.
var (
	errCPUSpent  = errors.New("CPU time limit")
	errWallSpent = errors.New("wall-clock limit")
)

// watchdog cancels one guest call when its thread has used its CPU time or
// the call has run past its wall-clock bound. It needs no goroutine of its
// own: a timer fires at the earliest moment either bound could be reached
// (CPU time never runs faster than wall time), reads the thread's CPU clock
// and either cancels the call or sleeps for what is left.
//
// Reading a thread's CPU clock is a system call (most calls are far shorter
// than one), so the watchdog does not read it when the call starts: it
// first fires after firstCheck, takes the clock's reading then as its base
// and counts the time before as used in full, up to firstCheck. A call that
// ends sooner costs no clock read at all; one that runs on is measured to
// within the lateness of that first timer.
type watchdog struct {
	mu      sync.Mutex
	timer   *time.Timer
	clock   threadClock
	base    time.Duration // the thread's CPU clock at the first check
	before  time.Duration // CPU time counted for the call before the base
	hasBase bool
	started time.Time
	d       Deadline
	cancel  context.CancelCauseFunc
	done    bool
}

// firstCheck is when a call's watchdog first looks at its CPU time.
const firstCheck = 10 * time.Millisecond

func (w *watchdog) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	elapsed := time.Since(w.started)
	if w.d.Wall > 0 && elapsed >= w.d.Wall {
		w.cancel(errWallSpent)
		return
	}
	next := time.Duration(1<<63 - 1)
	if w.d.Wall > 0 {
		next = w.d.Wall - elapsed
	}
	if w.d.CPU > 0 {
		used := elapsed // without a readable clock, CPU time is bounded by wall time
		if now, ok := w.clock.now(); ok {
			if !w.hasBase {
				w.base, w.before, w.hasBase = now, min(elapsed, firstCheck), true
			}
			used = w.before + now - w.base
		}
		if used >= w.d.CPU {
			w.cancel(errCPUSpent)
			return
		}
		next = min(next, w.d.CPU-used)
	}
	// Never re-arm for less than a millisecond: a call this close to its
	// limit is checked again soon enough, without a storm of timers.
	w.timer.Reset(max(next, time.Millisecond))
}

func (w *watchdog) stop() {
	w.mu.Lock()
	w.done = true
	w.timer.Stop()
	w.mu.Unlock()
}

// guard runs fn, which calls into a guest of p, on a locked OS thread under
// d, inside p's and the engine's concurrency slots. fn gets a context that
// ends when d is spent, when ctx ends, or when the engine closes; with the
// runtime's close-on-context-done, that stops the guest at its next function
// entry or loop back-edge. guard returns fn's error, replaced by ErrTimeout
// (wrapped, naming the bound) when the watchdog stopped it.
func (e *Engine) guard(ctx context.Context, p *Plugin, d Deadline, fn func(ctx context.Context) error) error {
	release, err := e.enter(ctx, p)
	if err != nil {
		return err
	}
	defer release()

	// The guest runs on this goroutine's thread from here to the return:
	// pinning the goroutine makes the thread's CPU clock the guest's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopOnClose := context.AfterFunc(e.ctx, func() { cancel(ErrClosed) })
	defer stopOnClose()

	if d.CPU > 0 || d.Wall > 0 {
		w := &watchdog{clock: currentThreadClock(), started: time.Now(), d: d, cancel: cancel}
		first := d.Wall
		if d.CPU > 0 {
			first = min(d.CPU, firstCheck)
		}
		w.mu.Lock()
		w.timer = time.AfterFunc(first, w.check)
		w.mu.Unlock()
		defer w.stop()
	}
	err = fn(cctx)
	if err == nil {
		return nil
	}
	switch cause := context.Cause(cctx); {
	case errors.Is(cause, errCPUSpent):
		return fmt.Errorf("%w (%v of CPU time)", ErrTimeout, d.CPU)
	case errors.Is(cause, errWallSpent):
		return fmt.Errorf("%w (%v of wall-clock time)", ErrTimeout, d.Wall)
	case errors.Is(cause, ErrClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// slots bound how many guest calls run at once. A guest call holds its
// goroutine's P for as long as it runs, since compiled wasm is never
// preempted by the Go scheduler: with every P busy in guests, nothing else
// in the process runs. So the engine lets at most Total calls run at once,
// and at most PerPlugin of one plugin's, so that one plugin's busy objects
// cannot take every slot from the others; given more Ps than cores
// (GOMAXPROCS), the kernel then shares the cores fairly between the threads
// of a busy plugin and its neighbours.
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
// the engine ends) while they are taken, and returns their release.
func (e *Engine) enter(ctx context.Context, p *Plugin) (func(), error) {
	s := e.slots
	var mine chan struct{}
	if p != nil {
		mine = p.slots
	}
	if err := acquire(ctx, e.ctx, mine, &s.waiting); err != nil {
		return nil, err
	}
	if err := acquire(ctx, e.ctx, s.total, &s.waiting); err != nil {
		if mine != nil {
			<-mine
		}
		return nil, err
	}
	return func() {
		if s.total != nil {
			<-s.total
		}
		if mine != nil {
			<-mine
		}
	}, nil
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
