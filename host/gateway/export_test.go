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

// Panics is how many panics were recovered on a socket's behalf.
func (g *Gateway) Panics() uint64 { return g.stats.panics.Load() }

// ProtocolErrors is how many sockets the frame check closed with 1002.
func (g *Gateway) ProtocolErrors() uint64 { return g.stats.protocolErrors.Load() }

// PingFloods is how many sockets were closed for pinging too fast.
func (g *Gateway) PingFloods() uint64 { return g.stats.pingFloods.Load() }

// UncheckFrames lets gws parse, on the sockets opened from now on, the
// frames the frame check would refuse, so that tests reach gws's panics.
func (g *Gateway) UncheckFrames() { g.uncheckedFrames.Store(true) }

// CheckFrames runs a frame check over a client's byte stream, fed to it in
// the chunks given, and returns how many bytes it passed on and the rule
// the stream broke ("" for none).
func CheckFrames(chunks ...[]byte) (passed int, reason string) {
	var fc frameCheck
	for _, c := range chunks {
		passed += fc.scan(c)
		if fc.reason != "" {
			break
		}
	}
	return passed, fc.reason
}
