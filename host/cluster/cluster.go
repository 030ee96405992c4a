// Package cluster makes several torpor hosts one system over NATS. Each host
// runs an embedded nats-server (or joins an existing NATS), heartbeats its
// membership, answers admin calls forwarded from other members, and keeps
// the plugins uploaded anywhere in a JetStream object store that every
// member deploys.
//
// One host is a cluster of one: its embedded server listens nowhere, and
// nothing on a local path crosses NATS.
//
// Every subject starts torpor.v1.{cluster}.; v1 versions the wire protocol.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/torpor-dev/torpor/host"
)

// routeUser is the user name routes authenticate with (see Options.Token).
const routeUser = "torpor"

// relayOverhead is room for a relayed frame's header within one NATS
// message.
const relayOverhead = 64 << 10

// Defaults of Options.
const (
	DefaultName      = "torpor"
	DefaultHeartbeat = 2 * time.Second
	// missedBeats is how many heartbeats a member may miss before the
	// others count it gone.
	missedBeats = 3
)

// ErrNoMember is returned for a call to a host that is not a live member.
var ErrNoMember = errors.New("no such cluster member")

// Options configure a Cluster. DataDir and Self.Name are required.
type Options struct {
	// Name is the cluster's name: hosts of one cluster share it, and it
	// scopes every subject and bucket. Default DefaultName.
	Name string
	// DataDir keeps the host id and the embedded server's JetStream store.
	DataDir string

	// URL, when set, joins an existing NATS instead of embedding a server;
	// Creds is its credentials file, if it needs one.
	URL   string
	Creds string

	// For the embedded server: Listen exposes it to NATS clients (none by
	// default); ClusterListen is where other hosts' servers connect, and
	// Peers are their route URLs (nats-route://host:port). Without either,
	// the server is a standalone one.
	Listen        string
	ClusterListen string
	Peers         []string

	// Self describes this host to the others. ID is filled in by New.
	Self Member
	// Load reports this host's live objects and open connections for its
	// heartbeats; nil reports zeros.
	Load func() (objects, conns int)
	// Host is this host: it deploys and removes what the cluster's plugin
	// store holds, and serves the objects homed here. Required.
	Host *host.Host

	// MaxFrame is the largest WebSocket frame the hosts carry: NATS
	// messages are sized to hold one relayed frame. Default 1 MiB.
	MaxFrame int
	// Token, when set, is required of every other server routing to the
	// embedded one and of every client of its listener: without it, anyone
	// who can reach --nats-cluster-listen could join the cluster.
	Token string

	// Heartbeat is how often a member announces itself; one silent for
	// three beats is gone. Default DefaultHeartbeat.
	Heartbeat time.Duration
	// CallTimeout bounds a call to another member. Default 5 s.
	CallTimeout time.Duration
	// Logger receives membership changes and failures; default slog.Default().
	Logger *slog.Logger
}

// Cluster is this host's membership in a cluster, until Close.
type Cluster struct {
	opts Options
	id   string
	log  *slog.Logger

	srv       *server.Server // nil when joined to an existing NATS
	natsToken string         // the embedded server's client token
	nc        *nats.Conn
	js        jetstream.JetStream

	subject string // torpor.v1.{cluster}.

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// goMu orders goroutines started from NATS callbacks with Close: none
	// starts once Close has begun waiting.
	goMu   sync.Mutex
	closed bool

	members members
	admin   adminServer
	plugins pluginSync
	homes   homes
	leases  leases
	relay   relay
}

