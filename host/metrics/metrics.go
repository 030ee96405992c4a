// Package metrics exports a torpor host and its gateway to Prometheus.
//
// Nothing here runs on a hot path. The host and the gateway keep their own
// counters and latency histograms (atomic adds of fixed buckets, no locks,
// no label lookups per event; see host.Metrics, host.Stats and
// gateway.Stats), and a Collector reads them when Prometheus scrapes:
// objects by state are counted then, by a walk over the objects in memory,
// and every histogram is turned into a constant one. A scrape therefore
// costs the host one walk of its registry and a few thousand bytes of
// allocation, whatever the traffic.
//
// Every family is named torpor_…, with its unit in the name (_seconds,
// _bytes) and _total on counters; the README's "Monitor it" lists them.
// Label values come from fixed sets (event kinds and results, hibernation
// reasons, close-code slots, HTTP statuses 400-599), so no client or
// plugin can make the number of series grow.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/gateway"
)

// Collector is a prometheus.Collector for a host and, optionally, the
// gateway in front of it. Safe for concurrent use.
type Collector struct {
	h *host.Host
	g *gateway.Gateway // nil: no gateway families

	objects, objectsFailed, instances               *prometheus.Desc
	memoryUsed, memoryBudget, memoryRefused         *prometheus.Desc
	wakes, wakeFailures, wakeDuration, hibernations *prometheus.Desc
	events, eventDuration                           *prometheus.Desc
	commits, commitDuration                         *prometheus.Desc
	frames, frameBytes                              *prometheus.Desc
	alarmsFired, alarmsRetried, alarmsDropped       *prometheus.Desc
	logLines, logDropped                            *prometheus.Desc
	timeouts, stackOverflows, callsWaiting          *prometheus.Desc
	compileRefused, panics                          *prometheus.Desc
	liveMemory, liveMemoryLimit, liveObjectLimit    *prometheus.Desc
	liveWaits, liveOverruns                         *prometheus.Desc

	conns, connsOpened, connsClosed, refused *prometheus.Desc
	slowReaders, pingFloods, protocolErrors  *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns the collector for h and g; g may be nil for a host
// without a gateway.
func NewCollector(h *host.Host, g *gateway.Gateway) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("torpor_"+name, help, labels, nil)
	}
	return &Collector{
		h: h,
		g: g,

		objects:       d("objects", "Objects by state: live (an instance runs it), hibernated (in memory without an instance: it has open sockets), failed (refusing work until redeployed or evicted).", "state"),
		objectsFailed: d("objects_failed_total", "Objects marked failed after repeated failed events."),
		instances:     d("instances", "Plugin instances: live (given to an object) and pooled (initialised, waiting for a wake).", "state"),
		memoryUsed:    d("memory_used_bytes", "Linear memory of every instance, live and pooled, charged to the memory budget."),
		memoryBudget:  d("memory_budget_bytes", "The memory budget for the linear memory of all instances."),
		memoryRefused: d("memory_refused_total", "Memory grows and instantiations refused by the memory budget."),

		liveMemory:      d("live_memory_bytes", "What the live instances hold against the live budget: linear memory plus a fixed overhead each."),
		liveMemoryLimit: d("live_memory_limit_bytes", "The live budget (--live-memory); 0: unbounded."),
		liveObjectLimit: d("live_objects_limit", "The bound on live objects (--live-objects); 0: unbounded."),
		liveWaits:       d("live_budget_waits_total", "Wakes that waited for the host to hibernate other objects (hibernations_total{reason=\"budget\"}) to make room."),
		liveOverruns:    d("live_budget_overruns_total", "Wakes that went ahead over the live budget after waiting for room."),

		wakes:        d("wakes_total", "Wakes that gave an object an instance."),
		wakeFailures: d("wake_failures_total", "Wakes that found no instance: plugin removed, start-up failing, memory budget, restore failed."),
		wakeDuration: d("wake_duration_seconds", "Time from the event that needed an instance to the instance being ready: record read, instance taken or built, snapshot restored."),
		hibernations: d("hibernations_total", "Instances hibernated, by reason.", "reason"),

		events:        d("events_total", "Guest handler calls, by kind and result (rejected: a connect refused with an HTTP status).", "kind", "result"),
		eventDuration: d("event_duration_seconds", "Time of one event, from the handler call to its frames being handed to the connections (commit included).", "kind"),

		commits:        d("storage_commits_total", "Event transactions that wrote to the store, committed."),
		commitDuration: d("storage_commit_duration_seconds", "Time to commit an event transaction that wrote to the store."),

		frames:     d("frames_total", "WebSocket frames: in, delivered to objects' message handlers; out, handed by the output gate to connections (a broadcast once per receiver).", "direction"),
		frameBytes: d("frame_bytes_total", "Payload bytes of torpor_frames_total.", "direction"),

		alarmsFired:   d("alarms_fired_total", "Alarm handler calls."),
		alarmsRetried: d("alarms_retried_total", "Failed alarms rescheduled with backoff."),
		alarmsDropped: d("alarms_dropped_total", "Failed alarms given up after their retries."),

		logLines:   d("plugin_log_lines_total", "Plugin log lines written to the host log."),
		logDropped: d("plugin_log_lines_dropped_total", "Plugin log lines dropped by the per-event and per-object log limits."),

		timeouts:       d("guest_timeouts_total", "Guest calls stopped at their CPU-time or wall-clock limit."),
		stackOverflows: d("guest_stack_overflows_total", "Guest calls that overflowed the native stack limit."),
		callsWaiting:   d("guest_calls_waiting", "Guest calls waiting for a slot now."),
		compileRefused: d("compile_refused_total", "Uploaded modules refused for the compile time or memory budget."),
		panics:         d("panics_total", "Panics contained to one object's event (host) or one socket (gateway); anything but zero is a bug.", "component"),

		conns:          d("connections", "WebSocket connections open now."),
		connsOpened:    d("connections_opened_total", "WebSocket connections upgraded."),
		connsClosed:    d("connections_closed_total", "WebSocket connections ended, by close code (the one sent by torpor or the client; 1005 for a close without a code, 1006 without a close frame; 3xxx and 4xxx for the application ranges).", "code"),
		refused:        d("connects_refused_total", "Requests for an object's path answered with an error, by HTTP status: the gateway's refusals and the objects'.", "status"),
		slowReaders:    d("slow_reader_closes_total", "Connections closed (1008) as slow readers: their send queue overflowed (queue) or their writes made no progress (stalled).", "cause"),
		pingFloods:     d("ping_flood_closes_total", "Connections closed (1008) for pinging faster than the ping rate."),
		protocolErrors: d("protocol_error_closes_total", "Connections closed (1002) for a frame that breaks RFC 6455."),
	}
}

