package gateway

// Counters the tests assert on.

// SlowReaders is how many sockets were closed for overflowing their queue.
func (g *Gateway) SlowReaders() uint64 { return g.stats.slowReaders.Load() }

// Stalled is how many sockets were closed because their writes stopped.
func (g *Gateway) Stalled() uint64 { return g.stats.stalled.Load() }

// Encodings is how many outbound frames were encoded.
func (g *Gateway) Encodings() uint64 { return g.frames.encodings.Load() }

// CachedFrames is how many shared encodings are held, waiting for writes.
func (g *Gateway) CachedFrames() int {
	n := 0
	for i := range g.frames.shards {
		sh := &g.frames.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
