package engine

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/torpor-dev/torpor/host/internal/reclaim"
)

// The Go heap's part of an instance (wazero's module instance, its
// functions and tables) becomes garbage when the instance closes, and a
// quiet process may not collect for minutes: the runtime forces a cycle
// only every two minutes, and returns freed pages to the OS only after
// that. A host that just hibernated a thousand rooms would keep their heap
// resident meanwhile. So the reclaim loop looks every reclaimEvery and, if
// the process is quiet (no collection ran since its last look, and guests
// were called fewer than reclaimBusyCalls times: a busy process collects,
// and its scavenger returns memory, by itself, and a forced collection of a
// large heap there stalls every event for a tenth of a second), collects
// and returns memory at once (debug.FreeOSMemory) when:
//   - the host's parts noted (package reclaim) that about reclaimFreed of
//     heap became garbage since it last did: closed instances and
//     connections, whose memory no heap metric shows until a collection, or
//   - the heap holds more than reclaimSlack beyond what the last cycle found
//     live (and a quarter of that): garbage nobody collects, as after a
//     wave of disconnects, or
//   - more than reclaimSlack of free heap has not been returned.
//
// A stack overflow's request (returnMemory) is served whatever the load.
// The cost is two full collections per trigger (see below), at most one
// trigger per reclaimEvery: about 60 ms of CPU for a 100 MiB heap.
const (
	reclaimEvery     = 2 * time.Second
	reclaimFreed     = 8 << 20 // 32 instances, 256 connections
	reclaimSlack     = 64 << 20
	reclaimBusyCalls = 1000 // in reclaimEvery: 500 events a second
)

// returnMemory asks for freed memory to go back to the OS at the next look:
// after a stack overflow, say, which leaves a native stack of a hundred MiB
// to the garbage collector.
func (e *Engine) returnMemory() {
	select {
	case e.freeOS <- struct{}{}:
	default:
	}
}

// instanceClosed counts an instance whose heap just became garbage.
func (e *Engine) instanceClosed() { reclaim.Note(reclaim.Instance) }

func (e *Engine) reclaimLoop() {
	defer e.wg.Done()
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	tick := time.NewTicker(reclaimEvery)
	defer tick.Stop()
	asked := false
	var cycles, calls uint64
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.freeOS:
			asked = true
			continue
		case <-tick.C:
		}
		metrics.Read(samples)
		objects, live, free := value(samples[0]), value(samples[1]), value(samples[2])
		e.runMu.Lock()
		made := e.calls
		e.runMu.Unlock()
		quiet := value(samples[3]) == cycles && made-calls < reclaimBusyCalls
		calls = made
		garbage := objects > live && objects-live > max(reclaimSlack, live/4)
		if asked || quiet && (reclaim.Pending() >= reclaimFreed || garbage || free > reclaimSlack) {
			reclaim.Take()
			asked = false
			e.forced.Add(1)
			// Two cycles: a sync.Pool keeps what it held through one
			// (its victim cache), and gws pools a 4 KiB read buffer for
			// every socket it closed, 34 MiB after 10,000 disconnects.
			runtime.GC()
			debug.FreeOSMemory()
			metrics.Read(samples)
		}
		cycles = value(samples[3])
	}
}

// value reads a sample, 0 for one this Go release does not have.
func value(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}
