// Package loadgen drives the broadcast-room protocol against a WebSocket
// server and checks every frame that comes back. It is the machinery of
// `torpor bench`.
//
// The protocol is the one of the example plugin plugins/broadcast: every
// text frame a client sends reaches every connection of its room, the
// sender included, verbatim. A run opens Rooms x Clients sockets, one
// room per URL (the URL template's {room} filled in); the first Senders
// clients of each room send Rate messages a second each, for Duration.
//
// Senders are open-loop: message k of a sender is due at start + k/Rate
// (plus a per-sender phase, so that senders do not fire together). A
// sender that falls behind sends at once and counts how late it was;
// nothing waits for the server. What was not sent by the end of the send
// phase is reported as unsent.
//
// Every receiver checks every frame: its bytes (see frame.go: room, sender,
// sequence number and send time, a CRC and a padding pattern), that it
// belongs to the receiver's room, and, per sender, duplicates and order.
// After the send phase the run waits (at most Options.Drain) for frames in
// flight; what never came is lost. Latency is measured from the send time
// in the frame to its arrival, on one monotonic clock.
//
// With a server PID the run reads the server's CPU time and RSS from
// /proc before connecting, once connected and at the end, and it always
// reads its own CPU and the machine's (/proc/stat): a run during which the
// machine had less than SaturatedIdle of its CPU idle says so, since its
// figures then measure the machine as much as the server.
package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// Bounds of a run. A bench is a tool one points at one's own server, not a
// flood: the caps keep a typo from turning into one.
const (
	MaxConns    = 20000
	MaxDuration = 10 * time.Minute
	MaxDrain    = time.Minute
	MaxPayload  = 1 << 20
	MaxRate     = 10000 // messages a second per sender
)

// SaturatedIdle is the idle fraction of the machine's CPU below which a
// run is flagged as saturated.
const SaturatedIdle = 0.10

// lateAfter is how far behind its due time a send counts as late: Go's
// timers may wake a millisecond late (the poller waits in whole
// milliseconds), and that is the timer, not the server.
const lateAfter = 2 * time.Millisecond

// Shape is what a run does.
type Shape struct {
	Rooms   int
	Clients int // per room
	Senders int // per room: its first Senders clients; 0 connects only
	Rate    float64
	Payload int // bytes a frame, at least HeaderSize
	// Duration is the send phase; with no senders, how long the open
	// sockets are held before the final samples.
	Duration time.Duration
}

// Conns is the number of sockets the shape opens.
func (s Shape) Conns() int { return s.Rooms * s.Clients }

// Validate reports what is wrong with the shape, bounds included.
func (s Shape) Validate() error {
	switch {
	case s.Rooms < 1 || s.Clients < 1:
		return fmt.Errorf("%d rooms of %d clients: want at least 1 of each", s.Rooms, s.Clients)
	case s.Rooms > MaxConns || s.Clients > MaxConns || s.Conns() > MaxConns:
		return fmt.Errorf("%d rooms x %d clients is more than the %d connections a run may open", s.Rooms, s.Clients, MaxConns)
	case s.Senders < 0 || s.Senders > s.Clients:
		return fmt.Errorf("%d senders per room: want 0 to the %d clients of a room", s.Senders, s.Clients)
	case s.Senders > 0 && !(s.Rate > 0 && s.Rate <= MaxRate):
		return fmt.Errorf("rate %g messages a second per sender: want more than 0 and at most %d", s.Rate, MaxRate)
	case s.Payload < HeaderSize || s.Payload > MaxPayload:
		return fmt.Errorf("payload %d bytes: want %d (the frame header) to %d", s.Payload, HeaderSize, MaxPayload)
	case s.Duration <= 0 || s.Duration > MaxDuration:
		return fmt.Errorf("duration %s: want more than 0 and at most %s", s.Duration, MaxDuration)
	case s.Senders > 0 && s.Rate*s.Duration.Seconds() >= math.MaxUint32:
		return fmt.Errorf("%g messages a second for %s overflow the sequence numbers", s.Rate, s.Duration)
	}
	return nil
}

