package metrics_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/gateway"
	"github.com/torpor-dev/torpor/internal/hosttest"
	"github.com/torpor-dev/torpor/internal/plugintest"
)

// Families every scrape carries, with their types.
var families = map[string]dto.MetricType{
	"torpor_objects":                         dto.MetricType_GAUGE,
	"torpor_objects_failed_total":            dto.MetricType_COUNTER,
	"torpor_instances":                       dto.MetricType_GAUGE,
	"torpor_memory_used_bytes":               dto.MetricType_GAUGE,
	"torpor_memory_budget_bytes":             dto.MetricType_GAUGE,
	"torpor_memory_refused_total":            dto.MetricType_COUNTER,
	"torpor_live_memory_bytes":               dto.MetricType_GAUGE,
	"torpor_live_memory_limit_bytes":         dto.MetricType_GAUGE,
	"torpor_live_objects_limit":              dto.MetricType_GAUGE,
	"torpor_live_budget_waits_total":         dto.MetricType_COUNTER,
	"torpor_live_budget_overruns_total":      dto.MetricType_COUNTER,
	"torpor_wakes_total":                     dto.MetricType_COUNTER,
	"torpor_wake_failures_total":             dto.MetricType_COUNTER,
	"torpor_wake_duration_seconds":           dto.MetricType_HISTOGRAM,
	"torpor_hibernations_total":              dto.MetricType_COUNTER,
	"torpor_events_total":                    dto.MetricType_COUNTER,
	"torpor_event_duration_seconds":          dto.MetricType_HISTOGRAM,
	"torpor_storage_commits_total":           dto.MetricType_COUNTER,
	"torpor_storage_commit_duration_seconds": dto.MetricType_HISTOGRAM,
	"torpor_frames_total":                    dto.MetricType_COUNTER,
	"torpor_frame_bytes_total":               dto.MetricType_COUNTER,
	"torpor_alarms_fired_total":              dto.MetricType_COUNTER,
	"torpor_alarms_retried_total":            dto.MetricType_COUNTER,
	"torpor_alarms_dropped_total":            dto.MetricType_COUNTER,
	"torpor_plugin_log_lines_total":          dto.MetricType_COUNTER,
	"torpor_plugin_log_lines_dropped_total":  dto.MetricType_COUNTER,
	"torpor_guest_timeouts_total":            dto.MetricType_COUNTER,
	"torpor_guest_stack_overflows_total":     dto.MetricType_COUNTER,
	"torpor_guest_calls_waiting":             dto.MetricType_GAUGE,
	"torpor_compile_refused_total":           dto.MetricType_COUNTER,
	"torpor_panics_total":                    dto.MetricType_COUNTER,
	"torpor_connections":                     dto.MetricType_GAUGE,
	"torpor_connections_opened_total":        dto.MetricType_COUNTER,
	"torpor_connections_closed_total":        dto.MetricType_COUNTER,
	"torpor_connects_refused_total":          dto.MetricType_COUNTER,
	"torpor_slow_reader_closes_total":        dto.MetricType_COUNTER,
	"torpor_ping_flood_closes_total":         dto.MetricType_COUNTER,
	"torpor_protocol_error_closes_total":     dto.MetricType_COUNTER,
	// The Go runtime and process collectors.
	"go_goroutines":                 dto.MetricType_GAUGE,
	"go_memstats_heap_alloc_bytes":  dto.MetricType_GAUGE,
	"process_cpu_seconds_total":     dto.MetricType_COUNTER,
	"process_resident_memory_bytes": dto.MetricType_GAUGE,
}

