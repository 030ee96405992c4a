package gclimit

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// goal is the heap size at which the runtime will start its next cycle.
func goal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestHeapGoalIsLivePlusHeadroom(t *testing.T) {
	const (
		liveSize = 256 << 20
		headroom = 32 << 20 // 10% of the live heap and 64 MiB outside it
	)
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	live := make([][]byte, liveSize>>20)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	// GOGC=100 alone lets the heap double before the next cycle.
	if g := goal(); g < 2*liveSize-headroom {
		t.Fatalf("without a limit the heap goal is %d MiB, want about %d", g>>20, 2*liveSize>>20)
	}

	l := Start(Options{Outside: 64 << 20})
	runtime.GC() // the first cycle sets the limit
	waitFor(t, func() bool { return l.Limit() != 0 })
	runtime.GC()
	waitFor(t, func() bool { return goal() < 2*liveSize-headroom })
	if h := l.Headroom(); h < headroom-1<<20 || h > headroom+1<<20 {
		t.Errorf("headroom %d MiB, want %d", h>>20, headroom>>20)
	}
	if g, bound := goal(), uint64(liveSize+headroom+4<<20); g > bound {
		t.Errorf("with a %d MiB headroom the heap goal is %d MiB, want at most %d", headroom>>20, g>>20, bound>>20)
	}
	l.Stop()
	runtime.GC()
	if g := goal(); g < 2*liveSize-headroom {
		t.Errorf("after Stop the heap goal is %d MiB, want GOGC's %d again", g>>20, 2*liveSize>>20)
	}
	runtime.KeepAlive(live)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("after Stop the memory limit is %d, want it restored to none", got)
	}
}

func TestOperatorLimitIsNeverRaised(t *testing.T) {
	const operator = 64 << 20
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(operator))
	l := Start(Options{Outside: 1 << 40}) // a headroom far above the operator's limit
	runtime.GC()
	waitFor(t, func() bool { return l.Limit() != 0 })
	if got := l.Limit(); got != operator {
		t.Errorf("limit %d, want the operator's %d", got, operator)
	}
	l.Stop()
	if got := debug.SetMemoryLimit(-1); got != operator {
		t.Errorf("after Stop the limit is %d, want the operator's %d back", got, operator)
	}
}

func TestHeadroomHasAFloor(t *testing.T) {
	l := Start(Options{Share: 1e-9})
	defer l.Stop()
	runtime.GC()
	waitFor(t, func() bool { return l.Limit() != 0 })
	if l.Headroom() != MinHeadroom {
		t.Errorf("headroom %d, want the floor %d", l.Headroom(), MinHeadroom)
	}
}

// waitFor polls cond for a few seconds: cleanups run on their own goroutine
// some time after the cycle that frees the sentinel.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("no collection was seen")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
