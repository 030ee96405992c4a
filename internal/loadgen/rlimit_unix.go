//go:build linux || darwin

package loadgen

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit lifts this process's soft open-file limit to its hard
// limit and returns both, with the soft limit it had before. It calls
// Setrlimit itself even when Go's runtime already raised the soft limit at
// start-up: a process that sets the limit explicitly hands it on to the
// children it starts (the baseline server), where Go would otherwise give
// them back the limit the process started with.
func RaiseFileLimit() (before, soft, hard uint64, err error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, 0, fmt.Errorf("open-file limit: %w", err)
	}
	before = l.Cur
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return before, before, l.Max, fmt.Errorf("raise the open-file limit to %d: %w", l.Max, err)
	}
	return before, l.Cur, l.Max, nil
}
