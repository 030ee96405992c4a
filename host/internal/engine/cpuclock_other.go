//go:build !linux

package engine

import "time"

// threadClock falls back to wall time where no per-thread CPU clock can be
// read from another thread: a handler is then limited by wall time.
type threadClock struct{ start time.Time }

func currentThreadClock() threadClock { return threadClock{start: time.Now()} }

func (c threadClock) now() (time.Duration, bool) { return time.Since(c.start), true }
