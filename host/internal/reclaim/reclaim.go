// Package reclaim counts the memory the host's parts have just turned into
// garbage (a closed instance, a closed connection), so that a quiet process
// can collect it and return it to the OS at once rather than when the Go
// runtime's two-minute forced collection comes round. Collecting is the
// engine's job (its reclaim loop); this package only keeps the tally, which
// is process-wide, as the heap is.
package reclaim

import "sync/atomic"

// Estimates of the Go heap one closed thing leaves behind.
const (
	// Instance is a closed wasm instance's module instance, functions
	// and tables (its linear memory is outside the heap).
	Instance = 256 << 10
	// Conn is a closed WebSocket connection's buffers: TLS records, the
	// reader, the write queue.
	Conn = 32 << 10
)

var pending atomic.Int64

// Note records that about bytes of heap just became garbage.
func Note(bytes int64) { pending.Add(bytes) }

// Take returns what was noted since the last Take, and resets it.
func Take() int64 { return pending.Swap(0) }

// Pending returns what was noted since the last Take.
func Pending() int64 { return pending.Load() }
