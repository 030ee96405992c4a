package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/torpor-dev/torpor/internal/bytesize"
	"github.com/torpor-dev/torpor/internal/loadgen"
)

// benchPresets are the named shapes of `torpor bench --preset`. Flags given
// with a preset override its fields.
var benchPresets = map[string]benchPreset{
	"fanout": {
		about: "100 rooms x 50 clients, 1 sender a room at 20 msg/s: 100,000 deliveries/s",
		shape: loadgen.Shape{Rooms: 100, Clients: 50, Senders: 1, Rate: 20, Payload: 128, Duration: 10 * time.Second},
	},
	"hot-room": {
		about: "1 room x 1000 clients, 1 sender at 50 msg/s: 50,000 deliveries/s",
		shape: loadgen.Shape{Rooms: 1, Clients: 1000, Senders: 1, Rate: 50, Payload: 128, Duration: 10 * time.Second},
	},
	"chatty": {
		about: "1000 rooms x 2 clients, both sending at 10 msg/s: 40,000 deliveries/s",
		shape: loadgen.Shape{Rooms: 1000, Clients: 2, Senders: 2, Rate: 10, Payload: 128, Duration: 10 * time.Second},
	},
	"capacity": {
		about: "10,000 idle sockets over 1000 rooms, connect only: memory per connection and connect rate",
		shape: loadgen.Shape{Rooms: 1000, Clients: 10, Senders: 0, Payload: 128, Duration: 5 * time.Second},
	},
}

type benchPreset struct {
	about string
	shape loadgen.Shape
}

// defaultBenchShape is the shape without a preset: a small room.
var defaultBenchShape = loadgen.Shape{Rooms: 1, Clients: 2, Senders: 1, Rate: 10, Payload: 128, Duration: 10 * time.Second}

// spareFiles is what the bench process needs open besides its sockets:
// stdio, the poller, pipes to the baseline, /proc reads.
const spareFiles = 64

type benchFlags struct {
	url         string
	preset      string
	shape       loadgen.Shape
	drain       time.Duration
	afterClose  time.Duration
	roomPrefix  string
	concurrency int
	insecure    bool
	caFile      string
	serverPID   int
	serverPIDs  []int // every --server-pid; serverPID is the first
	urls        []string
	baseline    bool
	allowRemote bool
	output      string
}

func newBenchCmd() *cobra.Command { return benchCommand(&benchFlags{}) }

