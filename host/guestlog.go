package host

import (
	"context"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/torpor-dev/torpor/abi"
)

// Guest logs go to the host log, tagged with the object, within three
// bounds (Limits.LogLine, LogEvent, LogRate): a line is cut, an event's
// lines past its byte budget are dropped, and so are an object's lines past
// its rate. A plugin can therefore neither fill the disk behind the host's
// log nor make the host copy a huge line, and the operator still learns
// that lines were dropped: how many is logged at most once a second per
// object, and counted in Stats.

// logLimiter is an object's log rate: a token bucket holding up to ten
// seconds of LogRate. Owned by the object's loop. Times are Unix
// nanoseconds, 0 for never: every object, hibernated ones included, holds
// one, and time.Time is three words.
type logLimiter struct {
	tokens   float64
	at       int64 // when tokens was last topped up
	dropped  int   // lines dropped since the last report
	reported int64
}

// allow takes a token for one line, topping the bucket up for the time since
// the last line.
func (l *logLimiter) allow(rate int, now time.Time) bool {
	burst := float64(rate) * 10
	t := now.UnixNano()
	if l.at == 0 {
		l.tokens = burst
	} else {
		l.tokens = min(burst, l.tokens+time.Duration(t-l.at).Seconds()*float64(rate))
	}
	l.at = t
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

func (ev *event) Log(level abi.LogLevel, msg []byte) {
	o, lim := ev.o, ev.o.h.opts.Limits
	now := time.Now()
	if ev.logBytes >= lim.LogEvent || !o.logs.allow(lim.LogRate, now) {
		o.logs.dropped++
		o.h.counters.logDropped.Add(1)
		return
	}
	cut := 0
	if len(msg) > lim.LogLine {
		n := lim.LogLine
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n-- // never split a character
		}
		cut, msg = len(msg)-n, msg[:n]
	}
	ev.logBytes += len(msg)
	attrs := []any{"object", o.key, "source", "plugin"}
	if cut > 0 {
		attrs = append(attrs, "cut_bytes", cut)
	}
	o.h.counters.logLines.Add(1)
	o.h.log.Log(context.Background(), logLevel(level), string(msg), attrs...)
}

func (ev *event) HostPanicked(name string, v any, stack []byte) {
	o := ev.o
	o.h.counters.panics.Add(1)
	o.h.log.Error("panic in a host import; the event fails, contained to the object", "object", o.key, "import", name, "panic", fmt.Sprint(v), "stack", string(stack))
	if ev.failed == nil {
		ev.failed = fmt.Errorf("host panic in %s: %v", name, v)
	}
}

// reportDroppedLogs logs how many guest lines were dropped, at most once a
// second per object; called after every event.
func (o *object) reportDroppedLogs() {
	l := &o.logs
	if l.dropped == 0 {
		return
	}
	now := time.Now().UnixNano()
	if time.Duration(now-l.reported) < time.Second {
		return
	}
	o.h.log.Warn("guest log lines dropped: over the per-event or per-object log limit", "object", o.key, "dropped", l.dropped,
		"log_event_bytes", o.h.opts.Limits.LogEvent, "log_rate", o.h.opts.Limits.LogRate)
	l.dropped, l.reported = 0, now
}

func logLevel(level abi.LogLevel) slog.Level {
	switch level {
	case abi.LogDebug:
		return slog.LevelDebug
	case abi.LogWarn:
		return slog.LevelWarn
	case abi.LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Stats are the host's counters of what it refused or contained, cumulative
// since New unless a field says otherwise.
type Stats struct {
	// GuestLogDropped counts guest log lines dropped by the log limits.
	GuestLogDropped uint64 `json:"guest_log_dropped"`
	// Panics counts panics in the host's handling of an event, each
	// contained to its object.
	Panics uint64 `json:"panics"`
	// MemoryUsed is the linear memory of every instance now, against
	// MemoryBudget; MemoryRefused counts grows and instantiations the
	// budget refused.
	MemoryUsed    int64  `json:"memory_used"`
	MemoryBudget  int64  `json:"memory_budget"`
	MemoryRefused uint64 `json:"memory_refused"`
	// Timeouts counts guest calls stopped at their time limit;
	// StackOverflows those that overflowed the native stack.
	Timeouts       uint64 `json:"timeouts"`
	StackOverflows uint64 `json:"stack_overflows"`
	// WaitingCalls is how many guest calls wait for a slot now.
	WaitingCalls int64 `json:"waiting_calls"`
	// CompileRefused counts modules refused for the compile budget.
	CompileRefused uint64 `json:"compile_refused"`
	// Reclaims counts the garbage collections the host forced to return
	// memory to the OS after instances closed or garbage piled up in a
	// quiet process; each costs one full collection.
	Reclaims uint64 `json:"reclaims"`
	// Live is the live budget: what live instances hold against
	// Options.LiveMemory and LiveObjects, and what the host hibernated to
	// keep them within it.
	Live LiveStats `json:"live"`
}

// Stats returns the host's counters. Safe for concurrent use.
func (h *Host) Stats() Stats {
	es := h.engine.Stats()
	return Stats{
		GuestLogDropped: h.counters.logDropped.Load(),
		Panics:          h.counters.panics.Load(),
		MemoryUsed:      es.MemoryUsed,
		MemoryBudget:    h.opts.MemoryBudget,
		MemoryRefused:   es.MemoryRefused,
		Timeouts:        es.Timeouts,
		StackOverflows:  es.StackOverflows,
		WaitingCalls:    es.WaitingCalls,
		CompileRefused:  h.counters.compileRefused.Load(),
		Reclaims:        es.Reclaims,
		Live:            h.live.stats(),
	}
}
