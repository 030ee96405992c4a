package gateway

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/lxzan/gws"
	"github.com/torpor-dev/torpor/host"
)

// frameCache shares one encoded WebSocket frame among the sockets a
// host.Frame is sent to. The host hands the same *host.Frame to every
// receiver of a broadcast, one Send after another; the first Send creates a
// gws.Broadcaster, which encodes the frame once, and the others reuse it.
// An entry lives while any of its writes is queued: the last socket to
// write it removes the entry and releases the encoded buffer.
//
// A socket that drains its queue before the host reaches the next receiver
// may let the entry go early, and the frame is then encoded again for the
// rest: a cost that only appears when writers are idle, never when they
// are busy, which is when it would matter. Keeping entries until the
// garbage collector proves the host dropped the frame (a weak pointer and a
// cleanup) would make it exact, at the price of a GC-driven lifetime for
// every encoded buffer and a cleanup per frame sent.
//
// The map is sharded by frame address so that objects broadcasting on
// different cores seldom share a lock.
type frameCache struct {
	seed      maphash.Seed
	shards    [frameShards]frameShard
	encodings atomic.Uint64 // Broadcasters made, for tests and benchmarks
}

const frameShards = 64

type frameShard struct {
	mu sync.Mutex
	m  map[*host.Frame]*sharedFrame
}

// sharedFrame is one frame's encoding and the number of sockets that have
// it queued.
type sharedFrame struct {
	bc    *gws.Broadcaster
	frame *host.Frame
	shard *frameShard
	refs  int // guarded by shard.mu
}

func (fc *frameCache) init() {
	fc.seed = maphash.MakeSeed()
	for i := range fc.shards {
		fc.shards[i].m = map[*host.Frame]*sharedFrame{}
	}
}

// acquire returns f's shared encoding, counting one more socket that will
// write it. Every acquire must be paired with a release once the socket
// has written it (or failed to).
func (fc *frameCache) acquire(f *host.Frame, op gws.Opcode) *sharedFrame {
	sh := &fc.shards[maphash.Comparable(fc.seed, f)%frameShards]
	sh.mu.Lock()
	sf := sh.m[f]
	if sf == nil {
		// The Broadcaster encodes lazily, on its first Broadcast, using
		// that socket's settings; every socket of a gateway shares them.
		sf = &sharedFrame{bc: gws.NewBroadcaster(op, f.Data), frame: f, shard: sh}
		sh.m[f] = sf
		fc.encodings.Add(1)
	}
	sf.refs++
	sh.mu.Unlock()
	return sf
}

// release counts one socket out; the last one frees the encoding.
func (fc *frameCache) release(sf *sharedFrame) {
	sh := sf.shard
	sh.mu.Lock()
	sf.refs--
	last := sf.refs == 0
	if last {
		delete(sh.m, sf.frame)
	}
	sh.mu.Unlock()
	if last {
		// Every Broadcast on it has been written: Close returns the
		// encoded buffer to gws's pool.
		_ = sf.bc.Close()
	}
}