// benchCommand is the bench command with its flags bound to f.
func benchCommand(f *benchFlags) *cobra.Command {
	var names []string
	for name := range benchPresets {
		names = append(names, name)
	}
	sort.Strings(names)
	var presetHelp strings.Builder
	for _, name := range names {
		fmt.Fprintf(&presetHelp, "  %-9s %s\n", name, benchPresets[name].about)
	}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load a broadcast room server and check every frame: latency, loss, server CPU and memory",
		Long: `Drive the broadcast-room protocol (every text frame a client sends reaches
every connection of its room, the sender included: the example plugin
"broadcast") against a ws:// or wss:// URL with {room} in it, and check every
frame that comes back: its bytes, its room, its order per sender, duplicates;
what has not come after the drain is lost. Senders are open-loop: message k
is due at start + k/rate, and a sender that falls behind sends at once and
reports how late it was.

With --server-pid it reads the server's CPU time and RSS from /proc and
reports CPU per delivery and memory per connection. With --baseline it runs
the same shape against a plain gws broadcast server it starts itself
(rooms as maps, no WebAssembly, no store, the same bounded send queues) and
reports both and their ratio.

Presets (--preset), whose fields flags override:
` + presetHelp.String() + `
Targets must be on this machine unless --allow-remote. A run opens at most
20,000 sockets and lasts at most 10 minutes. It exits 2 when the checker
found faults (lost, duplicate, reordered, corrupt or misrouted frames).`,
		Example: `  torpor bench --preset fanout --insecure --server-pid $(pgrep -n torpor) --baseline
  torpor bench --url ws://127.0.0.1:8080/broadcast/{room} --rooms 10 --clients 20 --senders 2 --rate 50`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.resolveShape(cmd); err != nil {
				return err
			}
			return bench(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&f.urls, "url", []string{"wss://127.0.0.1:8443/broadcast/{room}"}, "WebSocket URL; {room} is replaced by each room's name. Several (comma-separated or repeated), for the hosts of a cluster: each room's clients are spread over them round-robin")
	fs.StringVar(&f.preset, "preset", "", "a named shape: "+strings.Join(names, ", "))
	d := defaultBenchShape
	fs.IntVar(&f.shape.Rooms, "rooms", d.Rooms, "rooms")
	fs.IntVar(&f.shape.Clients, "clients", d.Clients, "clients (sockets) a room")
	fs.IntVar(&f.shape.Senders, "senders", d.Senders, "senders a room (its first clients); 0 connects only")
	fs.Float64Var(&f.shape.Rate, "rate", d.Rate, "messages a second per sender")
	fs.IntVar(&f.shape.Payload, "payload", d.Payload, fmt.Sprintf("bytes a frame (at least %d)", loadgen.HeaderSize))
	fs.DurationVar(&f.shape.Duration, "duration", d.Duration, "send phase; without senders, how long the sockets are held open")
	fs.StringVar(&f.roomPrefix, "room-prefix", "", "start every room's name with this (default: bench- and a random tag, so that runs never share rooms); a fixed prefix lets a second run find the rooms of a first, hibernated")
	fs.DurationVar(&f.afterClose, "after-close", 0, "with --server-pid, read the server's RSS again this long after the sockets close (does the memory come back?)")
	fs.DurationVar(&f.drain, "drain", 5*time.Second, "bound on the wait for frames in flight after the send phase")
	fs.IntVar(&f.concurrency, "connect-concurrency", 32, "handshakes at once")
	fs.BoolVar(&f.insecure, "insecure", false, "skip TLS certificate verification (a dev certificate)")
	fs.StringVar(&f.caFile, "ca", "", "PEM file of certificates to trust for wss:// (e.g. DATA_DIR/"+devCertFile+")")
	fs.IntSliceVar(&f.serverPIDs, "server-pid", nil, "PID of the server, to read its CPU time and RSS from /proc; several (comma-separated or repeated) for a cluster's hosts, added up")
	fs.BoolVar(&f.baseline, "baseline", false, "also run the shape against a plain gws broadcast server and report the ratio")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow a target that is not on this machine")
	fs.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	return cmd
}

// resolveShape starts from the preset (or the defaults) and applies the
// shape flags given on the command line.
func (f *benchFlags) resolveShape(cmd *cobra.Command) error {
	if f.output != "table" && f.output != "json" {
		return fmt.Errorf("unknown output format %q: use table or json", f.output)
	}
	if f.preset == "" {
		return nil // the flags' defaults are the default shape
	}
	p, ok := benchPresets[f.preset]
	if !ok {
		var names []string
		for name := range benchPresets {
			names = append(names, name)
		}
		sort.Strings(names)
		return fmt.Errorf("unknown preset %q: want one of %s", f.preset, strings.Join(names, ", "))
	}
	given := f.shape
	f.shape = p.shape
	fl := cmd.Flags()
	if fl.Changed("rooms") {
		f.shape.Rooms = given.Rooms
	}
	if fl.Changed("clients") {
		f.shape.Clients = given.Clients
	}
	if fl.Changed("senders") {
		f.shape.Senders = given.Senders
	}
	if fl.Changed("rate") {
		f.shape.Rate = given.Rate
	}
	if fl.Changed("payload") {
		f.shape.Payload = given.Payload
	}
	if fl.Changed("duration") {
		f.shape.Duration = given.Duration
	}
	return nil
}