// Options configure a run.
type Options struct {
	// URL is a ws:// or wss:// URL with {room} where the room's name goes,
	// e.g. wss://127.0.0.1:8443/broadcast/{room}.
	URL string
	// Spread are further URL templates, for servers that form one cluster:
	// client k of every room connects through the (k mod n)th of URL and
	// Spread, so a room's clients are spread round-robin over the hosts and
	// a broadcast crosses between them. Same scheme as URL.
	Spread []string
	// TLS is the client configuration for wss://; nil verifies against the
	// system's roots.
	TLS   *tls.Config
	Shape Shape
	// Drain bounds the wait for frames in flight after the send phase;
	// 0 means 5 s.
	Drain time.Duration
	// ConnectConcurrency is how many handshakes run at once; 0 means 32.
	ConnectConcurrency int
	// ServerPID, if not 0, is the server process whose CPU and RSS the
	// run reads from /proc.
	ServerPID int
	// OtherServerPIDs are more server processes (the other hosts of a
	// cluster): their CPU and RSS are added to ServerPID's.
	OtherServerPIDs []int
	// AfterClose, if not 0, is how long after the sockets close the run
	// reads the server's RSS once more (ServerReport.RSSAfterClose): does
	// the memory the clients took come back once they leave?
	AfterClose time.Duration
	// RoomPrefix starts every room's name; "" means "bench-" and a random
	// tag, so that runs never share rooms.
	RoomPrefix string
	// Progress, if set, is called every ProgressEvery (0: 500 ms) from a
	// goroutine of the run, and never after Run returns.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is a run's state while it runs.
type Progress struct {
	Phase     string // "connect", "send", "hold", "drain"
	Conns     int    // the shape's sockets
	Connected int
	Failed    int // connects that failed
	Sent      int64
	Delivered int64
	// Missing is deliveries of what was sent that have not arrived yet:
	// in flight while sending, lost once the drain ends.
	Missing int64
}

// Result is what a run measured. Times are in the unit their name says.
type Result struct {
	URL        string         `json:"url"`
	Shape      ShapeReport    `json:"shape"`
	Connect    ConnectReport  `json:"connect"`
	Send       SendReport     `json:"send"`
	Deliveries DeliveryReport `json:"deliveries"`
	Latency    LatencyReport  `json:"latency"`
	Server     *ServerReport  `json:"server,omitempty"`
	Client     ClientReport   `json:"client"`
	Machine    MachineReport  `json:"machine"`
}

type ShapeReport struct {
	Rooms     int     `json:"rooms"`
	Clients   int     `json:"clients"`
	Senders   int     `json:"senders"`
	Rate      float64 `json:"rate"`
	Payload   int     `json:"payload"`
	DurationS float64 `json:"duration_s"`
	Conns     int     `json:"conns"`
	// DeliveriesPerS is what the shape asks of the server: messages a
	// second times the room size.
	DeliveriesPerS float64 `json:"deliveries_per_s"`
}

type ConnectReport struct {
	Conns      int     `json:"conns"` // sockets opened
	Failed     int     `json:"failed"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	PerS       float64 `json:"per_s"`
}

type SendReport struct {
	Planned int64 `json:"planned"` // due within the send phase
	Sent    int64 `json:"sent"`
	Unsent  int64 `json:"unsent"` // due but not sent: senders too far behind, or whose socket failed
	Errors  int64 `json:"errors"` // senders whose socket failed
	// Late counts sends more than 2 ms behind their due time.
	Late          int64   `json:"late"`
	LatenessP99Ms float64 `json:"lateness_p99_ms"`
	LatenessMaxMs float64 `json:"lateness_max_ms"`
	Seconds       float64 `json:"seconds"`
	PerS          float64 `json:"per_s"`
}

type DeliveryReport struct {
	// Expected is, for every open socket, what its room's senders sent.
	Expected int64 `json:"expected"`
	// Received counts frames that checked out, each once.
	Received int64 `json:"received"`
	// Lost is Expected minus what arrived, broken frames counted as
	// arrived (they are Corrupt, not Lost).
	Lost       int64 `json:"lost"`
	Duplicates int64 `json:"duplicates"`
	// Reordered counts frames that came after a later frame of the same
	// sender (they are also Received).
	Reordered int64 `json:"reordered"`
	// Corrupt counts frames whose bytes do not check out.
	Corrupt int64 `json:"corrupt"`
	// Misrouted counts intact frames of another room.
	Misrouted int64 `json:"misrouted"`
	// Disconnected counts sockets that ended before the run closed them,
	// by close code (1006: without a close frame).
	Disconnected    int            `json:"disconnected"`
	DisconnectCodes map[string]int `json:"disconnect_codes,omitempty"`
	DrainSeconds    float64        `json:"drain_s"`
	PerS            float64        `json:"per_s"`
	DrainIncomplete bool           `json:"drain_incomplete"` // the drain ended at its bound
}

type LatencyReport struct {
	Count  int64   `json:"count"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// ServerReport is the server process's resource use, its descendants
// included. The connect phase's CPU is divided by the sockets opened, the
// send phase's (drain included) by the frames received. RSS per connection
// is RSS at the end, every socket still open, minus RSS before connecting,
// over the sockets.
type ServerReport struct {
	PID              int     `json:"pid"`
	Procs            int     `json:"procs"`
	CPUConnectS      float64 `json:"cpu_connect_s"`
	CPUSendS         float64 `json:"cpu_send_s"`
	CPUPerConnUs     float64 `json:"cpu_per_conn_us"`
	CPUPerDeliveryUs float64 `json:"cpu_per_delivery_us"`
	RSSBefore        int64   `json:"rss_before_bytes"`
	// RSSAfterClose is RSS Options.AfterClose after the sockets closed.
	RSSAfterClose int64   `json:"rss_after_close_bytes,omitempty"`
	RSSConnected  int64   `json:"rss_connected_bytes"`
	RSSEnd        int64   `json:"rss_end_bytes"`
	RSSPerConn    float64 `json:"rss_per_conn_bytes"`
	// RSSShrank says the server's RSS at the end was below its RSS before
	// connecting: it was giving back memory of earlier work (rooms
	// hibernating, the Go heap shrinking) faster than the sockets took
	// it, so RSSPerConn, left at 0, cannot be known. Run against a freshly
	// started server, or one idle for a while.
	RSSShrank bool `json:"rss_shrank,omitempty"`
}

type ClientReport struct {
	CPUConnectS float64 `json:"cpu_connect_s"`
	CPUSendS    float64 `json:"cpu_send_s"`
}

// MachineReport is the whole machine's CPU during the run. Saturated is
// judged on the send phase, or on the connect phase for a shape without
// senders (whose figure is the connect rate).
type MachineReport struct {
	Cores          int     `json:"cores"`
	LoadAverage    float64 `json:"load_average_1m"` // before the run
	IdleConnectPct float64 `json:"idle_connect_pct"`
	IdleSendPct    float64 `json:"idle_send_pct"`
	Saturated      bool    `json:"saturated"`
}

// Faults is the number of frames the checker found wrong, lost included.
func (d DeliveryReport) Faults() int64 {
	return d.Lost + d.Duplicates + d.Reordered + d.Corrupt + d.Misrouted
}

// CheckURL reports whether u is a URL template Run accepts and returns its
// host name.
func CheckURL(u string) (host string, err error) {
	if !strings.Contains(u, "{room}") {
		return "", fmt.Errorf("URL %q has no {room}", u)
	}
	parsed, err := url.Parse(strings.ReplaceAll(u, "{room}", "room"))
	if err != nil {
		return "", fmt.Errorf("URL %q: %w", u, err)
	}
	if parsed.Scheme != "ws" && parsed.Scheme != "wss" {
		return "", fmt.Errorf("URL %q: want ws:// or wss://", u)
	}
	if parsed.Hostname() == "" {
		return "", fmt.Errorf("URL %q has no host", u)
	}
	return parsed.Hostname(), nil
}

// IsLoopback reports whether a URL's host name is this machine: localhost
// or a loopback address. Names are not resolved.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Run performs one run. It returns when the run is done, every socket
// closed and every goroutine it started ended. When ctx ends early it
// stops where it is and returns what it measured with ctx's error.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.Shape.Validate(); err != nil {
		return nil, err
	}
	host, err := CheckURL(o.URL)
	if err != nil {
		return nil, err
	}
	for _, u := range o.Spread {
		if _, err := CheckURL(u); err != nil {
			return nil, err
		}
		if strings.HasPrefix(u, "wss://") != strings.HasPrefix(o.URL, "wss://") {
			return nil, fmt.Errorf("URL %q: every URL needs the same scheme as %q", u, o.URL)
		}
	}
	if len(o.OtherServerPIDs) > 0 && o.ServerPID == 0 {
		return nil, errors.New("OtherServerPIDs need ServerPID")
	}
	if o.Drain == 0 {
		o.Drain = 5 * time.Second
	}
	if o.Drain < 0 || o.Drain > MaxDrain {
		return nil, fmt.Errorf("drain %s: want at most %s", o.Drain, MaxDrain)
	}
	if o.ConnectConcurrency <= 0 {
		o.ConnectConcurrency = 32
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 500 * time.Millisecond
	}
	if o.RoomPrefix == "" {
		var tag [3]byte
		rand.Read(tag[:])
		o.RoomPrefix = "bench-" + hex.EncodeToString(tag[:]) + "-"
	}
	if strings.HasPrefix(o.URL, "wss://") {
		if o.TLS == nil {
			o.TLS = &tls.Config{}
		} else {
			o.TLS = o.TLS.Clone()
		}
		if o.TLS.ServerName == "" {
			o.TLS.ServerName = host
		}
	}
	if o.ServerPID != 0 {
		if _, err := o.sampleServers(); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	r := newRunner(o)
	return r.run(ctx)
}

// runner is one run's state. Its fields are set before the goroutines
// that read them start; what changes while they run is atomic.
type runner struct {
	o         Options
	epoch     time.Time // frames carry send times relative to it
	rooms     []*room
	receivers []*receiver // by global index; nil until connected
	senders   []*sender

	phase     atomic.Pointer[string]
	connected atomic.Int64
	failed    atomic.Int64
	firstErr  atomic.Pointer[string]
	expected  atomic.Int64 // deliveries due for what was sent so far
	closing   atomic.Bool  // the run is closing its sockets
	assembled atomic.Bool  // rooms, receivers and senders are final

	latency  shardedHistogram
	lateness shardedHistogram

	reads sync.WaitGroup // every socket's read loop
}

type room struct {
	index   uint32
	urls    []string    // client k connects through urls[k % len(urls)]
	members []*receiver // connected sockets, set after the connect phase
	senders []*sender
}

func newRunner(o Options) *runner {
	r := &runner{o: o, epoch: time.Now()}
	for i := range o.Shape.Rooms {
		name := fmt.Sprintf("%s%d", o.RoomPrefix, i)
		rm := &room{index: uint32(i)}
		for _, u := range append([]string{o.URL}, o.Spread...) {
			rm.urls = append(rm.urls, strings.ReplaceAll(u, "{room}", name))
		}
		r.rooms = append(r.rooms, rm)
	}
	r.receivers = make([]*receiver, o.Shape.Conns())
	r.setPhase("connect")
	return r
}

func (r *runner) setPhase(p string) { r.phase.Store(&p) }

// since is the time since the run's epoch, on the monotonic clock.
func (r *runner) since() time.Duration { return time.Since(r.epoch) }

type samples struct {
	server  ProcSample
	machine MachineSample
	self    time.Duration
}

func (r *runner) sample() (samples, error) {
	var s samples
	var err error
	if r.o.ServerPID != 0 {
		if s.server, err = r.o.sampleServers(); err != nil {
			return s, fmt.Errorf("server: %w", err)
		}
	}
	s.machine, _ = SampleMachine()
	s.self = SelfCPU()
	return s, nil
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	res := &Result{URL: r.o.URL, Shape: shapeReport(r.o.Shape)}
	res.Machine.Cores = runtime.NumCPU()
	res.Machine.LoadAverage = LoadAverage()

	stopProgress := r.startProgress()
	defer stopProgress()

	before, err := r.sample()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	r.connect(ctx)
	connectTime := time.Since(t0)
	connected, sampleErr := r.sample()
	r.assemble()

	var sendTime, drainTime time.Duration
	drained := true
	if ctx.Err() == nil && sampleErr == nil && r.connected.Load() > 0 {
		t1 := time.Now()
		if r.o.Shape.Senders > 0 {
			r.setPhase("send")
			r.send(ctx)
		} else {
			r.setPhase("hold")
			hold := time.NewTimer(r.o.Shape.Duration)
			select {
			case <-ctx.Done():
			case <-hold.C:
			}
			hold.Stop()
		}
		sendTime = time.Since(t1)
		r.setPhase("drain")
		t2 := time.Now()
		drained = r.drain(ctx)
		drainTime = time.Since(t2)
	}
	end, endErr := r.sample()
	r.closeAll()
	stopProgress()
	var afterClose ProcSample
	if r.o.AfterClose > 0 && r.o.ServerPID != 0 && ctx.Err() == nil {
		wait := time.NewTimer(r.o.AfterClose)
		select {
		case <-ctx.Done():
		case <-wait.C:
			afterClose, _ = SampleProcess(r.o.ServerPID)
		}
		wait.Stop()
	}

	res.Connect = ConnectReport{
		Conns:   int(r.connected.Load()),
		Failed:  int(r.failed.Load()),
		Seconds: connectTime.Seconds(),
		PerS:    float64(r.connected.Load()) / connectTime.Seconds(),
	}
	if e := r.firstErr.Load(); e != nil {
		res.Connect.FirstError = *e
	}
	r.report(res, sendTime, drainTime, drained)
	if r.o.ServerPID != 0 && sampleErr == nil && endErr == nil {
		res.Server = serverReport(r.o.ServerPID, before.server, connected.server, end.server, res)
		res.Server.RSSAfterClose = afterClose.RSS
	}
	res.Client = ClientReport{
		CPUConnectS: (connected.self - before.self).Seconds(),
		CPUSendS:    (end.self - connected.self).Seconds(),
	}
	res.Machine.IdleConnectPct = 100 * connected.machine.IdleSince(before.machine)
	res.Machine.IdleSendPct = 100 * end.machine.IdleSince(connected.machine)
	judged := res.Machine.IdleSendPct
	if r.o.Shape.Senders == 0 {
		judged = res.Machine.IdleConnectPct
	}
	res.Machine.Saturated = judged >= 0 && judged < 100*SaturatedIdle

	switch {
	case ctx.Err() != nil:
		return res, ctx.Err()
	case sampleErr != nil:
		return res, sampleErr
	case endErr != nil:
		return res, endErr
	case r.connected.Load() == 0:
		return res, fmt.Errorf("no socket connected: %s", res.Connect.FirstError)
	}
	return res, nil
}

func shapeReport(s Shape) ShapeReport {
	rep := ShapeReport{
		Rooms: s.Rooms, Clients: s.Clients, Senders: s.Senders, Rate: s.Rate,
		Payload: s.Payload, DurationS: s.Duration.Seconds(), Conns: s.Conns(),
	}
	rep.DeliveriesPerS = float64(s.Rooms*s.Senders*s.Clients) * s.Rate
	return rep
}

// connect opens every socket, ConnectConcurrency at a time.
func (r *runner) connect(ctx context.Context) {
	jobs := make(chan int)
	var workers sync.WaitGroup
	for range min(r.o.ConnectConcurrency, len(r.receivers)) {
		workers.Go(func() {
			for i := range jobs {
				r.dial(i)
			}
		})
	}
feed:
	for i := range r.receivers {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	workers.Wait()
}

func (r *runner) dial(i int) {
	s := r.o.Shape
	rm := r.rooms[i/s.Clients]
	rc := &receiver{run: r, index: i, room: rm, tracks: make([]track, s.Senders)}
	opt := &gws.ClientOption{
		Addr:               rm.urls[(i%s.Clients)%len(rm.urls)],
		HandshakeTimeout:   10 * time.Second,
		ReadMaxPayloadSize: max(s.Payload, 64<<10),
		NewDialer: func() (gws.Dialer, error) {
			return &net.Dialer{Timeout: 10 * time.Second}, nil
		},
	}
	if r.o.TLS != nil {
		opt.TlsConfig = r.o.TLS.Clone() // gws writes to it
	}
	conn, resp, err := gws.NewClient(rc, opt)
	if err != nil {
		r.failed.Add(1)
		msg := err.Error()
		if resp != nil {
			msg = fmt.Sprintf("%s (HTTP %s)", msg, resp.Status)
		}
		r.firstErr.CompareAndSwap(nil, &msg)
		return
	}
	rc.conn = conn
	r.receivers[i] = rc
	r.connected.Add(1)
	r.reads.Go(conn.ReadLoop)
}

// assemble fills in the rooms' members and senders once every connect
// has ended.
func (r *runner) assemble() {
	s := r.o.Shape
	for i, rc := range r.receivers {
		if rc == nil {
			continue
		}
		rm := rc.room
		rm.members = append(rm.members, rc)
		if k := i % s.Clients; k < s.Senders {
			sd := &sender{run: r, rc: rc, index: uint32(k)}
			rm.senders = append(rm.senders, sd)
			r.senders = append(r.senders, sd)
		}
	}
	r.assembled.Store(true)
}

// send runs every sender for the send phase and waits for them.
func (r *runner) send(ctx context.Context) {
	start := time.Now().Add(20 * time.Millisecond)
	end := start.Add(r.o.Shape.Duration)
	interval := float64(time.Second) / r.o.Shape.Rate
	var senders sync.WaitGroup
	for g, sd := range r.senders {
		sd.start = start.Add(time.Duration(interval * float64(g) / float64(len(r.senders))))
		sd.interval = interval
		sd.planned = plannedSends(sd.start, end, interval)
		senders.Go(func() { sd.loop(ctx, end) })
	}
	senders.Wait()
}

// plannedSends is how many messages are due before end: the k with
// start + k*interval < end.
func plannedSends(start, end time.Time, interval float64) int64 {
	span := float64(end.Sub(start))
	if span <= 0 {
		return 0
	}
	return int64(math.Ceil(span / interval))
}

// drain waits until every open socket has what its room's senders sent,
// or Drain passed; it reports whether everything came.
func (r *runner) drain(ctx context.Context) bool {
	deadline := time.NewTimer(r.o.Drain)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !r.allIn() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return r.allIn()
		case <-tick.C:
		}
	}
	return true
}

