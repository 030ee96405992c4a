package host

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Options configures a Host. Zero fields take the documented defaults, so
// Options{DataDir: dir} is a working host.
type Options struct {
	// DataDir holds the badger store and, unless CacheDir says otherwise, the
	// compilation cache. Required.
	DataDir string
	// CacheDir keeps compiled plugin code across restarts, keyed by the
	// module's hash, so several hosts may share one. Default DataDir/wasm-cache.
	CacheDir string
	// Name identifies this host in object listings; default: the OS host name.
	Name string
	// Idle is how long an object may go without events before it is
	// hibernated: snapshot written, instance closed, sockets kept. Default 10 s,
	// as Durable Objects hibernate after about as long.
	Idle time.Duration
	// Prewarm is how many initialised instances to keep ready per plugin, so
	// that a wake does not pay for instantiation (~10 ms for a Go plugin).
	// Default 2; negative disables the pool.
	Prewarm int
	// Mailbox bounds the events queued per object; a sender blocks (until its
	// context ends) when it is full. Default 1024.
	Mailbox int
	// MaxFailures is how many consecutive failed events mark an object failed:
	// its sockets are closed with 1011 and it refuses work until the plugin is
	// redeployed or the object evicted. Default 3.
	MaxFailures int
	// AlarmRetries is how many times a failing alarm is retried, with
	// exponential backoff from AlarmRetryBase, before it is dropped. Defaults
	// 6 and 1 s.
	AlarmRetries   int
	AlarmRetryBase time.Duration
	// MemoryBudget bounds the memory plugins can make the host hold, in
	// bytes: the linear memory of every instance, live or waiting in a
	// pool. A grow past it fails inside the guest that asked, an
	// instantiation past it fails that wake or connect; pool instances are
	// given up first. Default: half the machine's memory. PluginMemory is
	// one plugin's share of it; default half the budget, so that one
	// plugin's objects can never take it all from the others.
	MemoryBudget int64
	PluginMemory int64
	// LiveMemory and LiveObjects bound the live instances (not the pool):
	// their linear memory plus a fixed overhead each, and their number.
	// Before a wake would pass either, the host hibernates the least
	// recently active live objects to make room, working ahead from 95%
	// down to 85% so wakes seldom wait; what it hibernated and why shows in
	// metrics and in the object's record. Defaults: a quarter of the
	// machine's memory, and no bound on the count; negative: unbounded.
	LiveMemory  int64
	LiveObjects int
	// GuestCalls bounds the guest calls (handlers, instantiations) running
	// at once, host-wide, and PluginCalls those of one plugin, so that one
	// plugin's busy objects leave room for the rest; each running call also
	// holds twice the stack limit out of the memory budget. More calls than
	// Go scheduler slots (Ps) may run: compiled guest code has no safe point
	// of its own, but every guest comes back to Go code every few tens of
	// microseconds of work (its fuel, see stacklimit), where the scheduler
	// preempts one that has run 10 ms like any goroutine, and a collection
	// can stop it. Defaults: four per core (at least 8), and three quarters
	// of GuestCalls.
	//
	// A call keeps its slots while its goroutine waits to run again
	// (preempted at a yield, or its thread descheduled by a busy machine).
	// With PluginCalls at one per core, two such calls held every slot of a
	// plugin and its other sockets stopped reading until they came back: on
	// two saturated cores, a fanout of 100 rooms ran at 6-7x the p99 of a
	// plain gws server in two runs of three, against 0.94-1.02x with six.
	GuestCalls  int
	PluginCalls int
	// CompileCommand, when set, is the command line of a child process
	// that first compiles every uploaded module (sent on its stdin; see
	// RunCompileWorker) under CompileTimeout and CompileMemory, so that a
	// module built to exhaust the compiler's time or memory is refused
	// without touching the host. Without it the host compiles in-process,
	// bounded by CompileTimeout between functions only. Defaults 10 s and
	// 512 MiB.
	CompileCommand []string
	CompileTimeout time.Duration
	CompileMemory  int64
	// NoSync trades durability for speed: committed events may be lost in a
	// crash. For tests and benchmarks only.
	NoSync bool
	// Limits bound what one plugin can make the host do.
	Limits Limits
	// Logger receives host and plugin logs; default slog.Default().
	Logger *slog.Logger
	// Leases, when set, is asked for a lease before an object activates
	// (see Leases): a cluster's single activation. Nil: none, as a host
	// alone needs. Host.UseLeases sets it later, for a cluster built after
	// its host.
	Leases Leases
}