// benchReport is what `torpor bench -o json` prints.
type benchReport struct {
	Preset   string          `json:"preset,omitempty"`
	Target   *loadgen.Result `json:"target"`
	Baseline *loadgen.Result `json:"baseline,omitempty"`
	// Ratio is target over baseline; a figure either side lacks is null.
	Ratio     *benchRatio    `json:"ratio,omitempty"`
	FileLimit benchFileLimit `json:"file_limit"`
}

type benchRatio struct {
	CPUPerDelivery *float64 `json:"cpu_per_delivery"`
	CPUPerConn     *float64 `json:"cpu_per_conn"`
	P50            *float64 `json:"p50"`
	P99            *float64 `json:"p99"`
	RSSPerConn     *float64 `json:"rss_per_conn"`
	ConnectRate    *float64 `json:"connect_rate"`
}

type benchFileLimit struct {
	Before uint64 `json:"before"`
	Soft   uint64 `json:"soft"`
	Hard   uint64 `json:"hard"`
	Needed int    `json:"needed"`
}

// benchFaults is the error of a run whose checker found faults: exit 2,
// after the report.
type benchFaults string

func (e benchFaults) Error() string { return string(e) }
func (e benchFaults) ExitCode() int { return 2 }

func bench(ctx context.Context, f *benchFlags, stdout, stderr io.Writer) error {
	if err := f.shape.Validate(); err != nil {
		return err
	}
	if len(f.urls) == 0 {
		return fmt.Errorf("--url: give at least one WebSocket URL")
	}
	f.url = f.urls[0]
	if len(f.serverPIDs) > 0 {
		f.serverPID = f.serverPIDs[0]
	}
	if f.baseline && len(f.urls) > 1 {
		return fmt.Errorf("--baseline compares with one plain gws server: give one --url")
	}
	for _, u := range f.urls[1:] {
		h, err := loadgen.CheckURL(u)
		if err != nil {
			return err
		}
		if !f.allowRemote && !loadgen.IsLoopback(h) {
			return fmt.Errorf("target %s is not on this machine (localhost or a loopback address); pass --allow-remote to load a remote server", h)
		}
	}
	host, err := loadgen.CheckURL(f.url)
	if err != nil {
		return err
	}
	if !f.allowRemote && !loadgen.IsLoopback(host) {
		return fmt.Errorf("target %s is not on this machine (localhost or a loopback address); pass --allow-remote to load a remote server", host)
	}
	rep := &benchReport{Preset: f.preset}
	need := f.shape.Conns() + spareFiles
	rep.FileLimit.Needed = need
	before, soft, hard, err := loadgen.RaiseFileLimit()
	rep.FileLimit = benchFileLimit{Before: before, Soft: soft, Hard: hard, Needed: need}
	if err == nil && soft < uint64(need) {
		return fmt.Errorf("the shape needs about %d open files and this process may open %d (its hard limit): raise it (ulimit -Hn, or LimitNOFILE= in systemd) or open fewer sockets", need, soft)
	}
	if f.serverPID != 0 {
		if lim, err := loadgen.ProcessFileLimit(f.serverPID); err == nil && lim < uint64(f.shape.Conns()+spareFiles) {
			fmt.Fprintf(stderr, "torpor bench: warning: the server (pid %d) may open only %d files; %d sockets need more\n", f.serverPID, lim, f.shape.Conns())
		}
	}
	tlsConf, err := f.tlsConfig()
	if err != nil {
		return err
	}

	progress := progressPrinter(stdout, f.output == "table")
	opts := loadgen.Options{
		URL:                f.url,
		Spread:             f.urls[1:],
		TLS:                tlsConf,
		Shape:              f.shape,
		Drain:              f.drain,
		AfterClose:         f.afterClose,
		RoomPrefix:         f.roomPrefix,
		ConnectConcurrency: f.concurrency,
		ServerPID:          f.serverPID,
		OtherServerPIDs:    tail(f.serverPIDs),
		Progress:           progress.update("target"),
	}
	rep.Target, err = loadgen.Run(ctx, opts)
	progress.clear()
	if err != nil && rep.Target == nil {
		return err
	}
	if err == nil && f.baseline {
		rep.Baseline, err = benchBaseline(ctx, f, opts, progress)
		progress.clear()
		if rep.Baseline != nil {
			rep.Ratio = ratioOf(rep.Target, rep.Baseline)
		}
	}
	if perr := printBench(stdout, f, rep); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	var faults []string
	for _, r := range []struct {
		name string
		res  *loadgen.Result
	}{{"target", rep.Target}, {"baseline", rep.Baseline}} {
		if r.res == nil {
			continue
		}
		if d := r.res.Deliveries; d.Faults() > 0 || r.res.Connect.Failed > 0 {
			faults = append(faults, fmt.Sprintf("%s: %d lost, %d duplicates, %d reordered, %d corrupt, %d misrouted, %d connects failed",
				r.name, d.Lost, d.Duplicates, d.Reordered, d.Corrupt, d.Misrouted, r.res.Connect.Failed))
		}
	}
	if len(faults) > 0 {
		return benchFaults("the checker found faults: " + strings.Join(faults, "; "))
	}
	return nil
}

