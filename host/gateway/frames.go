package gateway

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/lxzan/gws"
	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
)

// frameCache shares one encoded WebSocket frame among the sockets a
// host.Frame is sent to. The host hands the same *host.Frame to every
// receiver of a broadcast, one Send after another; the first Send encodes
// the frame and the others reuse the bytes. An entry lives while any of its
// writes is queued: the last socket to write it removes the entry and
// returns the buffer to a pool.
//
// The gateway encodes frames itself rather than with a gws.Broadcaster:
// a server's data frame is a header and the payload, unmasked and (with
// compression off) unchanged, and a Broadcaster costs an allocation a frame
// plus a queued job and a closure a socket on top of the gateway's own job.
// Without them the chatty preset allocates 40% less (9 MB/s against 15)
// and the fanout preset costs 0.90x a plain gws server's CPU per delivery,
// where it cost 0.97-1.03x.
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
	encodings atomic.Uint64 // frames encoded, for tests and benchmarks
}

const frameShards = 64

type frameShard struct {
	mu sync.Mutex
	m  map[*host.Frame]*sharedFrame
}

// sharedFrame is one frame's encoding and the number of sockets that have
// it queued.
type sharedFrame struct {
	wire  *[]byte // the encoded frame, from wirePool
	frame *host.Frame
	shard *frameShard
	refs  int // guarded by shard.mu
}

// wireKeep bounds the buffers wirePool keeps: larger frames are rare and
// would pin their size for good.
const wireKeep = 64 << 10

var wirePool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (fc *frameCache) init() {
	fc.seed = maphash.MakeSeed()
	for i := range fc.shards {
		fc.shards[i].m = map[*host.Frame]*sharedFrame{}
	}
}

// acquire returns f's shared encoding, counting one more socket that will
// write it. Every acquire that succeeds must be paired with a release once
// the socket has written it (or failed to).
func (fc *frameCache) acquire(f *host.Frame) (*sharedFrame, error) {
	sh := &fc.shards[maphash.Comparable(fc.seed, f)%frameShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sf := sh.m[f]
	if sf == nil {
		wire, err := encodeFrame(f)
		if err != nil {
			return nil, err
		}
		sf = &sharedFrame{wire: wire, frame: f, shard: sh}
		sh.m[f] = sf
		fc.encodings.Add(1)
	}
	sf.refs++
	return sf, nil
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
	if last && cap(*sf.wire) <= wireKeep {
		*sf.wire = (*sf.wire)[:0]
		wirePool.Put(sf.wire)
	}
}

// encodeFrame writes f as one final, unmasked, uncompressed WebSocket frame
// (RFC 6455 section 5.2), the form a server sends.
func encodeFrame(f *host.Frame) (*[]byte, error) {
	var op gws.Opcode
	switch f.Kind {
	case abi.Text:
		// The host only sends valid text, but a frame that would make the
		// client fail the connection (1007) must never reach it.
		if !utf8.Valid(f.Data) {
			return nil, fmt.Errorf("gateway: text frame: %w", gws.ErrTextEncoding)
		}
		op = gws.OpcodeText
	case abi.Binary:
		op = gws.OpcodeBinary
	default:
		return nil, fmt.Errorf("gateway: frame kind %d: %w", f.Kind, abi.Invalid)
	}
	w := wirePool.Get().(*[]byte)
	b := append((*w)[:0], 0x80|byte(op))
	switch n := len(f.Data); {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	*w = append(b, f.Data...)
	return w, nil
}
