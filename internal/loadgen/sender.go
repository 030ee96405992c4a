package loadgen

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// sender sends one socket's messages, open-loop: message k is due at
// start + k*interval whatever happened to message k-1.
type sender struct {
	run      *runner
	rc       *receiver // its socket; it hears its own messages too
	index    uint32    // within the room
	start    time.Time
	interval float64 // nanoseconds
	planned  int64

	sent   atomic.Int64
	late   atomic.Int64
	failed atomic.Int64 // 1 once the socket failed
}

func durationOf(sinceEpoch uint64) time.Duration { return time.Duration(sinceEpoch) }

// loop sends until every planned message is sent, the phase ends or the
// socket fails. A late message is sent at once and its lateness recorded;
// messages still due at end are left unsent. A write that blocks (the
// server stopped reading) is cut off by a deadline at end plus the drain,
// so the goroutine always ends.
func (sd *sender) loop(ctx context.Context, end time.Time) {
	r := sd.run
	payload := r.o.Shape.Payload
	room := sd.rc.room
	buf := make([]byte, 0, payload)
	conn := sd.rc.conn
	conn.SetWriteDeadline(end.Add(r.o.Drain))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for k := range sd.planned {
		due := sd.start.Add(time.Duration(float64(k) * sd.interval))
		now := time.Now()
		if wait := due.Sub(now); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			now = time.Now()
		} else if ctx.Err() != nil {
			return
		}
		if !now.Before(end) {
			return // the phase is over: the rest is unsent
		}
		lateness := now.Sub(due)
		r.lateness.record(sd.rc.index, lateness)
		if lateness > lateAfter {
			sd.late.Add(1)
		}
		buf = appendFrame(buf[:0], frameFields{
			room:   room.index,
			sender: sd.index,
			seq:    uint32(k),
			sent:   uint64(now.Sub(r.epoch)),
		}, payload)
		if err := conn.WriteMessage(gws.OpcodeText, buf); err != nil {
			sd.failed.Store(1)
			return
		}
		sd.sent.Add(1)
		r.expected.Add(int64(len(room.members)))
	}
}

// sent is what the room's senders sent so far.
func (rm *room) sent() int64 {
	var n int64
	for _, sd := range rm.senders {
		n += sd.sent.Load()
	}
	return n
}