// tlsConfig is the client TLS configuration for a wss:// target.
func (f *benchFlags) tlsConfig() (*tls.Config, error) {
	if !strings.HasPrefix(f.url, "wss://") {
		return nil, nil
	}
	c := &tls.Config{InsecureSkipVerify: f.insecure}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s holds no PEM certificate", f.caFile)
		}
	}
	return c, nil
}

// benchBaseline runs the shape against a baseline server of its own, on
// loopback, with TLS when the target has it.
func benchBaseline(ctx context.Context, f *benchFlags, opts loadgen.Options, progress *progressLine) (*loadgen.Result, error) {
	useTLS := strings.HasPrefix(f.url, "wss://")
	b, err := startBaseline(useTLS)
	if err != nil {
		return nil, err
	}
	opts.URL = b.url(f.url)
	opts.TLS = b.tls
	opts.ServerPID, opts.OtherServerPIDs, opts.Spread = b.pid(), nil, nil
	opts.Progress = progress.update("baseline")
	res, err := loadgen.Run(ctx, opts)
	if serr := b.stop(); serr != nil && err == nil {
		err = serr
	}
	return res, err
}

func ratioOf(t, b *loadgen.Result) *benchRatio {
	div := func(x, y float64) *float64 {
		if x <= 0 || y <= 0 {
			return nil
		}
		r := x / y
		return &r
	}
	r := &benchRatio{
		P50:         div(t.Latency.P50Ms, b.Latency.P50Ms),
		P99:         div(t.Latency.P99Ms, b.Latency.P99Ms),
		ConnectRate: div(t.Connect.PerS, b.Connect.PerS),
	}
	if t.Server != nil && b.Server != nil {
		r.CPUPerDelivery = div(t.Server.CPUPerDeliveryUs, b.Server.CPUPerDeliveryUs)
		r.CPUPerConn = div(t.Server.CPUPerConnUs, b.Server.CPUPerConnUs)
		r.RSSPerConn = div(t.Server.RSSPerConn, b.Server.RSSPerConn)
	}
	return r
}

// progressLine rewrites one line of a terminal with a run's state.
type progressLine struct {
	w  io.Writer
	on bool
}

// progressPrinter returns a progress line that shows only when w is a
// terminal and the output is a table.
func progressPrinter(w io.Writer, table bool) *progressLine {
	f, ok := w.(*os.File)
	if !ok || !table {
		return &progressLine{}
	}
	fi, err := f.Stat()
	return &progressLine{w: w, on: err == nil && fi.Mode()&os.ModeCharDevice != 0}
}

