package engine

import (
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

// force charges n bytes whatever the bounds: an allocation wazero
// requires, which the caller then undoes by failing the instantiation.
func (b *budget) force(p *Plugin, n int64) {
	b.used.Add(n)
	if p != nil && b.perShare > 0 {
		p.mem.Add(n)
	}
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

// guestMemory is one instance's linear memory as the budget sees it.
// wazero calls Free when it closes the module, which may happen on another
// goroutine while a timed-out guest still unwinds; the memory is only given
// back by release, which the instance's owner calls once no call into the
// instance can be running.
type guestMemory interface {
	experimental.LinearMemory
	// overdrawn reports that the initial allocation, which wazero requires
	// to succeed, was past the budget: the instantiation must then fail.
	overdrawn() bool
	release()
}

// allocator makes the linear memories of one plugin's instances, in mmapped
// memory where the platform has it (memory_linux.go).
type allocator struct {
	b   *budget
	p   *Plugin
	img *memImage // the initial contents to put in place; nil: none
}
