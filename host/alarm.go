package host

import (
	"time"
)

// alarmBatch bounds how many due alarms one scheduler pass queues.
const alarmBatch = 256

// alarmLoop fires due alarms. Alarms live only in the store (time-ordered
// index), so they fire for hibernated objects and after a restart alike. The
// loop sleeps until the earliest alarm, at most a second, and is kicked
// whenever an event changes an alarm or an alarm event finishes.
func (h *Host) alarmLoop() {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-h.closing:
			return
		case <-timer.C:
		case <-h.alarmKick:
		}
		wait := h.fireDueAlarms()
		timer.Reset(wait)
	}
}

// fireDueAlarms queues an alarm event for every due alarm whose object has
// none queued yet, and says how long to sleep before looking again.
func (h *Host) fireDueAlarms() time.Duration {
	const maxWait = time.Second
	due, err := h.store.DueAlarms(time.Now(), alarmBatch)
	if err != nil {
		h.log.Error("scan alarms", "err", err)
		return maxWait
	}
	queued := 0
	for _, a := range due {
		id, err := ParseObjectID(a.Object)
		if err != nil {
			h.log.Error("alarm for an invalid object id dropped", "object", a.Object, "err", err)
			h.store.DeleteAlarm(a.Object)
			continue
		}
		for {
			o := h.object(id)
			if !o.alarmQueued.CompareAndSwap(false, true) {
				break // already queued; it finishes and kicks us
			}
			ok, err := o.tryEnqueue(&envelope{kind: envAlarm})
			if err == errRetired {
				o.alarmQueued.Store(false)
				continue
			}
			if ok {
				queued++
			} else {
				o.alarmQueued.Store(false) // mailbox full or closing: next pass
			}
			break
		}
	}
	if len(due) == alarmBatch && queued > 0 {
		// More may be due behind this batch. When nothing new could be
		// queued (all in flight, or mailboxes full), rescanning at once
		// would only spin: finishing alarm events kick the loop instead.
		return 0
	}
	next, err := h.store.NextAlarm()
	if err != nil {
		return maxWait
	}
	wait := time.Until(next.At)
	if wait <= 0 {
		// The earliest alarm is being handled; its event kicks us when done.
		return maxWait
	}
	return min(wait, maxWait)
}
