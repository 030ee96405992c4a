package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/torpor-dev/torpor/store"
)

// ObjectInfo describes one object for operators.
type ObjectInfo struct {
	ID          ObjectID
	State       State
	Owner       string // the host running it
	Conns       int
	Connections []ConnInfo // only from Object, not from Objects
	Version     string     // plugin version (sha256) of the instance or snapshot
	Failure     string     // why the object is failed
	LastEvent   time.Time
	Hibernated  time.Time // when the latest snapshot was taken
	// HibernatedWhy is why it was taken: "idle", "evict", "shutdown", or
	// "budget: ..." naming what was over the live budget.
	HibernatedWhy string
	// Filled by Object only, since they cost a store read each:
	SnapshotSize int
	StorageKeys  int
	StorageBytes int64
	Alarm        time.Time // zero: none
	AlarmRetry   int
	MemoryPages  uint32 // of the live instance
}

// ConnInfo describes one connection of an object.
type ConnInfo struct {
	ID             uint64
	Tags           []string
	AttachmentSize int
}

// ObjectFilter selects objects for Objects. Zero fields select everything.
type ObjectFilter struct {
	Plugin string
	State  State
	After  string // an object id: list those after it, for paging
	Limit  int    // default 100
}

// Objects lists objects known to this host, live and in the store, in id
// order, with their state.
func (h *Host) Objects(f ObjectFilter) ([]ObjectInfo, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	switch f.State {
	case "", StateLive, StateHibernated, StateFailed:
	default:
		return nil, fmt.Errorf("object state %q: want live, hibernated or failed", f.State)
	}
	prefix := ""
	if f.Plugin != "" {
		if err := ValidatePluginName(f.Plugin); err != nil {
			return nil, err
		}
		prefix = f.Plugin + "/"
	}
	h.mu.Lock()
	mem := make(map[string]*object, len(h.objects))
	for k, o := range h.objects {
		if strings.HasPrefix(k, prefix) && k > f.After {
			mem[k] = o
		}
	}
	h.mu.Unlock()

	var out []ObjectInfo
	after := f.After
	for len(out) < f.Limit {
		ids, err := h.store.ObjectIDs(f.Plugin, after, f.Limit)
		if err != nil {
			return nil, fmt.Errorf("list objects: %w", err)
		}
		// Merge the stored page with the in-memory objects that sort before
		// its end (or all of them, on the last page).
		keys := ids
		last := len(ids) < f.Limit
		for k := range mem {
			if last || k <= ids[len(ids)-1] {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		for _, k := range keys {
			info, ok := h.describe(k, mem[k])
			delete(mem, k)
			if ok && (f.State == "" || info.State == f.State) {
				out = append(out, info)
				if len(out) == f.Limit {
					break
				}
			}
		}
		if last || len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
	}
	return out, nil
}

// describe builds the listing of one object from memory or its record.
func (h *Host) describe(key string, o *object) (ObjectInfo, bool) {
	id, err := ParseObjectID(key)
	if err != nil {
		return ObjectInfo{}, false
	}
	info := ObjectInfo{ID: id, Owner: h.opts.Name}
	if o != nil {
		info.State = o.State()
		info.Conns = int(o.nconns.Load())
		if t := o.lastEvent.Load(); t != 0 {
			info.LastEvent = time.Unix(0, t)
		}
		if v := o.liveVersion.Load(); v != nil {
			info.Version = *v
		}
		if info.State != StateHibernated {
			return info, true
		}
	}
	rec, err := h.store.Object(key)
	if err != nil {
		return info, o != nil
	}
	if o == nil {
		info.State = StateHibernated
		if rec.Failed != "" {
			if d := h.activePlugin(id.Plugin); d != nil && d.version.SHA256 == rec.Version {
				info.State = StateFailed
			}
		}
		info.LastEvent = rec.LastEvent
	}
	info.Version, info.Failure, info.Hibernated = rec.Version, rec.Failed, rec.Hibernated
	info.HibernatedWhy = rec.HibernatedWhy
	info.SnapshotSize = len(rec.Snapshot)
	return info, true
}

// Object describes one object in full. It is answered by the object's own
// goroutine when the object is in memory, so it never races an event, and
// from the store otherwise; it never wakes the object.
func (h *Host) Object(ctx context.Context, id ObjectID) (ObjectInfo, error) {
	if err := id.Validate(); err != nil {
		return ObjectInfo{}, err
	}
	key := id.String()
	var info ObjectInfo
	found := false
	if o := h.lookup(key); o != nil {
		err := o.control(ctx, func(o *object) error {
			info, found = h.describe(key, o)
			info.Failure = firstNonEmpty(o.failure, info.Failure)
			if o.inst != nil {
				info.MemoryPages = o.inst.MemoryPages()
				info.Version = o.version.version.SHA256
			}
			for _, cid := range o.sortedConnIDs() {
				c := o.conns[cid]
				info.Connections = append(info.Connections, ConnInfo{ID: cid, Tags: c.tags, AttachmentSize: len(c.attachment)})
			}
			return nil
		})
		if err != nil && !errors.Is(err, errRetired) {
			return ObjectInfo{}, err
		}
	}
	if !found {
		if info, found = h.describe(key, nil); !found {
			return ObjectInfo{}, fmt.Errorf("object %s: %w", key, ErrNotFound)
		}
	}
	keys, bytes, err := h.store.StorageStats(key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("object %s: %w", key, err)
	}
	info.StorageKeys, info.StorageBytes = keys, bytes
	if a, err := h.store.Alarm(key); err == nil {
		info.Alarm, info.AlarmRetry = a.At, a.Retry
	} else if !errors.Is(err, store.ErrNotFound) {
		return ObjectInfo{}, fmt.Errorf("object %s: %w", key, err)
	}
	return info, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// EvictOptions says what Evict does besides hibernating.
type EvictOptions struct {
	// Close also closes the object's sockets with Code and Reason (default
	// 1001, "evicted").
	Close  bool
	Code   int
	Reason string
}

// Evict hibernates an object now (its next event wakes it on the active
// plugin version) and clears a failed mark. With Close it also closes the
// object's sockets, without running its close handler.
func (h *Host) Evict(ctx context.Context, id ObjectID, opts EvictOptions) error {
	if err := id.Validate(); err != nil {
		return err
	}
	if opts.Code == 0 {
		opts.Code = closeGoingAway
	}
	if opts.Reason == "" {
		opts.Reason = "evicted"
	}
	key := id.String()
	if h.lookup(key) == nil {
		if _, err := h.store.Object(key); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("evict %s: %w", key, ErrNotFound)
		}
	}
	for {
		o := h.object(id)
		err := o.control(ctx, func(o *object) error {
			o.hibernate(HibernateEvict)
			if o.inst != nil {
				return fmt.Errorf("evict %s: could not hibernate (see the host log)", key)
			}
			if opts.Close {
				o.closeAll(opts.Code, opts.Reason)
			}
			o.failure, o.failures = "", 0
			o.setState(stHibernated)
			o.h.counters.setFailed(key, "")
			rec, err := o.h.store.Object(key)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("evict %s: %w", key, err)
			}
			if rec.Failed == "" && !(opts.Close && o.loaded) {
				return nil
			}
			rec.Failed = ""
			if o.loaded {
				// Only a loaded object's table is current; an unloaded one's
				// record lists sockets that died with the last process.
				rec.Conns = o.connRecords()
			}
			if err := o.h.store.PutObject(key, rec); err != nil {
				return fmt.Errorf("evict %s: %w", key, err)
			}
			if o.loaded {
				o.connsDirty = false
			}
			return nil
		})
		if errors.Is(err, errRetired) {
			continue
		}
		return err
	}
}

// control runs fn on the object's goroutine and waits for its result.
func (o *object) control(ctx context.Context, fn func(*object) error) error {
	done := make(chan error, 1)
	env := &envelope{kind: envControl, fn: func(o *object) {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("%s: internal error", o.key)
				panic(r) // for handleContained, which logs and counts it
			}
		}()
		done <- fn(o)
	}}
	if err := o.enqueue(ctx, env); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
