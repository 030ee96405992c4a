//go:build !linux

package engine

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// heapMemory is a guest's linear memory in the Go heap, where no mmap is
// at hand: charged by its capacity, grown with a quarter of headroom.
type heapMemory struct {
	mu      sync.Mutex
	b       *budget
	p       *Plugin
	img     *memImage // copied in at the first grow; nil: none
	max     uint64
	buf     []byte
	charged int64
	isOver  bool
	started bool
	done    bool
}

func (a allocator) Allocate(_, max uint64) experimental.LinearMemory {
	return &heapMemory{b: a.b, p: a.p, img: a.img, max: max}
}

func (m *heapMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	first := !m.started
	m.started = true
	if m.done || size > m.max {
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
		newCap, delta = size, int64(size)-m.charged
		ok = m.b.charge(m.p, delta)
	}
	if !ok {
		if !first {
			return nil
		}
		m.isOver = true
		m.b.force(m.p, delta)
	}
	nb := make([]byte, size, newCap)
	copy(nb, m.buf)
	if first && m.img != nil {
		m.img.copyInto(nb)
	}
	m.buf = nb
	m.charged += delta
	return nb
}

// Free releases the charge: the Go slice stays valid for a guest that still
// unwinds, and the garbage collector takes it once no one refers to it.
func (m *heapMemory) Free() { m.release() }

func (m *heapMemory) overdrawn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.isOver
}

func (m *heapMemory) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done {
		return
	}
	m.done = true
	m.b.release(m.p, m.charged)
	m.charged = 0
	m.buf = nil
}

var _ guestMemory = (*heapMemory)(nil)