// Limits bound every object. The defaults follow Durable Objects where it has
// a documented limit, so plugins ported from it keep working.
type Limits struct {
	// MemoryPages caps an instance's linear memory in 64 KiB pages; default
	// 1024 (64 MiB). Growing past it fails inside the guest.
	MemoryPages uint32
	// EventCPU is the CPU time one handler may use; default 1 s. It is the
	// handler's own time, read from its thread's CPU clock, so a busy
	// machine never fails a healthy handler. An overrun aborts the handler
	// and counts as a failure.
	EventCPU time.Duration
	// EventWall bounds one handler's wall-clock time whatever its CPU use;
	// default 30 s.
	EventWall time.Duration
	// InitCPU and InitWall bound one instantiation: the module's start
	// function and _initialize together; defaults 10 s and 30 s.
	InitCPU  time.Duration
	InitWall time.Duration
	// StackSize bounds the native stack of one handler call, in bytes as
	// estimated from each function's parameters and locals (64 + 16 a
	// value, per call in progress); a call past it traps. Default 4 MiB,
	// some ten thousand calls deep for Go guests. The host rewrites every
	// module to count it, and keeps twice this per concurrent guest call
	// out of MemoryBudget, for stacks.
	StackSize int
	// LogLine caps one guest log line, in bytes (longer ones are cut);
	// default 4 KiB. LogEvent caps the log bytes of one event (default 64
	// KiB), LogRate the lines an object may log per second, averaged over
	// ten seconds (default 100). What is past them is dropped, and the
	// count of dropped lines logged once per event.
	LogLine  int
	LogEvent int
	LogRate  int
	// FrameSize is the largest frame in either direction; default 1 MiB.
	FrameSize int
	// ConnsPerObject caps open connections per object; default 32,768.
	ConnsPerObject int
	// AttachmentSize caps a connection's attachment; default 2 KiB.
	AttachmentSize int
	// Tags caps the tags per connection (default 10), TagSize each (256 bytes).
	Tags    int
	TagSize int
	// KeySize and ValueSize cap storage keys (2 KiB) and values (128 KiB).
	KeySize   int
	ValueSize int
	// EventWrites caps the bytes one event may write to storage; default 2 MiB,
	// which fits one store transaction.
	EventWrites int
	// SnapshotSize caps a snapshot; default 32 MiB.
	SnapshotSize int
	// EventOutput caps the payload bytes of the frames one event sends (a
	// broadcast counts once); default 16 MiB.
	EventOutput int
	// AutoResponses caps the auto-response pairs per object (default 32),
	// AutoResponseSize each side of a pair (2 KiB).
	AutoResponses    int
	AutoResponseSize int
}

// DefaultLimits returns the limits a zero Limits stands for.
func DefaultLimits() Limits {
	return Limits{
		MemoryPages:      1024,
		EventCPU:         time.Second,
		EventWall:        30 * time.Second,
		InitCPU:          10 * time.Second,
		InitWall:         30 * time.Second,
		StackSize:        4 << 20,
		LogLine:          4096,
		LogEvent:         64 << 10,
		LogRate:          100,
		FrameSize:        1 << 20,
		ConnsPerObject:   32768,
		AttachmentSize:   2048,
		Tags:             10,
		TagSize:          256,
		KeySize:          2048,
		ValueSize:        128 << 10,
		EventWrites:      2 << 20,
		SnapshotSize:     32 << 20,
		EventOutput:      16 << 20,
		AutoResponses:    32,
		AutoResponseSize: 2048,
	}
}