func (r *runner) allIn() bool {
	for _, rm := range r.rooms {
		want := rm.sent()
		for _, rc := range rm.members {
			if !rc.dropped.Load() && rc.arrived() < want {
				return false
			}
		}
	}
	return true
}

// closeAll closes every socket with 1000 and waits for the read loops.
// A write that cannot finish within 2 s (a server that stopped reading)
// is cut off by the deadline, and the close with it.
func (r *runner) closeAll() {
	r.closing.Store(true)
	jobs := make(chan *receiver)
	var workers sync.WaitGroup
	for range 8 {
		workers.Go(func() {
			for rc := range jobs {
				rc.conn.SetDeadline(time.Now().Add(2 * time.Second))
				rc.conn.WriteClose(1000, nil)
				rc.conn.NetConn().Close()
			}
		})
	}
	for _, rc := range r.receivers {
		if rc != nil {
			jobs <- rc
		}
	}
	close(jobs)
	workers.Wait()
	r.reads.Wait()
}

// report fills in the send, delivery and latency figures.
func (r *runner) report(res *Result, sendTime, drainTime time.Duration, drained bool) {
	var send SendReport
	for _, sd := range r.senders {
		send.Planned += sd.planned
		send.Sent += sd.sent.Load()
		send.Errors += sd.failed.Load()
		send.Late += sd.late.Load()
	}
	send.Unsent = send.Planned - send.Sent
	lateness := r.lateness.sum()
	send.LatenessP99Ms = ms(lateness.quantile(0.99))
	send.LatenessMaxMs = ms(time.Duration(lateness.max.Load()))
	send.Seconds = sendTime.Seconds()
	if sendTime > 0 {
		send.PerS = float64(send.Sent) / sendTime.Seconds()
	}
	res.Send = send

	var d DeliveryReport
	for _, rm := range r.rooms {
		want := rm.sent()
		for _, rc := range rm.members {
			d.Expected += want
			d.Received += rc.valid.Load()
			d.Duplicates += rc.duplicates.Load()
			d.Reordered += rc.reordered.Load()
			d.Corrupt += rc.corrupt.Load()
			d.Misrouted += rc.misrouted.Load()
			d.Lost += max(0, want-rc.arrived())
			if rc.dropped.Load() {
				d.Disconnected++
				if d.DisconnectCodes == nil {
					d.DisconnectCodes = map[string]int{}
				}
				d.DisconnectCodes[fmt.Sprint(rc.closeCode.Load())]++
			}
		}
	}
	d.DrainSeconds = drainTime.Seconds()
	d.DrainIncomplete = !drained
	if sendTime > 0 {
		d.PerS = float64(d.Received) / sendTime.Seconds()
	}
	res.Deliveries = d

	lat := r.latency.sum()
	res.Latency = LatencyReport{
		Count:  int64(lat.n.Load()),
		P50Ms:  ms(lat.quantile(0.50)),
		P90Ms:  ms(lat.quantile(0.90)),
		P99Ms:  ms(lat.quantile(0.99)),
		P999Ms: ms(lat.quantile(0.999)),
		MaxMs:  ms(time.Duration(lat.max.Load())),
	}
}

