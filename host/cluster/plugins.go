package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/torpor-dev/torpor/host"
)

// ErrNoPluginStore is returned while the cluster's plugin store cannot be
// reached (JetStream has no quorum yet, or the cluster keeps no plugins).
var ErrNoPluginStore = errors.New("the cluster's plugin store is not available yet")

// pluginSync keeps this host's plugins in step with the cluster's object
// store: what any member publishes, every member deploys, including one
// that joins later (the watch starts with every current entry).
type pluginSync struct {
	mu     sync.Mutex
	store  jetstream.ObjectStore
	ready  chan struct{} // closed once store is set
	synced chan struct{} // closed once this host has applied every entry the store held
	once   sync.Once
}

// metaSHA256 is the object metadata key for the module's sha256 (hex), the
// version id every host compares with its own.
const metaSHA256 = "torpor-sha256"

func (c *Cluster) pluginBucket() string { return "torpor-" + c.opts.Name + "-plugins" }

func (p *pluginSync) start(c *Cluster) {
	p.ready = make(chan struct{})
	p.synced = make(chan struct{})
	c.wg.Go(func() { p.run(c) })
}

// run opens the store, retrying until JetStream answers, then applies its
// watch until the cluster closes.
func (p *pluginSync) run(c *Cluster) {
	store, ok := retryJetStream(c, "plugin store", func(ctx context.Context) (jetstream.ObjectStore, error) {
		return c.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      c.pluginBucket(),
			Description: "torpor plugins, deployed by every host of the cluster",
			Replicas:    c.replicas(),
		})
	})
	if !ok {
		return
	}
	p.mu.Lock()
	p.store = store
	p.mu.Unlock()
	close(p.ready)
	for c.ctx.Err() == nil {
		if err := p.watch(c, store); err != nil && c.ctx.Err() == nil {
			c.log.Warn("plugin store watch ended; restarting it", "err", err)
			select {
			case <-c.ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (p *pluginSync) watch(c *Cluster, store jetstream.ObjectStore) error {
	w, err := store.Watch(c.ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return nil
		case info, ok := <-w.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if info == nil { // the end of the initial values
				p.once.Do(func() { close(p.synced) })
				continue
			}
			p.apply(c, store, info)
		}
	}
}

// apply brings this host to one store entry: deploy a version it does not
// run, or remove a plugin the cluster removed.
func (p *pluginSync) apply(c *Cluster, store jetstream.ObjectStore, info *jetstream.ObjectInfo) {
	name := info.Name
	ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
	defer cancel()
	if info.Deleted {
		err := c.opts.Host.RemovePlugin(ctx, name)
		switch {
		case err == nil:
			c.log.Info("plugin removed: the cluster removed it", "plugin", name)
		case !errors.Is(err, host.ErrUnknownPlugin):
			c.log.Error("could not remove a plugin the cluster removed", "plugin", name, "err", err)
		}
		return
	}
	want := info.Metadata[metaSHA256]
	if want != "" && activeSHA(c.opts.Host, name) == want {
		return // this host published it, or has it already
	}
	var wasm []byte
	// A replica may not have caught up with the write the watch just
	// reported (the object is then missing, or its chunks do not match
	// its digest yet): ask again, as of a leader that is away.
	err := c.retryJS(ctx, c.opts.CallTimeout, transientJS(jetstream.ErrObjectNotFound, jetstream.ErrDigestMismatch), func(ctx context.Context) (err error) {
		wasm, err = store.GetBytes(ctx, name)
		return err
	})
	if err != nil {
		c.log.Error("could not fetch a plugin from the cluster's store", "plugin", name, "err", err)
		return
	}
	sum := sha256.Sum256(wasm)
	if want != "" && hex.EncodeToString(sum[:]) != want {
		c.log.Error("plugin in the cluster's store does not match its sha256; not deployed", "plugin", name)
		return
	}
	v, err := c.opts.Host.Deploy(ctx, name, wasm)
	if err != nil {
		c.log.Error("could not deploy a plugin from the cluster's store", "plugin", name, "err", err)
		return
	}
	c.log.Info("plugin deployed from the cluster's store", "plugin", name, "sha256", v.SHA256)
}

func activeSHA(ph *host.Host, name string) string {
	vs, err := ph.PluginVersions(name)
	if err != nil {
		return ""
	}
	for _, v := range vs {
		if v.Active {
			return v.SHA256
		}
	}
	return ""
}

func (p *pluginSync) get(ctx context.Context) (jetstream.ObjectStore, error) {
	if p.ready == nil {
		return nil, ErrNoPluginStore
	}
	select {
	case <-p.ready:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.store, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrNoPluginStore, ctx.Err())
	}
}

// PublishPlugin puts wasm, already deployed on this host as name, in the
// cluster's store, so that every other member deploys it. Until the store
// is reachable (JetStream elects its leader in the first seconds of a
// cluster) it waits, as long as ctx allows.
func (c *Cluster) PublishPlugin(ctx context.Context, name string, wasm []byte) error {
	store, err := c.plugins.get(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	sum := sha256.Sum256(wasm)
	meta := jetstream.ObjectMeta{Name: name, Metadata: map[string]string{metaSHA256: hex.EncodeToString(sum[:])}}
	if _, err := store.Put(ctx, meta, bytes.NewReader(wasm)); err != nil {
		return fmt.Errorf("publish plugin %s to the cluster: %w", name, err)
	}
	return nil
}

// WithdrawPlugin removes name from the cluster's store; every member
// removes it on hearing of it.
func (c *Cluster) WithdrawPlugin(ctx context.Context, name string) error {
	store, err := c.plugins.get(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	if err := store.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("remove plugin %s from the cluster: %w", name, err)
	}
	return nil
}
