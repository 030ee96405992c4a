//go:build linux

package engine

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadClock is the CPU-time clock of one OS thread. Linux lets any thread
// read another's: the clock id encodes the thread id (MAKE_THREAD_CPUCLOCK in
// the kernel's posix-timers.h: the inverted tid shifted left by 3, with the
// per-thread bit (4) and the scheduler-clock type (2)). So a call's watchdog,
// on whatever thread its timer fires, reads exactly the CPU time of the
// thread that runs the guest, and contention (time spent waiting for a core)
// never counts against a handler.
type threadClock int32

// currentThreadClock returns the clock of the calling thread. The caller
// must hold the thread (runtime.LockOSThread) for as long as it reads it.
func currentThreadClock() threadClock {
	return threadClock(^int32(unix.Gettid())<<3 | 6)
}

// now returns the thread's CPU time so far, or ok=false when the clock
// cannot be read (the watchdog then falls back to wall time).
func (c threadClock) now() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(c), &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