// Every family is in the first scrape of an idle host, with its labels'
// whole fixed sets, so that rates start from the first event.
func TestFamilies(t *testing.T) {
	e := newEnv(t, host.Options{}, gateway.Options{})
	fams := e.scrape(t)
	for name, typ := range families {
		f, ok := fams[name]
		if !ok {
			t.Errorf("family %s missing", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("family %s is a %v, want a %v", name, f.GetType(), typ)
		}
		if f.GetHelp() == "" {
			t.Errorf("family %s has no help", name)
		}
	}
	readme, err := os.ReadFile(filepath.Join(plugintest.Root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range fams {
		if !strings.HasPrefix(name, "torpor_") {
			continue
		}
		if _, ok := families[name]; !ok {
			t.Errorf("family %s is not in the test's list", name)
		}
		if !strings.Contains(string(readme), "`"+name) {
			t.Errorf("family %s is not in the README's Monitor it", name)
		}
	}
	s := samples(fams)
	var want []string
	for _, state := range []string{"live", "hibernated", "failed"} {
		want = append(want, `torpor_objects{state="`+state+`"}`)
	}
	for _, reason := range []string{"idle", "evict", "shutdown", "budget"} {
		want = append(want, `torpor_hibernations_total{reason="`+reason+`"}`)
	}
	for _, kind := range []string{"connect", "message", "close", "alarm", "snapshot", "restore"} {
		for _, result := range []string{"ok", "error", "timeout", "trap", "rejected"} {
			want = append(want, `torpor_events_total{kind="`+kind+`",result="`+result+`"}`)
		}
		want = append(want, `torpor_event_duration_seconds_count{kind="`+kind+`"}`)
	}
	want = append(want, `torpor_panics_total{component="host"}`, `torpor_panics_total{component="gateway"}`,
		`torpor_connections_closed_total{code="1000"}`, `torpor_connections_closed_total{code="1008"}`,
		`torpor_connects_refused_total{status="404"}`, `torpor_connects_refused_total{status="503"}`,
		`torpor_slow_reader_closes_total{cause="queue"}`, `torpor_slow_reader_closes_total{cause="stalled"}`,
		`torpor_frames_total{direction="in"}`, `torpor_frames_total{direction="out"}`)
	for _, key := range want {
		if _, ok := s[key]; !ok {
			t.Errorf("series %s missing", key)
		}
	}
	if s["torpor_memory_budget_bytes"] <= 0 {
		t.Errorf("torpor_memory_budget_bytes = %v", s["torpor_memory_budget_bytes"])
	}
}

// ev is the key of torpor_events_total for kind and result.
func ev(kind, result string) string {
	return `torpor_events_total{kind="` + kind + `",result="` + result + `"}`
}

const (
	framesIn  = `torpor_frames_total{direction="in"}`
	framesOut = `torpor_frames_total{direction="out"}`
	bytesIn   = `torpor_frame_bytes_total{direction="in"}`
	bytesOut  = `torpor_frame_bytes_total{direction="out"}`
	live      = `torpor_objects{state="live"}`
	asleep    = `torpor_objects{state="hibernated"}`
	failed    = `torpor_objects{state="failed"}`
	wakes     = "torpor_wakes_total"
)

func closed(code string) string { return `torpor_connections_closed_total{code="` + code + `"}` }

// Connects, messages, hibernation, a wake, traps, a timeout, a failed
// object, alarms and a slow reader, through a real host and gateway: every
// scrape over HTTP shows the counters moved by what the test did, exactly.
func TestCounters(t *testing.T) {
	const idle = 2 * time.Second // long enough that no room sleeps between the steps of a phase
	e := newEnv(t, host.Options{
		Idle:           idle,
		AlarmRetries:   1,
		AlarmRetryBase: 10 * time.Millisecond,
		Limits:         host.Limits{EventCPU: 100 * time.Millisecond},
	}, gateway.Options{SendQueue: 8, SendQueueBytes: 256 << 10}, "broadcast", "chat", "trapper", "loop")
	base := samples(e.scrape(t))

	// Two sockets in a broadcast room, three frames from one of them, and
	// two refusals: an unknown plugin, and a chat room's connect handler
	// refusing a reserved name (which wakes that room all the same).
	a, b := e.dial(t, "/broadcast/room"), e.dial(t, "/broadcast/room")
	e.refused(t, "/nope/x", 404)
	// Not an object's path: no connect to count.
	if resp, err := e.srv.Client().Get(e.srv.URL + "/favicon.ico"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("GET /favicon.ico: %v %v, want 404", resp, err)
	} else {
		resp.Body.Close()
	}
	e.refused(t, "/chat/r?name=admin", 403)
	for i := range 3 {
		a.send(t, "m"+strconv.Itoa(i))
	}
	for i := range 3 {
		a.expectFrame(t, "m"+strconv.Itoa(i))
		b.expectFrame(t, "m"+strconv.Itoa(i))
	}
	now := e.expect(t, "connects and messages", base, map[string]float64{
		"torpor_connections_opened_total":             2,
		"torpor_connections":                          2,
		`torpor_connects_refused_total{status="404"}`: 1,
		`torpor_connects_refused_total{status="403"}`: 1,
		// The broadcast plugin implements neither connect nor state
		// (torpor_handlers), so only the chat room runs those.
		ev("connect", "ok"):       0,
		ev("connect", "rejected"): 1,
		ev("message", "ok"):       3,
		ev("restore", "ok"):       1,
		`torpor_event_duration_seconds_count{kind="message"}`: 3,
		wakes:                                2,
		"torpor_wake_duration_seconds_count": 2,
		framesIn:                             3,
		bytesIn:                              6,
		framesOut:                            6, // a broadcast counts once per receiver
		bytesOut:                             12,
		live:                                 2,
		"torpor_storage_commits_total":       0, // neither plugin writes
		`torpor_instances{state="live"}`:     2,
	})
	if now["torpor_memory_used_bytes"] <= 0 {
		t.Fatalf("torpor_memory_used_bytes = %v with two live instances", now["torpor_memory_used_bytes"])
	}

	// Both rooms hibernate after Idle; the broadcast room stays in memory
	// for its sockets, and its next frame wakes it.
	base = e.expect(t, "idle hibernation", now, map[string]float64{
		`torpor_hibernations_total{reason="idle"}`: 2,
		ev("snapshot", "ok"):                       1,
		live:                                       -2,
		asleep:                                     1,
		`torpor_instances{state="live"}`:           -2,
	})
	a.send(t, "w")
	a.expectFrame(t, "w")
	b.expectFrame(t, "w")
	base = e.expect(t, "a wake", base, map[string]float64{
		wakes:                                1,
		"torpor_wake_duration_seconds_count": 1,
		ev("message", "ok"):                  1,
		framesIn:                             1,
		framesOut:                            2,
		live:                                 1,
		asleep:                               -1,
	})
	id := host.ObjectID{Plugin: "broadcast", Name: "room"}
	if err := e.h.Evict(context.Background(), id, host.EvictOptions{}); err != nil {
		t.Fatal(err)
	}
	base = e.expect(t, "an eviction", base, map[string]float64{
		`torpor_hibernations_total{reason="evict"}`: 1,
		live:   -1,
		asleep: 1,
	})
	// A's close does not wake the room, whose plugin ignores closes; then
	// b is alone, and its frame wakes it.
	a.conn.WriteClose(1000, nil)
	base = e.expect(t, "a close", base, map[string]float64{
		closed("1000"):       1,
		"torpor_connections": -1,
	})
	b.send(t, "x")
	b.expectFrame(t, "x")
	base = e.expect(t, "a frame to one socket", base, map[string]float64{
		wakes:                                1,
		"torpor_wake_duration_seconds_count": 1,
		ev("message", "ok"):                  1,
		framesIn:                             1,
		framesOut:                            1,
		live:                                 1,
		asleep:                               -1,
	})

	// A trap and a timeout each cost the event and the instance, and the
	// next frame wakes a new one; three traps in a row fail an object,
	// which closes its socket with 1011.
	tr := e.dial(t, "/trapper/t")
	tr.send(t, "boom")
	tr.send(t, "ok")
	tr.expectFrame(t, "ok")
	lp := e.dial(t, "/loop/l")
	lp.send(t, "spin")
	lp.send(t, "ok")
	lp.expectFrame(t, "ok")
	doomed := e.dial(t, "/trapper/doomed")
	for range 3 {
		doomed.send(t, "boom")
	}
	if code := doomed.waitClose(t); code != 1011 {
		t.Fatalf("failed object's socket closed with %d, want 1011", code)
	}
	base = e.expect(t, "traps, a timeout and a failed object", base, map[string]float64{
		ev("message", "trap"):             4,
		ev("message", "timeout"):          1,
		ev("message", "ok"):               2,
		"torpor_guest_timeouts_total":     1,
		wakes:                             7, // t and l twice, doomed three times
		framesIn:                          7,
		framesOut:                         2,
		failed:                            1,
		"torpor_objects_failed_total":     1,
		closed("1011"):                    1,
		"torpor_connections_opened_total": 3,
	})

	// An alarm whose handler fails is retried once and dropped; the
	// message that set it is the test's one storage commit.
	al := e.dial(t, "/trapper/alarm")
	al.send(t, "alarm")
	al.expectFrame(t, "alarm set")
	base = e.expect(t, "alarms", base, map[string]float64{
		"torpor_alarms_fired_total":                    2,
		"torpor_alarms_retried_total":                  1,
		"torpor_alarms_dropped_total":                  1,
		ev("alarm", "error"):                           2,
		ev("message", "ok"):                            1,
		"torpor_storage_commits_total":                 1,
		"torpor_storage_commit_duration_seconds_count": 1,
		wakes: 2, // the connect, and the retry after the first failure
	})

	// A socket that never reads, in a room that floods it, is closed as a
	// slow reader (1008); every frame the flooder sent reached the room.
	flooder := e.dial(t, "/broadcast/flood")
	stuck := e.rawUpgrade(t, "/broadcast/flood")
	hosttest.Eventually(t, "both sockets in the room", func() bool {
		info, err := e.h.Object(context.Background(), host.ObjectID{Plugin: "broadcast", Name: "flood"})
		return err == nil && info.Conns == 2
	})
	payload := strings.Repeat("x", 32<<10)
	sent := 0
	for ; sent < 2048 && e.g.Stats().SlowReaders == 0; sent++ {
		flooder.send(t, payload)
		flooder.expectFrame(t, payload)
	}
	if e.g.Stats().SlowReaders != 1 {
		t.Fatalf("no slow reader closed after %d frames", sent)
	}
	_ = stuck.SetReadDeadline(time.Now().Add(wait))
	io.Copy(io.Discard, stuck) // until the gateway ends it
	now = e.expect(t, "a slow reader", base, map[string]float64{
		`torpor_slow_reader_closes_total{cause="queue"}`: 1,
		closed("1008"):                    1,
		"torpor_connections_opened_total": 2,
		ev("message", "ok"):               float64(sent),
		framesIn:                          float64(sent),
		bytesIn:                           float64(sent * len(payload)),
	})
	if out := now[framesOut] - base[framesOut]; out < float64(sent) || out > float64(2*sent) {
		t.Fatalf("%s moved by %v for %d frames into a room of two", framesOut, out, sent)
	}

	// Nothing was contained: no panic anywhere.
	for _, key := range []string{`torpor_panics_total{component="host"}`, `torpor_panics_total{component="gateway"}`} {
		if now[key] != 0 {
			t.Errorf("%s = %v", key, now[key])
		}
	}

	// Shutdown hibernates what is live, under its own reason.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The sockets' close events woke the rooms they reached, if they
	// slept; the host then hibernated them all.
	after := e.h.Metrics()
	if after.Hibernations[host.HibernateShutdown] == 0 || after.ObjectsLive != 0 {
		t.Fatalf("after Close: %d shutdown hibernations, %d objects live", after.Hibernations[host.HibernateShutdown], after.ObjectsLive)
	}
}
