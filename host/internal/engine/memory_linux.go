package engine

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// mmapMemory is a guest's linear memory outside the Go heap: the largest
// size it may reach is reserved at once as inaccessible address space, and
// a grow makes the next pages readable and writable in place, so growing
// never copies and never leaves garbage, and release returns every page to
// the kernel at once instead of waiting for the garbage collector. Only
// the accessible bytes are charged to the budget; only the pages the guest
// touches become resident.
//
// Touching the memory after it is unmapped would fault the whole process,
// which is why Free (wazero's, possibly while a stopped guest unwinds) only
// marks it and release (the owner's, between calls) unmaps it.
type mmapMemory struct {
	mu       sync.Mutex
	b        *budget
	p        *Plugin
	region   []byte // the reservation; nil once unmapped
	size     uint64 // accessible bytes, a prefix of region
	charged  int64
	isOver   bool
	started  bool // Reallocate was called: the initial allocation is done
	freed    bool
	unmapped bool
	noMap    bool // the reservation failed: the instance is refused
	// copyImage is the image to copy in at the first grow, when it could
	// not be mapped; nil when mapped or there is none.
	copyImage *memImage
}

func (a allocator) Allocate(_, max uint64) experimental.LinearMemory {
	m := &mmapMemory{b: a.b, p: a.p}
	if max == 0 {
		return m
	}
	region, err := unix.Mmap(-1, 0, int(max), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		// Out of address space or of mappings (vm.max_map_count): this
		// instance cannot be made; Reallocate hands wazero a throwaway
		// minimum and the instantiation fails as over budget.
		m.noMap = true
		return m
	}
	m.region = region
	if a.img != nil && !a.img.file.mapOver(region) {
		m.copyImage = a.img
	}
	return m
}

func (m *mmapMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	first := !m.started
	m.started = true
	if m.noMap {
		if first {
			m.isOver = true
			return make([]byte, size)
		}
		return nil
	}
	if m.freed || size > uint64(len(m.region)) {
		if size == 0 {
			return []byte{}
		}
		return nil
	}
	if size > m.size {
		delta := int64(size - m.size)
		if !m.b.charge(m.p, delta) {
			if !first {
				return nil // memory.grow fails in the guest
			}
			// The first allocation: wazero panics on nil, so give it the
			// minimum (within the page limit) and fail the instantiation.
			m.isOver = true
			m.b.force(m.p, delta)
		}
		if err := unix.Mprotect(m.region[m.size:size], unix.PROT_READ|unix.PROT_WRITE); err != nil {
			m.b.release(m.p, delta)
			return nil
		}
		m.charged += delta
		m.size = size
	}
	if first && m.copyImage != nil {
		m.copyImage.copyInto(m.region[:size])
		m.copyImage = nil
	}
	return m.region[:size:size]
}

func (m *mmapMemory) Free() {
	m.mu.Lock()
	m.freed = true
	m.mu.Unlock()
}

func (m *mmapMemory) overdrawn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.isOver
}

func (m *mmapMemory) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unmapped {
		return
	}
	m.unmapped, m.freed = true, true
	if m.region != nil {
		_ = unix.Munmap(m.region)
	}
	m.region = nil
	m.b.release(m.p, m.charged)
	m.charged = 0
}

var _ guestMemory = (*mmapMemory)(nil)