// DefaultOptions returns the values zero fields of Options stand for, apart
// from DataDir, CacheDir, Name and Logger, which depend on the machine.
func DefaultOptions() Options {
	guestCalls := defaultGuestCalls()
	return Options{
		Idle:           10 * time.Second,
		Prewarm:        2,
		Mailbox:        1024,
		MaxFailures:    3,
		AlarmRetries:   6,
		AlarmRetryBase: time.Second,
		MemoryBudget:   machineMemory() / 2,
		LiveMemory:     machineMemory() / 4,
		GuestCalls:     guestCalls,
		PluginCalls:    pluginCallsFor(guestCalls),
		CompileTimeout: 10 * time.Second,
		CompileMemory:  512 << 20,
		Limits:         DefaultLimits(),
	}
}

// pluginCallsFor is PluginCalls' default for a host-wide bound of
// guestCalls: enough that calls waiting to be scheduled again do not stall
// the plugin, while a quarter of the slots stays for the other plugins.
// An unbounded host (guestCalls below zero) gets the default's share.
func pluginCallsFor(guestCalls int) int {
	if guestCalls <= 0 {
		guestCalls = defaultGuestCalls()
	}
	return max(1, guestCalls*3/4)
}

func defaultGuestCalls() int { return max(8, 4*runtime.NumCPU()) }

// machineMemory is the machine's memory, or 4 GiB where it cannot be read.
func machineMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var kib int64
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kib); err == nil && kib > 0 {
				return kib << 10
			}
		}
	}
	return 4 << 30
}

func (o Options) withDefaults() (Options, error) {
	if o.DataDir == "" {
		return o, errors.New("host: Options.DataDir is required")
	}
	def := DefaultOptions()
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if o.CacheDir == "" {
		o.CacheDir = filepath.Join(o.DataDir, "wasm-cache")
	}
	if o.Idle <= 0 {
		o.Idle = def.Idle
	}
	set(&o.Prewarm, def.Prewarm)
	set(&o.Mailbox, def.Mailbox)
	set(&o.MaxFailures, def.MaxFailures)
	set(&o.AlarmRetries, def.AlarmRetries)
	if o.AlarmRetryBase <= 0 {
		o.AlarmRetryBase = def.AlarmRetryBase
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = def.MemoryBudget
	}
	if o.PluginMemory <= 0 {
		o.PluginMemory = o.MemoryBudget / 2
	}
	switch {
	case o.LiveMemory == 0:
		o.LiveMemory = def.LiveMemory
	case o.LiveMemory < 0:
		o.LiveMemory = 0
	}
	o.LiveObjects = max(o.LiveObjects, 0)
	set(&o.GuestCalls, def.GuestCalls)
	// Three quarters of the GuestCalls in force, given or not.
	set(&o.PluginCalls, pluginCallsFor(o.GuestCalls))
	if o.CompileTimeout <= 0 {
		o.CompileTimeout = def.CompileTimeout
	}
	if o.CompileMemory <= 0 {
		o.CompileMemory = def.CompileMemory
	}
	d, l := def.Limits, &o.Limits
	if l.MemoryPages == 0 {
		l.MemoryPages = d.MemoryPages
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	dur(&l.EventCPU, d.EventCPU)
	dur(&l.EventWall, max(d.EventWall, l.EventCPU))
	dur(&l.InitCPU, d.InitCPU)
	dur(&l.InitWall, max(d.InitWall, l.InitCPU))
	set(&l.StackSize, d.StackSize)
	set(&l.LogLine, d.LogLine)
	set(&l.LogEvent, d.LogEvent)
	set(&l.LogRate, d.LogRate)
	set(&l.FrameSize, d.FrameSize)
	set(&l.ConnsPerObject, d.ConnsPerObject)
	set(&l.AttachmentSize, d.AttachmentSize)
	set(&l.Tags, d.Tags)
	set(&l.TagSize, d.TagSize)
	set(&l.KeySize, d.KeySize)
	set(&l.ValueSize, d.ValueSize)
	set(&l.EventWrites, d.EventWrites)
	set(&l.SnapshotSize, d.SnapshotSize)
	set(&l.EventOutput, d.EventOutput)
	set(&l.AutoResponses, d.AutoResponses)
	set(&l.AutoResponseSize, d.AutoResponseSize)
	return o, nil
}
