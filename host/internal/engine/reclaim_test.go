package engine

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/host/internal/reclaim"
)

// What a sync.Pool held when connections closed (gws pools a read buffer
// per socket) is gone after the reclaim loop's collection: one cycle only
// moves a pool's contents to its victim cache.
func TestReclaimFreesPooledBuffers(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Config{MemoryBudget: 64 << 20, StackLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)

	var pool sync.Pool
	freed := make(chan struct{}, 1)
	func() {
		buf := new([64 << 10]byte)
		runtime.AddCleanup(buf, func(chan struct{}) { freed <- struct{}{} }, freed)
		pool.Put(buf)
	}()
	// Closed connections note their garbage; a quiet process then gets the
	// loop's collection at its next look.
	reclaim.Note(reclaimFreed)
	before := e.forced.Load()
	deadline := time.After(4*reclaimEvery + time.Second)
	for {
		select {
		case <-freed:
			if e.forced.Load() == before {
				t.Log("freed by a collection the loop did not force")
			}
			runtime.KeepAlive(&pool)
			return
		case <-deadline:
			t.Fatalf("a pooled buffer survived %d forced collections", e.forced.Load()-before)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