// New starts the embedded server (or connects to Options.URL), joins the
// membership and starts keeping plugins in step. It returns once this host
// can talk to NATS; JetStream, which in a cluster needs a quorum of
// servers, may come later, and what needs it waits and retries meanwhile.
func New(opts Options) (*Cluster, error) {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if err := validName(opts.Name); err != nil {
		return nil, err
	}
	if opts.DataDir == "" {
		return nil, errors.New("cluster: Options.DataDir is required")
	}
	if opts.Host == nil {
		return nil, errors.New("cluster: Options.Host is required")
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 5 * time.Second
	}
	if opts.MaxFrame <= 0 {
		opts.MaxFrame = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Load == nil {
		opts.Load = func() (int, int) { return 0, 0 }
	}
	id, err := hostID(opts.DataDir)
	if err != nil {
		return nil, err
	}
	opts.Self.ID = id
	// The instance changes with every process: sessions relayed through
	// this host belong to this process and end with it.
	opts.Self.Instance = randomID()
	if opts.Self.Started.IsZero() {
		opts.Self.Started = time.Now()
	}
	c := &Cluster{
		opts:    opts,
		id:      id,
		log:     opts.Logger.With("cluster", opts.Name),
		subject: "torpor.v1." + opts.Name + ".",
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.connect(); err != nil {
		c.cancel()
		return nil, err
	}
	if c.js, err = jetstream.New(c.nc); err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	if err := c.relay.start(c); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.startMoves(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.members.start(c); err != nil {
		c.Close()
		return nil, err
	}
	c.plugins.start(c)
	c.homes.start(c)
	c.leases.start(c)
	c.useLeases()
	return c, nil
}

// validName accepts what can be one subject token and part of a bucket
// name: letters, digits, '-' and '_'.
func validName(name string) error {
	if len(name) > 64 {
		return fmt.Errorf("cluster name %q: at most 64 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("cluster name %q: only letters, digits, '-' and '_'", name)
		}
	}
	return nil
}

// ID is this host's member id, stable across restarts (kept in the data dir).
func (c *Cluster) ID() string { return c.id }

// Name is the cluster's name.
func (c *Cluster) Name() string { return c.opts.Name }

// ClientURL is the embedded server's client URL when Options.Listen is set,
// else "".
func (c *Cluster) ClientURL() string {
	if c.srv == nil || c.opts.Listen == "" {
		return ""
	}
	// Only --nats-listen is for clients; a route-only server's loopback
	// listener is not announced.
	return c.srv.ClientURL()
}

// Close leaves the cluster: the others hear of it at once rather than after
// three missed heartbeats. Then it stops the connection and the embedded
// server.
func (c *Cluster) Close() error {
	// The host outlives the cluster (it hibernates its objects after):
	// those commits need no lease once this host leaves.
	c.opts.Host.UseLeases(nil)
	c.cancel() // first: no heartbeat follows the leave
	if c.nc != nil && c.nc.IsConnected() {
		c.members.leave()
	}
	c.admin.stop()
	c.relay.stop()
	c.goMu.Lock()
	c.closed = true
	c.goMu.Unlock()
	c.wg.Wait()
	if c.nc != nil {
		c.nc.Drain()
		c.nc.Close()
	}
	if c.srv != nil {
		c.srv.Shutdown()
		c.srv.WaitForShutdown()
	}
	return nil
}

// connect embeds a server or dials Options.URL.
func (c *Cluster) connect() error {
	nopts := []nats.Option{
		nats.Name("torpor " + c.opts.Self.Name + " (" + c.id + ")"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				c.log.Warn("lost the NATS connection; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { c.log.Info("NATS connection back", "url", nc.ConnectedUrlRedacted()) }),
	}
	if c.opts.URL != "" {
		if c.opts.Creds != "" {
			nopts = append(nopts, nats.UserCredentials(c.opts.Creds))
		}
		nc, err := nats.Connect(c.opts.URL, nopts...)
		if err != nil {
			return fmt.Errorf("cluster: connect to NATS at %s: %w", c.opts.URL, err)
		}
		c.nc = nc
		if max := nc.MaxPayload(); max < int64(c.opts.MaxFrame)+relayOverhead {
			c.log.Warn("the NATS server's max_payload is smaller than a frame and its header: larger frames relayed between hosts will fail; raise max_payload or lower --frame-size",
				"max_payload", max, "frame_size", c.opts.MaxFrame)
		}
		return nil
	}
	srv, err := c.embed()
	if err != nil {
		return err
	}
	c.srv = srv
	if c.natsToken != "" {
		nopts = append(nopts, nats.Token(c.natsToken))
	}
	nc, err := nats.Connect("", append(nopts, nats.InProcessServer(srv))...)
	if err != nil {
		srv.Shutdown()
		return fmt.Errorf("cluster: connect to the embedded NATS server: %w", err)
	}
	c.nc = nc
	return nil
}

// embed starts the in-process nats-server: JetStream under the data dir,
// client and route listeners only where asked for.
func (c *Cluster) embed() (*server.Server, error) {
	o := &server.Options{
		ServerName: c.id,
		DontListen: c.opts.Listen == "",
		JetStream:  true,
		StoreDir:   filepath.Join(c.opts.DataDir, "nats"),
		NoSigs:     true,
		NoLog:      true,
		// The store and the instances are the host's memory; JetStream
		// keeps small buckets and needs little.
		JetStreamMaxMemory: 64 << 20,
		// A relayed frame and its header fit one message.
		MaxPayload: int32(min(c.opts.MaxFrame+relayOverhead, 64<<20)),
	}
	token := c.opts.Token
	if token == "" && c.opts.Listen == "" {
		// The loopback listener routing needs is for no one: a random
		// token keeps other local users off it.
		token = randomID() + randomID()
	}
	if token != "" {
		o.Authorization = token
		c.natsToken = token
	}
	if c.opts.Listen != "" {
		h, p, err := splitAddr(c.opts.Listen, "--nats-listen")
		if err != nil {
			return nil, err
		}
		o.Host, o.Port = h, p
	}
	if c.opts.ClusterListen != "" || len(c.opts.Peers) > 0 {
		if c.opts.ClusterListen == "" {
			return nil, errors.New("cluster: --nats-peers needs --nats-cluster-listen, the address the peers' servers connect back to")
		}
		h, p, err := splitAddr(c.opts.ClusterListen, "--nats-cluster-listen")
		if err != nil {
			return nil, err
		}
		o.Cluster = server.ClusterOpts{Name: c.opts.Name, Host: h, Port: p}
		if c.opts.Token != "" {
			// Routes authenticate with the shared token; each host's
			// --nats-peers carry it as nats-route://torpor:TOKEN@host:port.
			o.Cluster.Username, o.Cluster.Password = routeUser, c.opts.Token
		}
		if o.DontListen {
			// nats-server starts routing only once its client listener is
			// up: without --nats-listen, one on a loopback port of its own
			// choosing, which nothing outside this machine reaches.
			o.DontListen, o.Host, o.Port = false, "127.0.0.1", server.RANDOM_PORT
		}
		for _, peer := range c.opts.Peers {
			routes := server.RoutesFromStr(peer)
			if len(routes) == 0 || routes[0].Host == "" {
				return nil, fmt.Errorf("cluster: --nats-peers %q: want a route URL such as nats-route://10.0.0.2:6222", peer)
			}
			for _, u := range routes {
				if c.opts.Token != "" && u.User == nil {
					u.User = url.UserPassword(routeUser, c.opts.Token)
				}
			}
			o.Routes = append(o.Routes, routes...)
		}
	}
	srv, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS server: %w", err)
	}
	go srv.Start() // Start returns once listening; ReadyForConnections waits for it.
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("cluster: the embedded NATS server did not start within 10 s (is a listen address in use?)")
	}
	return srv, nil
}

// replicas is how many copies the cluster's buckets keep: one per server
// up to three, as far as this host knows them at start.
func (c *Cluster) replicas() int {
	if c.srv == nil {
		return 1
	}
	return min(3, 1+len(c.opts.Peers))
}

// hostID reads the data dir's host id, making one on first start.
func hostID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "host-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("cluster: host id: %w", err)
	}
	id := randomID()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("cluster: host id: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("cluster: host id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("cluster: host id: %w", err)
	}
	return id, nil
}

// randomID is 16 hex digits.
func randomID() string {
	raw := make([]byte, 8)
	rand.Read(raw)
	return hex.EncodeToString(raw)
}

// goSafe runs fn on a goroutine Close waits for, unless Close has begun:
// NATS callbacks may still run while it unsubscribes.
func (c *Cluster) goSafe(fn func()) bool {
	c.goMu.Lock()
	defer c.goMu.Unlock()
	if c.closed || c.ctx.Err() != nil {
		return false
	}
	c.wg.Go(fn)
	return true
}
