package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/torpor-dev/torpor/host"
)

// LeaseTTL is how long an object's lease outlives its last renewal. The
// home renews every LeaseTTL/4, hibernates an object whose lease it has not
// renewed for LeaseTTL/2, and stops committing for it at 3/4 of LeaseTTL:
// by the time the lease could lapse and another host take it, this one has
// long stopped writing.
const LeaseTTL = 12 * time.Second

// leases are the cluster's host.Leases: a KV entry per live object, created
// at activation (the create's revision is the fencing token) and renewed
// while the object runs.
type leases struct {
	c     *Cluster
	ready chan struct{}
	kv    jetstream.KeyValue

	mu   sync.Mutex
	held map[host.ObjectID]*lease
}

func (c *Cluster) leasesBucket() string { return "torpor-" + c.opts.Name + "-leases" }

// useLeases gives the host the cluster's leases, unless no other host can
// join this one (which needs none).
func (c *Cluster) useLeases() {
	if !c.standalone() {
		c.opts.Host.UseLeases(&c.leases)
	}
}

func (ls *leases) start(c *Cluster) {
	ls.c = c
	ls.ready = make(chan struct{})
	ls.held = map[host.ObjectID]*lease{}
	if c.standalone() {
		return
	}
	c.wg.Go(func() {
		kv, ok := retryJetStream(c, "leases bucket", func(ctx context.Context) (jetstream.KeyValue, error) {
			return c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket:      c.leasesBucket(),
				Description: "torpor: which host runs each live object, and its fencing token",
				History:     1,
				TTL:         LeaseTTL,
				Replicas:    c.replicas(),
			})
		})
		if !ok {
			return
		}
		ls.kv = kv
		close(ls.ready)
		ls.renewLoop()
	})
}

// lease is one activation's hold.
type lease struct {
	ls       *leases
	id       host.ObjectID
	key      string
	token    uint64
	rev      atomic.Uint64 // the entry's latest revision, for the next update
	renewed  atomic.Int64  // unix nanos of the last successful renewal
	evicted  atomic.Bool   // self-eviction already asked for
	gone     atomic.Bool   // not held: released, or lost
	released atomic.Bool   // Release ran
}

func (l *lease) Token() uint64 { return l.token }

func (l *lease) Held() bool {
	return !l.gone.Load() && time.Since(time.Unix(0, l.renewed.Load())) < LeaseTTL*3/4
}

func (l *lease) Release() {
	ls := l.ls
	ls.mu.Lock()
	if ls.held[l.id] == l {
		delete(ls.held, l.id)
	}
	ls.mu.Unlock()
	if l.released.Swap(true) {
		return
	}
	l.gone.Store(true)
	l.deleteAt(l.rev.Load())
}

// deleteAt deletes the lease entry if it is still at rev: a renewal that
// was under way when the lease was released deletes at its own revision.
func (l *lease) deleteAt(rev uint64) {
	ls := l.ls
	ls.c.goSafe(func() {
		ctx, cancel := context.WithTimeout(ls.c.ctx, ls.c.opts.CallTimeout)
		defer cancel()
		// Only our own revision: a lease someone took over is theirs.
		if err := ls.kv.Delete(ctx, l.key, jetstream.LastRevision(rev)); err != nil && ls.c.ctx.Err() == nil {
			ls.c.log.Debug("lease release failed; it lapses on its own", "object", l.id.String(), "err", err)
		}
	})
}

// holder is the lease entry's value: host id and process instance.
func (c *Cluster) holder() []byte { return []byte(c.id + " " + c.opts.Self.Instance) }

// Acquire takes id's lease. One this host's previous process held is taken
// over at once: a data dir is opened by one process at a time, so that
// process is gone. Another host's is waited out until it lapses or is
// released.
func (ls *leases) Acquire(ctx context.Context, id host.ObjectID) (host.Lease, error) {
	c := ls.c
	select {
	case <-ls.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("lease for %s: %w: the leases bucket is not available yet", id, host.ErrHomeUnavailable)
	}
	key := homeKey(id)
	for {
		rev, err := ls.kv.Create(ctx, key, c.holder())
		if errors.Is(err, jetstream.ErrKeyExists) {
			var e jetstream.KeyValueEntry
			if e, err = ls.kv.Get(ctx, key); err == nil {
				holder, _, _ := strings.Cut(string(e.Value()), " ")
				if holder != c.id {
					err = fmt.Errorf("held by host %s", holder)
				} else {
					rev, err = ls.kv.Update(ctx, key, c.holder(), e.Revision())
				}
			} else if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue // released meanwhile
			}
		}
		if err == nil {
			l := &lease{ls: ls, id: id, key: key, token: rev}
			l.rev.Store(rev)
			l.renewed.Store(time.Now().UnixNano())
			ls.mu.Lock()
			ls.held[id] = l
			ls.mu.Unlock()
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lease for %s: %w", id, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// renewLoop renews every held lease each LeaseTTL/4 and hibernates the
// objects whose lease could not be renewed for LeaseTTL/2.
func (ls *leases) renewLoop() {
	c := ls.c
	t := time.NewTicker(LeaseTTL / 4)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		ls.mu.Lock()
		held := make([]*lease, 0, len(ls.held))
		for _, l := range ls.held {
			held = append(held, l)
		}
		ls.mu.Unlock()
		for _, l := range held {
			ls.renew(l)
		}
	}
}

func (ls *leases) renew(l *lease) {
	c := ls.c
	ctx, cancel := context.WithTimeout(c.ctx, LeaseTTL/8)
	rev, err := ls.kv.Update(ctx, l.key, c.holder(), l.rev.Load())
	cancel()
	if err == nil {
		l.rev.Store(rev)
		l.renewed.Store(time.Now().UnixNano())
		if l.released.Load() {
			// Released while this update was under way: its delete was
			// at the older revision and failed; this one is current.
			l.deleteAt(rev)
		}
		return
	}
	if l.gone.Load() {
		return
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) {
		// Someone else's revision, or none: the lease is gone for sure.
		l.gone.Store(true)
	}
	stale := time.Since(time.Unix(0, l.renewed.Load()))
	c.log.Warn("could not renew an object's lease", "object", l.id.String(), "since", stale.Round(time.Millisecond), "err", err)
	if (l.gone.Load() || stale >= LeaseTTL/2) && !l.evicted.Swap(true) {
		// Hibernate while commits are still allowed (or drop the
		// instance, if the lease is gone): no second activation elsewhere
		// may overlap this one.
		c.goSafe(func() {
			ctx, cancel := context.WithTimeout(c.ctx, LeaseTTL/4)
			defer cancel()
			if err := c.opts.Host.Evict(ctx, l.id, host.EvictOptions{}); err != nil && c.ctx.Err() == nil {
				c.log.Error("could not hibernate an object whose lease is lapsing", "object", l.id.String(), "err", err)
			}
		})
	}
}
