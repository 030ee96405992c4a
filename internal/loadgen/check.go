package loadgen

import (
	"errors"
	"sort"
	"sync/atomic"

	"github.com/lxzan/gws"
)

// receiver is one client socket and the checker of what it is sent. gws
// calls its handlers from the socket's read loop, one at a time, so tracks
// needs no lock; the counters are atomic for the progress line and the
// drain.
type receiver struct {
	gws.BuiltinEventHandler
	run    *runner
	index  int // in the run, for sharding the latency histogram
	room   *room
	conn   *gws.Conn
	tracks []track // by sender index within the room

	valid      atomic.Int64
	duplicates atomic.Int64
	reordered  atomic.Int64
	corrupt    atomic.Int64
	misrouted  atomic.Int64
	dropped    atomic.Bool // the socket ended before the run closed it
	closeCode  atomic.Int32
}

var _ gws.Event = (*receiver)(nil)

// arrived counts frames that came and were meant for this socket, broken
// ones included, each once.
func (rc *receiver) arrived() int64 { return rc.valid.Load() + rc.corrupt.Load() }

// OnMessage checks one frame.
func (rc *receiver) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	now := rc.run.since()
	if m.Opcode != gws.OpcodeText {
		rc.corrupt.Add(1)
		return
	}
	f, ok := checkFrame(m.Bytes())
	switch {
	case !ok:
		rc.corrupt.Add(1)
		return
	case f.room != rc.room.index || int(f.sender) >= len(rc.tracks):
		rc.misrouted.Add(1)
		return
	}
	fresh, late := rc.tracks[f.sender].observe(f.seq)
	if !fresh {
		rc.duplicates.Add(1)
		return
	}
	if late {
		rc.reordered.Add(1)
	}
	rc.valid.Add(1)
	rc.run.latency.record(rc.index, now-durationOf(f.sent))
}

// OnClose notes a socket that ended before the run closed it.
func (rc *receiver) OnClose(_ *gws.Conn, err error) {
	if rc.run.closing.Load() {
		return
	}
	code := int32(1006)
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		code = int32(ce.Code)
	}
	rc.closeCode.Store(code)
	rc.dropped.Store(true)
}

// track is what one receiver has seen of one sender: every sequence number
// below next but those in gaps.
type track struct {
	next uint32
	gaps []gap // ascending, disjoint
}

// gap is the sequence numbers lo ≤ n < hi.
type gap struct{ lo, hi uint32 }

// maxGaps bounds a track's memory when a server drops frames all the time.
// Past it the oldest gap is forgotten: a frame from it that still comes is
// counted as a duplicate, not as reordered (it is never counted twice).
const maxGaps = 1024

// observe records seq and says whether it is new (else a duplicate) and,
// if new, whether it came after a later one.
func (t *track) observe(seq uint32) (fresh, late bool) {
	switch {
	case seq == t.next:
		t.next++
		return true, false
	case seq > t.next:
		t.gaps = append(t.gaps, gap{t.next, seq})
		if len(t.gaps) > maxGaps {
			t.gaps = append(t.gaps[:0], t.gaps[1:]...)
		}
		t.next = seq + 1
		return true, false
	}
	i := sort.Search(len(t.gaps), func(i int) bool { return t.gaps[i].hi > seq })
	if i == len(t.gaps) || t.gaps[i].lo > seq {
		return false, false
	}
	switch g := t.gaps[i]; {
	case g.lo == seq && g.hi == seq+1:
		t.gaps = append(t.gaps[:i], t.gaps[i+1:]...)
	case g.lo == seq:
		t.gaps[i].lo++
	case g.hi == seq+1:
		t.gaps[i].hi--
	default:
		t.gaps = append(t.gaps, gap{})
		copy(t.gaps[i+2:], t.gaps[i+1:])
		t.gaps[i] = gap{g.lo, seq}
		t.gaps[i+1] = gap{seq + 1, g.hi}
	}
	return true, true
}