// Describe sends every family's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.objects, c.objectsFailed, c.instances, c.memoryUsed, c.memoryBudget, c.memoryRefused,
		c.wakes, c.wakeFailures, c.wakeDuration, c.hibernations, c.events, c.eventDuration,
		c.commits, c.commitDuration, c.frames, c.frameBytes,
		c.alarmsFired, c.alarmsRetried, c.alarmsDropped, c.logLines, c.logDropped,
		c.timeouts, c.stackOverflows, c.callsWaiting, c.compileRefused, c.panics,
		c.liveMemory, c.liveMemoryLimit, c.liveObjectLimit, c.liveWaits, c.liveOverruns,
		c.conns, c.connsOpened, c.connsClosed, c.refused, c.slowReaders, c.pingFloods, c.protocolErrors,
	} {
		ch <- d
	}
}

// Codes and statuses reported even while their count is 0, so that a
// rate over them starts from the first one: those the gateway itself uses,
// and the common ones clients send.
var (
	steadyCodes    = []string{"1000", "1001", "1002", "1005", "1006", "1007", "1008", "1009", "1011", "1013", "3xxx", "4xxx"}
	steadyStatuses = []int{400, 403, 404, 405, 426, 500, 503}
)

// Collect reads the host's and the gateway's counters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	m, s := c.h.Metrics(), c.h.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}

	gauge(c.objects, float64(m.ObjectsLive), string(host.StateLive))
	gauge(c.objects, float64(m.ObjectsHibernated), string(host.StateHibernated))
	gauge(c.objects, float64(m.ObjectsFailed), string(host.StateFailed))
	counter(c.objectsFailed, m.ObjectsMarkedFailed)
	gauge(c.instances, float64(m.Instances), "live")
	gauge(c.instances, float64(m.PooledInstances), "pooled")
	gauge(c.memoryUsed, float64(s.MemoryUsed))
	gauge(c.memoryBudget, float64(s.MemoryBudget))
	counter(c.memoryRefused, s.MemoryRefused)
	gauge(c.liveMemory, float64(s.Live.Memory))
	gauge(c.liveMemoryLimit, float64(s.Live.MemoryLimit))
	gauge(c.liveObjectLimit, float64(s.Live.ObjectLimit))
	counter(c.liveWaits, s.Live.Waits)
	counter(c.liveOverruns, s.Live.Overruns)

	counter(c.wakes, m.Wakes)
	counter(c.wakeFailures, m.WakeFailures)
	ch <- histogram(c.wakeDuration, m.WakeLatency)
	for r := range host.NumHibernateReasons {
		counter(c.hibernations, m.Hibernations[r], host.HibernateReason(r).String())
	}
	for k := range host.NumEventKinds {
		kind := host.EventKind(k).String()
		for r := range host.NumEventResults {
			counter(c.events, m.Events[k][r], kind, host.EventResult(r).String())
		}
		ch <- histogram(c.eventDuration, m.EventDuration[k], kind)
	}
	counter(c.commits, m.Commits)
	ch <- histogram(c.commitDuration, m.CommitLatency)
	counter(c.frames, m.FramesIn, "in")
	counter(c.frames, m.FramesOut, "out")
	counter(c.frameBytes, m.BytesIn, "in")
	counter(c.frameBytes, m.BytesOut, "out")
	counter(c.alarmsFired, m.AlarmsFired)
	counter(c.alarmsRetried, m.AlarmsRetried)
	counter(c.alarmsDropped, m.AlarmsDropped)
	counter(c.logLines, m.GuestLogLines)
	counter(c.logDropped, s.GuestLogDropped)
	counter(c.timeouts, s.Timeouts)
	counter(c.stackOverflows, s.StackOverflows)
	gauge(c.callsWaiting, float64(s.WaitingCalls))
	counter(c.compileRefused, s.CompileRefused)
	counter(c.panics, s.Panics, "host")

	if c.g == nil {
		return
	}
	gs := c.g.Stats()
	counter(c.panics, gs.Panics, "gateway")
	gauge(c.conns, float64(gs.Conns))
	counter(c.connsOpened, gs.Opened)
	for _, code := range steadyCodes {
		counter(c.connsClosed, gs.Closed[code], code)
		delete(gs.Closed, code)
	}
	for code, n := range gs.Closed {
		counter(c.connsClosed, n, code)
	}
	for _, status := range steadyStatuses {
		counter(c.refused, gs.Refused[status], strconv.Itoa(status))
		delete(gs.Refused, status)
	}
	for status, n := range gs.Refused {
		counter(c.refused, n, strconv.Itoa(status))
	}
	counter(c.slowReaders, gs.SlowReaders, "queue")
	counter(c.slowReaders, gs.Stalled, "stalled")
	counter(c.pingFloods, gs.PingFloods)
	counter(c.protocolErrors, gs.ProtocolErrors)
}