func (p *progressLine) update(name string) func(loadgen.Progress) {
	if !p.on {
		return nil
	}
	return func(s loadgen.Progress) {
		line := fmt.Sprintf("%s %s: connected %d/%d", name, s.Phase, s.Connected, s.Conns)
		if s.Failed > 0 {
			line += fmt.Sprintf(" (%d failed)", s.Failed)
		}
		line += fmt.Sprintf("  sent %d  delivered %d  ", s.Sent, s.Delivered)
		if s.Phase == "drain" {
			line += fmt.Sprintf("missing %d", s.Missing)
		} else {
			line += fmt.Sprintf("in flight %d", s.Missing)
		}
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	}
}

func (p *progressLine) clear() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func printBench(w io.Writer, f *benchFlags, rep *benchReport) error {
	if f.output == "json" {
		return printJSON(w, rep)
	}
	s := f.shape
	name := "custom shape"
	if f.preset != "" {
		name = f.preset
	}
	fmt.Fprintf(w, "torpor bench %s: %s x %s", name, plural(s.Rooms, "room"), plural(s.Clients, "client"))
	if s.Senders > 0 {
		fmt.Fprintf(w, ", %s a room at %g msg/s, %d-byte frames, %s (%.0f deliveries/s asked)\n",
			plural(s.Senders, "sender"), s.Rate, s.Payload, s.Duration, rep.Target.Shape.DeliveriesPerS)
	} else {
		fmt.Fprintf(w, ", connect only, held %s\n", s.Duration)
	}
	m := rep.Target.Machine
	fmt.Fprintf(w, "machine: %d cores, load average %.2f before the run; open files: limit %d, %d needed\n\n",
		m.Cores, m.LoadAverage, rep.FileLimit.Soft, rep.FileLimit.Needed)

	results := []*loadgen.Result{rep.Target}
	header := []string{"", "target"}
	if rep.Baseline != nil {
		results = append(results, rep.Baseline)
		header = append(header, "baseline", "target/baseline")
	}
	t := newTable(w, header...)
	row := func(label string, cell func(*loadgen.Result) string, ratio *float64) {
		cells := []string{label}
		for _, r := range results {
			cells = append(cells, cell(r))
		}
		if rep.Baseline != nil {
			cells = append(cells, ratioText(ratio))
		}
		t.row(cells...)
	}
	var ratio benchRatio
	if rep.Ratio != nil {
		ratio = *rep.Ratio
	}
	num := func(v float64, format string) string { return fmt.Sprintf(format, v) }
	server := func(fn func(*loadgen.ServerReport) string) func(*loadgen.Result) string {
		return func(r *loadgen.Result) string {
			if r.Server == nil {
				return "-"
			}
			return fn(r.Server)
		}
	}
	row("url", func(r *loadgen.Result) string { return r.URL }, nil)
	row("connected", func(r *loadgen.Result) string {
		c := fmt.Sprintf("%d/%d", r.Connect.Conns, r.Shape.Conns)
		if r.Connect.Failed > 0 {
			c += fmt.Sprintf(" (%d failed: %s)", r.Connect.Failed, r.Connect.FirstError)
		}
		return c
	}, nil)
	row("connect rate (conn/s)", func(r *loadgen.Result) string { return num(r.Connect.PerS, "%.0f") }, ratio.ConnectRate)
	if s.Senders > 0 {
		row("sent/planned", func(r *loadgen.Result) string { return fmt.Sprintf("%d/%d", r.Send.Sent, r.Send.Planned) }, nil)
		row("late sends (>2ms), p99, max", func(r *loadgen.Result) string {
			return fmt.Sprintf("%d, %.2f ms, %.2f ms", r.Send.Late, r.Send.LatenessP99Ms, r.Send.LatenessMaxMs)
		}, nil)
		row("received/expected", func(r *loadgen.Result) string {
			return fmt.Sprintf("%d/%d", r.Deliveries.Received, r.Deliveries.Expected)
		}, nil)
		row("deliveries/s", func(r *loadgen.Result) string { return num(r.Deliveries.PerS, "%.0f") }, nil)
		row("lost", func(r *loadgen.Result) string { return fmt.Sprint(r.Deliveries.Lost) }, nil)
		row("dup/reordered/corrupt/misrouted", func(r *loadgen.Result) string {
			d := r.Deliveries
			return fmt.Sprintf("%d/%d/%d/%d", d.Duplicates, d.Reordered, d.Corrupt, d.Misrouted)
		}, nil)
	}
	row("disconnected early", func(r *loadgen.Result) string {
		if r.Deliveries.Disconnected == 0 {
			return "0"
		}
		return fmt.Sprintf("%d (codes %v)", r.Deliveries.Disconnected, r.Deliveries.DisconnectCodes)
	}, nil)
	if s.Senders > 0 {
		row("latency p50 (ms)", func(r *loadgen.Result) string { return num(r.Latency.P50Ms, "%.3f") }, ratio.P50)
		row("latency p90 (ms)", func(r *loadgen.Result) string { return num(r.Latency.P90Ms, "%.3f") }, nil)
		row("latency p99 (ms)", func(r *loadgen.Result) string { return num(r.Latency.P99Ms, "%.3f") }, ratio.P99)
		row("latency p99.9 (ms)", func(r *loadgen.Result) string { return num(r.Latency.P999Ms, "%.3f") }, nil)
		row("latency max (ms)", func(r *loadgen.Result) string { return num(r.Latency.MaxMs, "%.3f") }, nil)
		row("server CPU/delivery (µs)", server(func(s *loadgen.ServerReport) string { return num(s.CPUPerDeliveryUs, "%.2f") }), ratio.CPUPerDelivery)
	}
	row("server CPU/connect (µs)", server(func(s *loadgen.ServerReport) string { return num(s.CPUPerConnUs, "%.0f") }), ratio.CPUPerConn)
	row("server RSS/conn", server(func(s *loadgen.ServerReport) string {
		if s.RSSShrank {
			return "unknown: RSS shrank during the run"
		}
		return bytesize.Format(int64(s.RSSPerConn))
	}), ratio.RSSPerConn)
	row("server RSS before, end", server(func(s *loadgen.ServerReport) string {
		return bytesize.Format(s.RSSBefore) + ", " + bytesize.Format(s.RSSEnd)
	}), nil)
	if f.afterClose > 0 {
		row(fmt.Sprintf("server RSS %v after close", f.afterClose), server(func(s *loadgen.ServerReport) string {
			if s.RSSAfterClose == 0 || s.RSSBefore == 0 {
				return "-"
			}
			return fmt.Sprintf("%s (%.0f%% of before)", bytesize.Format(s.RSSAfterClose), 100*float64(s.RSSAfterClose)/float64(s.RSSBefore))
		}), nil)
	}
	row("bench CPU connect, send (s)", func(r *loadgen.Result) string {
		return fmt.Sprintf("%.2f, %.2f", r.Client.CPUConnectS, r.Client.CPUSendS)
	}, nil)
	row("machine idle connect, send (%)", func(r *loadgen.Result) string {
		return pct(r.Machine.IdleConnectPct) + ", " + pct(r.Machine.IdleSendPct)
	}, nil)
	row("saturated", func(r *loadgen.Result) string {
		if r.Machine.Saturated {
			return "YES: under 10% idle, figures measure the machine too"
		}
		return "no"
	}, nil)
	return t.flush()
}

func ratioText(r *float64) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%.2f", *r)
}

// pct renders a percentage, or "-" for a window too short to measure.
func pct(v float64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

// tail is every element but the first.
func tail(s []int) []int {
	if len(s) < 2 {
		return nil
	}
	return s[1:]
}
