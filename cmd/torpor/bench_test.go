package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/internal/loadgen"
	"github.com/torpor-dev/torpor/internal/plugintest"
)

// `torpor bench --baseline` against a real `torpor serve` and the example
// broadcast plugin: every frame arrives at both servers, once and in
// order, and the report has the server figures and their ratios.
func TestBenchEndToEnd(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	url := strings.Replace(s.publicURL, "https://", "wss://", 1) + "/broadcast/{room}"
	cmd := exec.Command(plugintest.Binary(t), "bench", "--url", url,
		"--ca", filepath.Join(dir, devCertFile),
		"--rooms", "3", "--clients", "4", "--senders", "2", "--rate", "20", "--duration", "2s",
		"--server-pid", strconv.Itoa(s.cmd.Process.Pid), "--after-close", "300ms", "--baseline", "-o", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("torpor bench: %v\n%s\n%s", err, stderr.String(), stdout.String())
	}
	var rep benchReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	for _, r := range []struct {
		name string
		res  *loadgen.Result
	}{{"torpor", rep.Target}, {"baseline", rep.Baseline}} {
		if r.res == nil {
			t.Fatalf("no %s result:\n%s", r.name, stdout.String())
		}
		d := r.res.Deliveries
		// 3 rooms x 2 senders x 20 msg/s x 2 s, to 4 sockets each.
		if r.res.Send.Sent != 240 || d.Expected != 960 || d.Received != d.Expected {
			t.Errorf("%s: sent %d, expected %d, received %d; want 240, 960, 960", r.name, r.res.Send.Sent, d.Expected, d.Received)
		}
		if d.Lost != 0 || d.Duplicates != 0 || d.Reordered != 0 || d.Corrupt != 0 || d.Misrouted != 0 || d.Disconnected != 0 {
			t.Errorf("%s: faults %+v", r.name, d)
		}
		// CPU comes in 10 ms clock ticks, which a run this small may not
		// fill: only its sign is certain.
		if r.res.Server == nil || r.res.Server.CPUPerDeliveryUs < 0 || r.res.Server.RSSEnd <= 0 || r.res.Server.RSSAfterClose <= 0 {
			t.Errorf("%s: server figures %+v", r.name, r.res.Server)
		}
		if r.res.Latency.P50Ms <= 0 || r.res.Latency.P99Ms < r.res.Latency.P50Ms {
			t.Errorf("%s: latency %+v", r.name, r.res.Latency)
		}
	}
	if rep.Baseline != nil && rep.Baseline.Server != nil && rep.Baseline.Server.PID == s.cmd.Process.Pid {
		t.Error("the baseline was measured with the target's PID")
	}
	var raw struct {
		Ratio map[string]any `json:"ratio"`
	}
	json.Unmarshal(stdout.Bytes(), &raw)
	for _, key := range []string{"cpu_per_delivery", "cpu_per_conn", "p50", "p99", "rss_per_conn", "connect_rate"} {
		if _, ok := raw.Ratio[key]; !ok {
			t.Errorf("ratio has no %s: %v", key, raw.Ratio)
		}
	}
	for _, key := range []string{"p50", "p99", "connect_rate"} {
		if v, ok := raw.Ratio[key].(float64); !ok || v <= 0 {
			t.Errorf("ratio %s = %v, want a positive number", key, raw.Ratio[key])
		}
	}
}

// Bad invocations are refused before anything connects, with one line
// naming the cause.
func TestBenchRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"remote target", []string{"--url", "wss://example.com/broadcast/{room}"}, "--allow-remote"},
		{"no {room}", []string{"--url", "wss://127.0.0.1:8443/broadcast/lobby"}, "has no {room}"},
		{"not a WebSocket URL", []string{"--url", "https://127.0.0.1:8443/broadcast/{room}"}, "ws:// or wss://"},
		{"unknown preset", []string{"--preset", "huge"}, `unknown preset "huge"`},
		{"too many sockets", []string{"--rooms", "100", "--clients", "201"}, "20000 connections"},
		{"too long", []string{"--duration", "11m"}, "at most 10m0s"},
		{"preset overridden out of bounds", []string{"--preset", "capacity", "--clients", "21"}, "20000 connections"},
		{"payload below the header", []string{"--payload", "10"}, "the frame header"},
		{"output", []string{"-o", "yaml"}, "unknown output format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"bench"}, tc.args...), &stdout, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// A preset's fields are overridden by the flags given, and only by them.
func TestBenchPresetOverride(t *testing.T) {
	shape := func(args ...string) loadgen.Shape {
		t.Helper()
		f := &benchFlags{}
		cmd := benchCommand(f)
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		if err := f.resolveShape(cmd); err != nil {
			t.Fatal(err)
		}
		return f.shape
	}
	want := benchPresets["fanout"].shape
	want.Duration = 20 * time.Second
	want.Rooms = 7
	if got := shape("--preset", "fanout", "--duration", "20s", "--rooms", "7"); got != want {
		t.Fatalf("shape %+v, want %+v", got, want)
	}
	if got := shape("--preset", "capacity"); got != benchPresets["capacity"].shape {
		t.Fatalf("capacity shape %+v, want %+v", got, benchPresets["capacity"].shape)
	}
	if got := shape(); got != defaultBenchShape {
		t.Fatalf("shape without a preset %+v, want %+v", got, defaultBenchShape)
	}
}
