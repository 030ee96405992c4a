// Package host runs torpor objects on one machine: it validates and deploys
// plugins, activates one wazero instance per object, delivers each object's
// events one at a time through a bounded mailbox, hibernates idle objects
// (snapshot and connection table written in one transaction, instance closed,
// connections kept) and wakes them on the next event, holds every event's
// frames until its storage writes are durable, fires alarms, and contains a
// plugin's faults to its own object.
//
// Gateways reach objects through Connect and the returned Session; objects
// reach sockets through the Conn interface, so a local WebSocket gateway and a
// remote one can stand behind the same object.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torpor-dev/torpor/host/internal/engine"
	"github.com/torpor-dev/torpor/store"
)

// Host is one torpor process's object runtime. Its methods are safe for
// concurrent use.
type Host struct {
	opts   Options
	leases atomic.Pointer[Leases] // see UseLeases
	moves  moves                  // objects moving to another host
	log    *slog.Logger
	store  *store.Store
	engine *engine.Engine

	deployMu sync.Mutex // serialises Deploy and RemovePlugin
	pmu      sync.RWMutex
	plugins  map[string]*deployed // active version per plugin name

	mu      sync.Mutex
	objects map[string]*object // live objects, and hibernated ones with sockets

	connSeq   atomic.Uint64
	alarmKick chan struct{} // cap 1

	eventDeadline engine.Deadline
	compiling     chan struct{} // bounds the compilations under way
	counters      counters
	live          *liveSet

	runMu   sync.Mutex // guards closed and wg.Add, so Close's Wait is not raced
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup
}

// New opens the store under opts.DataDir, builds the wasm runtime, compiles
// every active plugin the store holds and starts the alarm scheduler.
func New(opts Options) (*Host, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name, _ = os.Hostname()
	}
	st, err := store.Open(store.Options{Dir: filepath.Join(opts.DataDir, "store"), NoSync: opts.NoSync, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	eng, err := engine.New(context.Background(), engine.Config{
		CacheDir:     opts.CacheDir,
		MemoryPages:  opts.Limits.MemoryPages,
		MemoryBudget: opts.MemoryBudget,
		PluginMemory: opts.PluginMemory,
		GuestCalls:   opts.GuestCalls,
		PluginCalls:  opts.PluginCalls,
		StackLimit:   uint32(min(opts.Limits.StackSize, 1<<30)),
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	h := &Host{
		opts:          opts,
		log:           opts.Logger,
		store:         st,
		engine:        eng,
		plugins:       map[string]*deployed{},
		objects:       map[string]*object{},
		alarmKick:     make(chan struct{}, 1),
		closing:       make(chan struct{}),
		compiling:     make(chan struct{}, max(1, runtime.NumCPU())),
		eventDeadline: engine.Deadline{CPU: opts.Limits.EventCPU, Wall: opts.Limits.EventWall},
	}
	h.UseLeases(opts.Leases)
	h.live = newLiveSet(h, opts.LiveMemory, opts.LiveObjects)
	// Connection ids must not repeat across restarts, since stored connection
	// tables outlive the process; microseconds since the epoch stay below
	// 2^53, so ids survive a trip through a JavaScript number.
	h.connSeq.Store(uint64(time.Now().UnixMicro()))
	if err := h.loadPlugins(context.Background()); err != nil {
		eng.Close(context.Background())
		st.Close()
		return nil, err
	}
	h.goFunc(h.alarmLoop)
	if h.live.bounded() {
		h.goFunc(h.live.evictLoop)
	}
	return h, nil
}

// goFunc runs f on a goroutine that Close waits for; it reports false, and
// does not run f, once Close has begun.
func (h *Host) goFunc(f func()) bool {
	if !h.hold() {
		return false
	}
	go func() {
		defer h.wg.Done()
		f()
	}()
	return true
}

// hold counts the calling goroutine among those Close waits for; false once
// the host is closing. The caller calls h.wg.Done when it is finished.
func (h *Host) hold() bool {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

// Close stops accepting events, lets every object finish the events it has
// queued, hibernates every live object (so its state is in the store for the
// next start), and closes the runtime and the store. Sockets are not closed:
// that is the gateway's job, and their records let objects learn of it after
// the restart. If ctx ends first, Close still waits for running handlers,
// which the CPU limit bounds, and returns ctx's error.
func (h *Host) Close(ctx context.Context) error {
	h.runMu.Lock()
	if h.closed {
		h.runMu.Unlock()
		return ErrClosed
	}
	h.closed = true
	close(h.closing)
	h.runMu.Unlock()

	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("close host: %w", ctx.Err()))
		// Out of time: stop every guest now rather than wait out its
		// limit. The objects it served lose what they did since their last
		// snapshot, as in a crash; their storage is committed already.
		h.engine.Interrupt()
		<-done
	}
	// Every loop has exited, so nothing else touches the objects now. Those
	// that lost their instance to a fault have a connection table the store
	// has not seen; write it, so the next process reports each socket closed.
	h.mu.Lock()
	for _, o := range h.objects {
		o.saveConns()
	}
	h.mu.Unlock()
	h.deployMu.Lock() // no Deploy may install a plugin after this
	h.pmu.Lock()
	for _, d := range h.plugins {
		d.plugin.Retire(context.Background())
	}
	h.plugins = map[string]*deployed{}
	h.pmu.Unlock()
	h.deployMu.Unlock()
	errs = append(errs, h.engine.Close(context.Background()), h.store.Close())
	return errors.Join(errs...)
}

// Limits returns the limits in force, with defaults filled in.
func (h *Host) Limits() Limits { return h.opts.Limits }

// Name is the host's name in listings.
func (h *Host) Name() string { return h.opts.Name }

func (h *Host) isClosing() bool {
	select {
	case <-h.closing:
		return true
	default:
		return false
	}
}

// object returns the registry entry for id, creating it if needed.
func (h *Host) object(id ObjectID) *object {
	key := id.String()
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.objects[key]
	if o == nil {
		o = newObject(h, id, key)
		h.objects[key] = o
	}
	return o
}

// lookup returns the registry entry for key, or nil.
func (h *Host) lookup(key string) *object {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.objects[key]
}

// deliver queues env to id's object, retrying when the entry it found was
// just retired from the registry.
func (h *Host) deliver(ctx context.Context, id ObjectID, env *envelope) (*object, error) {
	for {
		o := h.object(id)
		err := o.enqueue(ctx, env)
		if errors.Is(err, errRetired) {
			continue
		}
		return o, err
	}
}

func (h *Host) kickAlarms() {
	select {
	case h.alarmKick <- struct{}{}:
	default:
	}
}
