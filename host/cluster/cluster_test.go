package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/cluster"
	"github.com/torpor-dev/torpor/internal/hosttest"
	"github.com/torpor-dev/torpor/internal/plugintest"
)

// freePorts reserves n loopback ports for route listeners. They are free
// when returned; another process could take one before the server binds
// it, which on a test machine does not happen in practice.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// tlog writes a member's log to the test's, shown when it fails.
type tlog struct {
	t    *testing.T
	name string
}

func (l *tlog) Write(p []byte) (int, error) {
	l.t.Logf("%s: %s", l.name, strings.TrimSpace(string(p)))
	return len(p), nil
}

type member struct {
	h *host.Host
	c *cluster.Cluster
}

// startCluster starts n hosts whose embedded servers route to each other.
func startCluster(t *testing.T, n int) []*member {
	t.Helper()
	ports := freePorts(t, n)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	var ms []*member
	for i := range n {
		ms = append(ms, startMember(t, fmt.Sprintf("host%d", i), ports[i], routes, t.TempDir()))
	}
	return ms
}

func startMember(t *testing.T, name string, port int, routes []string, dir string) *member {
	t.Helper()
	return startMemberWith(t, name, port, routes, dir, "")
}

func startMemberWith(t *testing.T, name string, port int, routes []string, dir, token string) *member {
	t.Helper()
	h := hosttest.New(t, host.Options{Name: name})
	var peers []string
	for _, r := range routes {
		if !strings.HasSuffix(r, fmt.Sprintf(":%d", port)) {
			peers = append(peers, r)
		}
	}
	c, err := cluster.New(cluster.Options{
		DataDir:       dir,
		ClusterListen: fmt.Sprintf("127.0.0.1:%d", port),
		Peers:         peers,
		Self:          cluster.Member{Name: name, PublicURL: "wss://" + name},
		Host:          h,
		Token:         token,
		Heartbeat:     200 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(&tlog{t: t, name: name}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	m := &member{h: h, c: c}
	t.Cleanup(func() { c.Close() })
	return m
}

func names(ms []cluster.Member) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Name)
	}
	return strings.Join(s, ",")
}

func TestMembershipFormsAndForgetsALeaver(t *testing.T) {
	ms := startCluster(t, 3)
	for _, m := range ms {
		hosttest.Eventually(t, "three members seen by "+m.h.Name(), func() bool { return len(m.c.Members()) == 3 })
	}
	if got := names(ms[1].c.Members()); got != "host1,host0,host2" {
		t.Errorf("members seen by host1 = %s, want itself first, then by name", got)
	}
	ms[2].c.Close()
	hosttest.Eventually(t, "host2 gone", func() bool { return len(ms[0].c.Members()) == 2 })
}

func TestPluginPublishedOnOneHostDeploysOnTheOthers(t *testing.T) {
	ms := startCluster(t, 3)
	wasm := plugintest.WAT(t, "plugins/counter-wat/counter.wat")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := ms[0].h.Deploy(ctx, "counter", wasm); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := ms[0].c.PublishPlugin(ctx, "counter", wasm); err != nil {
		t.Fatal(err)
	}
	t.Logf("published after %s (JetStream elects its leader first)", time.Since(t0))
	for _, m := range ms[1:] {
		hosttest.Eventually(t, "counter on "+m.h.Name(), func() bool {
			vs, err := m.h.PluginVersions("counter")
			return err == nil && len(vs) == 1 && vs[0].Active
		})
	}
	if err := ms[1].c.WithdrawPlugin(ctx, "counter"); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		hosttest.Eventually(t, "counter removed from "+m.h.Name(), func() bool {
			_, err := m.h.PluginVersions("counter")
			return err != nil
		})
	}
}

// With --nats-token, hosts that share it form a cluster and a server that
// routes without it (or with another) is kept out.
func TestTokenKeepsOutsiders(t *testing.T) {
	ports := freePorts(t, 3)
	route := func(p int) string { return fmt.Sprintf("nats-route://127.0.0.1:%d", p) }
	a := startMemberWith(t, "a", ports[0], []string{route(ports[1])}, t.TempDir(), "s3cret")
	b := startMemberWith(t, "b", ports[1], []string{route(ports[0])}, t.TempDir(), "s3cret")
	outsider := startMemberWith(t, "outsider", ports[2], []string{route(ports[0]), route(ports[1])}, t.TempDir(), "guess")
	hosttest.Eventually(t, "a and b see each other", func() bool { return len(a.c.Members()) == 2 && len(b.c.Members()) == 2 })
	time.Sleep(time.Second) // five heartbeats: long enough for a route to form
	if got := names(a.c.Members()); got != "a,b" {
		t.Errorf("members seen by a: %s, want a,b", got)
	}
	if got := names(outsider.c.Members()); got != "outsider" {
		t.Errorf("members seen by the outsider: %s, want only itself", got)
	}
}
