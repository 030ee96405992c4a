package host

import (
	"errors"
	"log/slog"
	"path/filepath"
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
	// NoSync trades durability for speed: committed events may be lost in a
	// crash. For tests and benchmarks only.
	NoSync bool
	// Limits bound what one plugin can make the host do.
	Limits Limits
	// Logger receives host and plugin logs; default slog.Default().
	Logger *slog.Logger
}

// Limits bound every object. The defaults follow Durable Objects where it has
// a documented limit, so plugins ported from it keep working.
type Limits struct {
	// MemoryPages caps an instance's linear memory in 64 KiB pages; default
	// 1024 (64 MiB). Growing past it fails inside the guest.
	MemoryPages uint32
	// EventCPU is the wall time one handler may run; default 1 s. An overrun
	// aborts the handler and counts as a failure.
	EventCPU time.Duration
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
	return Options{
		Idle:           10 * time.Second,
		Prewarm:        2,
		Mailbox:        1024,
		MaxFailures:    3,
		AlarmRetries:   6,
		AlarmRetryBase: time.Second,
		Limits:         DefaultLimits(),
	}
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
	d, l := def.Limits, &o.Limits
	if l.MemoryPages == 0 {
		l.MemoryPages = d.MemoryPages
	}
	if l.EventCPU <= 0 {
		l.EventCPU = d.EventCPU
	}
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
