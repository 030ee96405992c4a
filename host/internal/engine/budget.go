package engine

import (
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// budget is the host-wide bound on the linear memory of every instance,
// those waiting in pools included, with a share per plugin. Memory is
// charged when an instance allocates or grows it and returned when the
// instance closes, so a grow past the budget fails inside the guest that
// asked (memory.grow returns -1), and an instantiation past it fails that
// instantiation: no one else's event.
type budget struct {
	limit    int64 // bytes; 0: unbounded
	perShare int64 // bytes one plugin may hold; 0: unbounded
	used     atomic.Int64
	refused  atomic.Uint64
	// reclaim frees memory that is only held speculatively (pool
	// instances) when a charge would fail; it reports whether it freed any.
	reclaim func() bool
}

// charge takes n bytes for plugin p (nil: no plugin share), reclaiming pool
// instances once before it gives up.
func (b *budget) charge(p *Plugin, n int64) bool {
	if n <= 0 {
		return true
	}
	if b.tryCharge(p, n) {
		return true
	}
	if b.reclaim != nil && b.reclaim() && b.tryCharge(p, n) {
		return true
	}
	b.refused.Add(1)
	return false
}

func (b *budget) tryCharge(p *Plugin, n int64) bool {
	share := p != nil && b.perShare > 0
	if share && p.mem.Add(n) > b.perShare {
		p.mem.Add(-n)
		return false
	}
	if b.used.Add(n) > b.limit && b.limit > 0 {
		b.used.Add(-n)
		if share {
			p.mem.Add(-n)
		}
		return false
	}
	return true
}

func (b *budget) release(p *Plugin, n int64) {
	if n <= 0 {
		return
	}
	b.used.Add(-n)
	if p != nil && b.perShare > 0 {
		p.mem.Add(-n)
	}
}

// tight reports whether the budget is three-quarters used, when pools stop
// refilling so that live objects get what is left.
func (b *budget) tight(p *Plugin) bool {
	if b.limit > 0 && b.used.Load() > b.limit/4*3 {
		return true
	}
	return p != nil && b.perShare > 0 && p.mem.Load() > b.perShare/4*3
}

// allocator makes the linear memories of one plugin's instances.
type allocator struct {
	b *budget
	p *Plugin
}

func (a allocator) Allocate(_, max uint64) experimental.LinearMemory {
	return &linearMemory{b: a.b, p: a.p, max: max}
}

// linearMemory is a guest's linear memory in the Go heap, charged to the
// budget by its capacity. Growth reallocates with headroom (a quarter), so
// a guest growing a page at a time does not copy its memory at every grow.
// Reallocate runs on the guest's own thread; Free may run on the goroutine
// that closes a timed-out module while the guest still unwinds, hence mu.
// The Go slice stays valid for wazero after Free, so that race is harmless.
type linearMemory struct {
	mu      sync.Mutex
	b       *budget
	p       *Plugin
	max     uint64
	buf     []byte
	charged int64
	// overdrawn: the initial allocation, which wazero requires to succeed,
	// was past the budget; the instantiation then fails (see instantiate).
	overdrawn bool
	freed     bool
}

func (m *linearMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.freed || size > m.max {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	newCap := max(size, min(uint64(cap(m.buf))+uint64(cap(m.buf))/4, m.max))
	delta := int64(newCap) - m.charged
	ok := m.b.charge(m.p, delta)
	if !ok && newCap > size {
		// No room for headroom: take exactly what was asked for.
		newCap, delta = size, int64(size)-m.charged
		ok = m.b.charge(m.p, delta)
	}
	if !ok {
		if m.buf != nil {
			return nil // memory.grow fails in the guest
		}
		// The first allocation: wazero panics on nil here, so give it the
		// minimum (bounded by the page limit) and fail the instantiation.
		m.overdrawn = true
		m.b.used.Add(int64(size) - m.charged)
		if m.p != nil && m.b.perShare > 0 {
			m.p.mem.Add(int64(size) - m.charged)
		}
		newCap, delta = size, int64(size)-m.charged
	}
	nb := make([]byte, size, newCap)
	copy(nb, m.buf)
	m.buf = nb
	m.charged += delta
	return nb
}

func (m *linearMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.freed {
		return
	}
	m.freed = true
	m.b.release(m.p, m.charged)
	m.charged = 0
	m.buf = nil
}

func (m *linearMemory) isOverdrawn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.overdrawn
}

var _ experimental.LinearMemory = (*linearMemory)(nil)
