package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/torpor-dev/torpor/host"
)

// homes records which host is each object's home: the host whose store
// holds its record and storage, and the only one that activates it. A home
// is picked once, at the object's first activation, by rendezvous hashing
// over the live members, and written to a JetStream KV bucket with create,
// so that two gateways picking at once agree on the first write. It does
// not move when hosts join.
type homes struct {
	mu     sync.Mutex
	cache  map[host.ObjectID]string // object → home host id; homes never move yet
	kv     jetstream.KeyValue
	ready  chan struct{}
	record chan host.ObjectID // standalone: homes to write in the background
}

// standalone reports whether no other host can ever join this one: an
// embedded server with no routes.
func (c *Cluster) standalone() bool {
	return c.srv != nil && c.opts.ClusterListen == "" && len(c.opts.Peers) == 0
}

func (c *Cluster) homesBucket() string { return "torpor-" + c.opts.Name + "-homes" }

func (hs *homes) start(c *Cluster) {
	hs.cache = map[host.ObjectID]string{}
	hs.ready = make(chan struct{})
	hs.record = make(chan host.ObjectID, 4096)
	c.wg.Go(func() {
		kv, ok := retryJetStream(c, "homes bucket", func(ctx context.Context) (jetstream.KeyValue, error) {
			return c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket:      c.homesBucket(),
				Description: "torpor: the home host of every object",
				History:     1,
				Replicas:    c.replicas(),
			})
		})
		if !ok {
			return
		}
		hs.mu.Lock()
		hs.kv = kv
		hs.mu.Unlock()
		close(hs.ready)
		for {
			select {
			case <-c.ctx.Done():
				return
			case id := <-hs.record:
				ctx, cancel := context.WithTimeout(c.ctx, c.opts.CallTimeout)
				_, err := kv.Create(ctx, homeKey(id), []byte(c.id))
				cancel()
				if err != nil && !errors.Is(err, jetstream.ErrKeyExists) && c.ctx.Err() == nil {
					c.log.Debug("could not record a home", "object", id.String(), "err", err)
				}
			}
		}
	})
}

// retryJetStream opens what with open, retrying every error until it
// succeeds or the cluster closes: in a cluster, JetStream answers nothing
// until its servers elect a leader. Short tries, since a long wait would
// only delay the next one.
func retryJetStream[T any](c *Cluster, what string, open func(context.Context) (T, error)) (T, bool) {
	var v T
	err := c.retryJS(c.ctx, 2*time.Second, func(err error) bool {
		c.log.Debug("JetStream not reachable yet; retrying", "what", what, "err", err)
		return true
	}, func(ctx context.Context) (err error) {
		v, err = open(ctx)
		return err
	})
	return v, err == nil
}

// retryJS runs op until it succeeds, fails with an error retryable turns
// down, or ctx ends. Each attempt has its own deadline: while a stream
// elects a leader, after a cluster forms or a member dies, requests get "no
// responders" or no answer at all, and a request asked of a leader that
// died is never answered, so one attempt must not wait out the caller's
// whole deadline.
func (c *Cluster) retryJS(ctx context.Context, attempt time.Duration, retryable func(error) bool, op func(context.Context) error) error {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := op(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// transientJS is retryJS's test for a JetStream that is away for a moment
// (no leader, no answer), and for the errors in also.
func transientJS(also ...error) func(error) bool {
	return func(err error) bool {
		for _, e := range append([]error{nats.ErrNoResponders, nats.ErrTimeout, context.DeadlineExceeded,
			jetstream.ErrNoStreamResponse, jetstream.ErrJetStreamNotEnabled}, also...) {
			if errors.Is(err, e) {
				return true
			}
		}
		return false
	}
}

// homeKey is id as a KV key: base64url keeps every name to the characters
// keys allow.
func homeKey(id host.ObjectID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id.String()))
}

// homeOf returns the id of id's home host, picking and recording one if the
// object has none yet.
func (c *Cluster) homeOf(ctx context.Context, id host.ObjectID) (string, error) {
	hs := &c.homes
	hs.mu.Lock()
	home, ok := hs.cache[id]
	hs.mu.Unlock()
	if ok {
		return home, nil
	}
	if c.standalone() {
		// No other host can reach this one: every object is homed here.
		// The record is still written, off the connect's path, so that the
		// homes are known if the host later joins a cluster.
		if _, err := c.opts.Host.PluginVersions(id.Plugin); err != nil {
			return "", fmt.Errorf("%s: %w", id, host.ErrUnknownPlugin)
		}
		home = c.id
		select {
		case hs.record <- id:
		default: // a burst: the local-record check of claimHome covers it
		}
	} else {
		select {
		case <-hs.ready:
		case <-ctx.Done():
			return "", fmt.Errorf("%w: the cluster's homes bucket is not available yet (JetStream starting)", host.ErrHomeUnavailable)
		}
		var err error
		if home, err = c.claimHome(ctx, id, homeKey(id)); err != nil {
			return "", err
		}
	}
	hs.mu.Lock()
	if len(hs.cache) >= maxCachedHomes {
		// A bound, not an LRU: homes do not move, so a miss costs one KV
		// read and a cache refilled from empty is as right as before.
		clear(hs.cache)
	}
	hs.cache[id] = home
	hs.mu.Unlock()
	return home, nil
}

// maxCachedHomes bounds the homes a host remembers (about 100 bytes each).
const maxCachedHomes = 1 << 17

// claimHome returns the object's recorded home, recording one if it has
// none: this host if its store already holds the object (it ran here before
// the cluster knew it), else the rendezvous pick among the serving members.
// It tries the create first, since a lookup that misses the cache is most
// often an object's first activation; of two hosts claiming at once, the
// first create wins and the other reads it.
func (c *Cluster) claimHome(ctx context.Context, id host.ObjectID, key string) (string, error) {
	// A client may name any object; only one of a deployed plugin gets a
	// home recorded, so that unknown names cost the cluster nothing.
	if _, err := c.opts.Host.PluginVersions(id.Plugin); err != nil {
		return "", fmt.Errorf("%s: %w", id, host.ErrUnknownPlugin)
	}
	pick := c.id
	if _, err := c.opts.Host.Object(ctx, id); err != nil {
		pick = rendezvous(id, c.Members())
	}
	if _, err := c.homes.kv.Create(ctx, key, []byte(pick)); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", fmt.Errorf("%w: record its home: %w", host.ErrHomeUnavailable, err)
		}
		e, err := c.homes.kv.Get(ctx, key)
		for wait := 20 * time.Millisecond; errors.Is(err, jetstream.ErrKeyNotFound) && wait < time.Second; wait *= 2 {
			// A read may reach a replica that has not caught up with
			// the create that just failed.
			time.Sleep(wait)
			e, err = c.homes.kv.Get(ctx, key)
		}
		if err != nil {
			return "", fmt.Errorf("%w: look up its home: %w", host.ErrHomeUnavailable, err)
		}
		return string(e.Value()), nil
	}
	return pick, nil
}

// rendezvous picks the serving member with the highest hash of (member,
// object): every host computes the same pick from the same members, and a
// member joining moves only the objects it would win.
func rendezvous(id host.ObjectID, ms []Member) string {
	var best string
	var top uint64
	for _, m := range ms {
		if m.State != StateServing {
			continue
		}
		sum := sha256.Sum256([]byte(m.ID + "\x00" + id.String()))
		if score := binary.BigEndian.Uint64(sum[:8]); best == "" || score > top {
			best, top = m.ID, score
		}
	}
	return best
}