// histogram turns a host histogram into a Prometheus one: cumulative
// buckets, in seconds.
func histogram(d *prometheus.Desc, h host.Histogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var n uint64
	for i, b := range h.Bounds {
		n += h.Counts[i]
		buckets[b.Seconds()] = n
	}
	return prometheus.MustNewConstHistogram(d, h.Count(), h.Sum.Seconds(), buckets, labels...)
}

// NewRegistry returns a registry holding the collector for h and g (g may
// be nil) and the Go runtime and process collectors.
func NewRegistry(h *host.Host, g *gateway.Gateway, extra ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(h, g),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	reg.MustRegister(extra...)
	return reg
}

// maxScrapes bounds the scrapes served at once: each walks the host's
// objects, and two Prometheus servers are about the most a host has.
const maxScrapes = 4

// Handler serves NewRegistry(h, g) in the Prometheus exposition format,
// for GET /metrics. It takes no token: put it behind one (the admin API
// does) or on a listener only the monitoring network reaches. log, if not
// nil, receives the errors of scrapes that failed. extra are more
// collectors to serve, such as the cluster's.
func Handler(h *host.Host, g *gateway.Gateway, log *slog.Logger, extra ...prometheus.Collector) http.Handler {
	opts := promhttp.HandlerOpts{MaxRequestsInFlight: maxScrapes}
	if log != nil {
		opts.ErrorLog = errorLog{log}
	}
	return promhttp.HandlerFor(NewRegistry(h, g, extra...), opts)
}

// errorLog routes promhttp's errors to slog.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Println(v ...any) { e.l.Error("metrics scrape failed", "err", fmt.Sprint(v...)) }
