package cluster

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Member is one host of the cluster as its heartbeats describe it.
type Member struct {
	ID        string    `json:"id"`       // stable across restarts
	Instance  string    `json:"instance"` // this process of the host
	Name      string    `json:"name"`
	PublicURL string    `json:"public_url"`
	AdminURL  string    `json:"admin_url"`
	Version   string    `json:"version"`
	Started   time.Time `json:"started"`
	State     string    `json:"state"` // serving
	Objects   int       `json:"objects"`
	Conns     int       `json:"conns"`
	// Seen is when this host last heard from it (its own clock).
	Seen time.Time `json:"-"`
}

// StateServing is a member that takes clients and activations.
const StateServing = "serving"

// members is the membership table: every host heard from within three
// heartbeats, this one included.
type members struct {
	c     *Cluster
	mu    sync.Mutex
	byID  map[string]Member
	subs  []*nats.Subscription
	state string // this host's, under mu
}

// current is this host's state.
func (m *members) current() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// setState moves this host's state from one value to another; false if it
// was not in from.
func (m *members) setState(from, to string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != from {
		return false
	}
	m.state = to
	return true
}

func (m *members) subj(s string) string { return m.c.subject + "members." + s }

func (m *members) start(c *Cluster) error {
	m.c = c
	m.byID = map[string]Member{}
	m.state = StateServing
	for s, fn := range map[string]nats.MsgHandler{
		"beat":  m.onBeat,
		"leave": m.onLeave,
		// A host that starts asks the others to beat now, so that it
		// knows them at once instead of after a heartbeat.
		"hello": func(*nats.Msg) { m.beat() },
	} {
		sub, err := c.nc.Subscribe(m.subj(s), fn)
		if err != nil {
			return fmt.Errorf("cluster: subscribe to %s: %w", m.subj(s), err)
		}
		m.subs = append(m.subs, sub)
	}
	m.beat()
	c.nc.Publish(m.subj("hello"), nil)
	c.nc.Flush()
	c.wg.Go(m.run)
	return nil
}

// run beats and forgets silent members until the cluster closes.
func (m *members) run() {
	t := time.NewTicker(m.c.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-m.c.ctx.Done():
			return
		case <-t.C:
			m.beat()
			m.sweep()
		}
	}
}

func (m *members) self() Member {
	s := m.c.opts.Self
	m.mu.Lock()
	s.State = m.state
	m.mu.Unlock()
	s.Objects, s.Conns = m.c.opts.Load()
	return s
}

func (m *members) beat() {
	b, _ := json.Marshal(m.self())
	if err := m.c.nc.Publish(m.subj("beat"), b); err != nil {
		m.c.log.Debug("heartbeat not sent", "err", err)
	}
}

func (m *members) onBeat(msg *nats.Msg) {
	var mb Member
	if err := json.Unmarshal(msg.Data, &mb); err != nil || mb.ID == "" {
		m.c.log.Warn("ignored a malformed heartbeat", "subject", msg.Subject, "err", err)
		return
	}
	mb.Seen = time.Now()
	m.mu.Lock()
	old, known := m.byID[mb.ID]
	m.byID[mb.ID] = mb
	m.mu.Unlock()
	if known && old.Instance != mb.Instance && mb.ID != m.c.id {
		// Restarted between two beats: its earlier process is gone.
		m.gone(old)
	}
	if !known && mb.ID != m.c.id {
		m.c.log.Info("cluster member joined", "member", mb.Name, "id", mb.ID, "public", mb.PublicURL)
	}
}

func (m *members) onLeave(msg *nats.Msg) {
	id := string(msg.Data)
	m.mu.Lock()
	mb, known := m.byID[id]
	delete(m.byID, id)
	m.mu.Unlock()
	if known && id != m.c.id {
		m.c.log.Info("cluster member left", "member", mb.Name, "id", id)
		m.gone(mb)
	}
}

// gone ends the relayed sockets a member took with it: those it was home
// to, here, and those it was gateway for, served here.
func (m *members) gone(mb Member) {
	m.c.relay.homeGone(mb)
	m.c.relay.gatewayGone(mb)
}

// sweep forgets members silent for three heartbeats.
func (m *members) sweep() {
	cutoff := time.Now().Add(-time.Duration(missedBeats) * m.c.opts.Heartbeat)
	m.mu.Lock()
	var gone []Member
	for id, mb := range m.byID {
		if id != m.c.id && mb.Seen.Before(cutoff) {
			gone = append(gone, mb)
			delete(m.byID, id)
		}
	}
	m.mu.Unlock()
	for _, mb := range gone {
		m.c.log.Warn("cluster member gone: no heartbeat for three intervals", "member", mb.Name, "id", mb.ID, "last_seen", mb.Seen)
		m.gone(mb)
	}
}

func (m *members) leave() {
	m.c.nc.Publish(m.subj("leave"), []byte(m.c.id))
	m.c.nc.Flush()
	for _, s := range m.subs {
		s.Unsubscribe()
	}
}

// Members lists the live members by name, this host first, with this
// host's own figures current.
func (c *Cluster) Members() []Member {
	c.members.mu.Lock()
	out := make([]Member, 0, len(c.members.byID)+1)
	for id, mb := range c.members.byID {
		if id != c.id {
			out = append(out, mb)
		}
	}
	c.members.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	self := c.members.self()
	self.Seen = time.Now()
	return append([]Member{self}, out...)
}

// Member returns the live member with id.
func (c *Cluster) Member(id string) (Member, bool) {
	if id == c.id {
		return c.members.self(), true
	}
	c.members.mu.Lock()
	defer c.members.mu.Unlock()
	mb, ok := c.members.byID[id]
	return mb, ok
}

// splitAddr parses a listen address; port 0 picks a free one.
func splitAddr(addr, flag string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("cluster: %s %q: want host:port: %w", flag, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("cluster: %s %q: bad port", flag, addr)
	}
	if port == 0 {
		port = -1 // nats-server's "any free port"
	}
	if h == "" {
		h = "0.0.0.0"
	}
	return h, port, nil
}