func serverReport(pid int, before, connected, end ProcSample, res *Result) *ServerReport {
	s := &ServerReport{
		PID:          pid,
		Procs:        end.Procs,
		CPUConnectS:  (connected.CPU - before.CPU).Seconds(),
		CPUSendS:     (end.CPU - connected.CPU).Seconds(),
		RSSBefore:    before.RSS,
		RSSConnected: connected.RSS,
		RSSEnd:       end.RSS,
	}
	if n := res.Connect.Conns; n > 0 {
		s.CPUPerConnUs = s.CPUConnectS * 1e6 / float64(n)
		if end.RSS >= before.RSS {
			s.RSSPerConn = float64(end.RSS-before.RSS) / float64(n)
		} else {
			s.RSSShrank = true
		}
	}
	if n := res.Deliveries.Received; n > 0 {
		s.CPUPerDeliveryUs = s.CPUSendS * 1e6 / float64(n)
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// startProgress calls Options.Progress every ProgressEvery until the
// returned stop is called (more than once is fine).
func (r *runner) startProgress() (stop func()) {
	if r.o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.o.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.o.Progress(r.progress())
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

func (r *runner) progress() Progress {
	p := Progress{
		Phase:     *r.phase.Load(),
		Conns:     len(r.receivers),
		Connected: int(r.connected.Load()),
		Failed:    int(r.failed.Load()),
	}
	if !r.assembled.Load() {
		return p // the connect phase is still writing them
	}
	for _, sd := range r.senders {
		p.Sent += sd.sent.Load()
	}
	var arrived int64
	for _, rc := range r.receivers {
		if rc != nil {
			p.Delivered += rc.valid.Load()
			arrived += rc.arrived()
		}
	}
	p.Missing = max(0, r.expected.Load()-arrived)
	return p
}

// sampleServers reads ServerPID and every OtherServerPIDs process and adds
// them up.
func (o *Options) sampleServers() (ProcSample, error) {
	sum, err := SampleProcess(o.ServerPID)
	if err != nil {
		return sum, err
	}
	for _, pid := range o.OtherServerPIDs {
		p, err := SampleProcess(pid)
		if err != nil {
			return sum, fmt.Errorf("pid %d: %w", pid, err)
		}
		sum.CPU += p.CPU
		sum.RSS += p.RSS
		sum.Procs += p.Procs
	}
	return sum, nil
}
