package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/torpor-dev/torpor/host/admin"
	"github.com/torpor-dev/torpor/internal/plugintest"
)

// startClusterOf starts n `torpor serve` processes whose embedded NATS
// servers route to each other on loopback, without example plugins.
func startClusterOf(t *testing.T, n int, extra ...string) []*server {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	var out []*server
	for i := range n {
		var peers []string
		for j, p := range ports {
			if j != i {
				peers = append(peers, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
			}
		}
		args := append([]string{"--name", fmt.Sprintf("h%d", i+1), "--examples=false",
			"--nats-cluster-listen", fmt.Sprintf("127.0.0.1:%d", ports[i]), "--nats-peers", strings.Join(peers, ",")}, extra...)
		out = append(out, startServer(t, t.TempDir(), args...))
	}
	return out
}

func (s *server) hostNames(t *testing.T) string {
	t.Helper()
	var hl admin.HostList
	s.adminGet(t, "/v1/hosts", &hl)
	var names []string
	for _, h := range hl.Hosts {
		names = append(names, h.Name)
	}
	return strings.Join(names, ",")
}

// within polls cond every 50 ms until it holds or d passes.
func within(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); ; {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) admin(t *testing.T, method, path string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.adminURL+path, strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// Three hosts: one membership, plugins uploaded on one and removed on
// another everywhere, object lists and evicts across hosts, and a host
// killed with SIGKILL leaves the listing within 10 s.
func TestClusterOfThreeProcesses(t *testing.T) {
	ss := startClusterOf(t, 3)
	for _, s := range ss {
		if !within(15*time.Second, func() bool { return len(strings.Split(s.hostNames(t), ",")) == 3 }) {
			t.Fatalf("host list on %s: %s, want three members", s.adminURL, s.hostNames(t))
		}
	}

	wasm := plugintest.WAT(t, "plugins/counter-wat/counter.wat")
	// JetStream elects its leader in the cluster's first seconds: until
	// then an upload is deployed on the host only and answered 503.
	var status int
	var body string
	if !within(30*time.Second, func() bool {
		status, body = ss[0].admin(t, "POST", "/v1/plugins/counter", wasm)
		return status == http.StatusCreated || status == http.StatusOK
	}) {
		t.Fatalf("upload on h1: %d %s", status, body)
	}
	for _, s := range ss[1:] {
		if !within(15*time.Second, func() bool {
			st, _ := s.admin(t, "GET", "/v1/plugins/counter", nil)
			return st == http.StatusOK
		}) {
			t.Fatalf("plugin uploaded on h1 never reached %s", s.adminURL)
		}
	}
	// Clients on the other two hosts use it.
	a := ss[1].dial(t, "/counter/on-h2")
	if got := a.ask(t, "inc"); got != "1" {
		t.Fatalf("counter/on-h2 inc = %q", got)
	}
	b := ss[2].dial(t, "/counter/on-h3")
	if got := b.ask(t, "inc"); got != "1" {
		t.Fatalf("counter/on-h3 inc = %q", got)
	}

	// Any host lists every object once, with its home as owner, whichever
	// gateway its client came through.
	owners := map[string]string{}
	for _, s := range ss {
		var list admin.ObjectList
		s.adminGet(t, "/v1/objects", &list)
		var ids []string
		for _, o := range list.Objects {
			ids = append(ids, o.ID)
			if prev, ok := owners[o.ID]; ok && prev != o.Owner {
				t.Errorf("%s listed with owner %s on one host, %s on another", o.ID, prev, o.Owner)
			}
			owners[o.ID] = o.Owner
		}
		if got := strings.Join(ids, ","); got != "counter/on-h2,counter/on-h3" {
			t.Errorf("object list on %s: %s", s.adminURL, got)
		}
	}
	// An evict through a host that is not the object's home reaches it;
	// the socket stays open and the next frame wakes it with its state.
	home := owners["counter/on-h3"]
	var through *server
	for _, s := range ss {
		if s.name() != home {
			through = s
			break
		}
	}
	if st, body := through.admin(t, "POST", "/v1/objects/counter/on-h3/evict", nil); st != http.StatusOK {
		t.Fatalf("evict counter/on-h3 (home %s) through %s: %d %s", home, through.name(), st, body)
	}
	var detail admin.ObjectDetail
	through.adminGet(t, "/v1/objects/counter/on-h3", &detail)
	if detail.State != "hibernated" || detail.Owner != home {
		t.Fatalf("counter/on-h3 through %s after evict: %s on %s", through.name(), detail.State, detail.Owner)
	}
	if got := b.ask(t, "inc"); got != "2" {
		t.Fatalf("counter/on-h3 after evict: inc = %q", got)
	}

	// Removing a plugin in use anywhere needs force, and then goes from
	// every host.
	if st, body := ss[2].admin(t, "DELETE", "/v1/plugins/counter", nil); st != http.StatusConflict || !strings.Contains(body, "2 live or connected object(s)") {
		t.Fatalf("plugin rm on h3 while clients are connected: %d %s", st, body)
	}
	if st, body := ss[2].admin(t, "DELETE", "/v1/plugins/counter?force=true", nil); st != http.StatusNoContent {
		t.Fatalf("plugin rm --force on h3: %d %s", st, body)
	}
	for _, s := range ss {
		if !within(15*time.Second, func() bool {
			st, _ := s.admin(t, "GET", "/v1/plugins/counter", nil)
			return st == http.StatusNotFound
		}) {
			t.Fatalf("plugin removed on h3 still on %s", s.adminURL)
		}
	}

	// SIGKILL: the others list two members within 10 s.
	killed := time.Now()
	ss[2].cmd.Process.Kill()
	<-ss[2].exited
	for _, s := range ss[:2] {
		if !within(10*time.Second-time.Since(killed), func() bool { return s.hostNames(t) == hostsBut(s, "h3") }) {
			t.Fatalf("host list on %s 10 s after h3 was killed: %s", s.adminURL, s.hostNames(t))
		}
	}
	t.Logf("h3 left both listings %s after SIGKILL", time.Since(killed).Round(100*time.Millisecond))
}

// hostsBut is the listing s should show of h1..h3 without gone: itself
// first, then the others by name.
func hostsBut(s *server, gone string) string {
	self := s.name()
	var names []string
	for _, n := range []string{"h1", "h2", "h3"} {
		if n != gone && n != self {
			names = append(names, n)
		}
	}
	return strings.Join(append([]string{self}, names...), ",")
}

// name is the --name the server was started with.
func (s *server) name() string {
	args := s.cmd.Args
	for i, a := range args {
		if a == "--name" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// uploadEverywhere uploads a plugin on ss[0] (retrying while JetStream
// elects its leader) and waits until every host has it.
func uploadEverywhere(t *testing.T, ss []*server, name string, wasm []byte) {
	t.Helper()
	var status int
	var body string
	if !within(30*time.Second, func() bool {
		status, body = ss[0].admin(t, "POST", "/v1/plugins/"+name, wasm)
		return status == http.StatusCreated || status == http.StatusOK
	}) {
		t.Fatalf("upload %s: %d %s", name, status, body)
	}
	for _, s := range ss[1:] {
		if !within(15*time.Second, func() bool {
			st, _ := s.admin(t, "GET", "/v1/plugins/"+name, nil)
			return st == http.StatusOK
		}) {
			t.Fatalf("plugin %s never reached %s", name, s.adminURL)
		}
	}
}

// Clients of one room on three hosts get every message exactly once, in
// order per sender, and each broadcast crosses to each other gateway host
// as one NATS message.
func TestClusterRoomAcrossHosts(t *testing.T) {
	ss := startClusterOf(t, 3)
	uploadEverywhere(t, ss, "broadcast", plugintest.Go(t, "plugins/broadcast"))

	const perHost, messages = 2, 20
	var clients []*wsClient
	for _, s := range ss {
		for range perHost {
			clients = append(clients, s.dial(t, "/broadcast/lobby"))
		}
	}
	var before uint64
	for _, s := range ss {
		before += s.relayed(t, "batch")
	}
	for n := range messages {
		for i, c := range clients {
			if err := c.conn.WriteString(fmt.Sprintf("c%d-%d", i, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	total := messages * len(clients)
	for i, c := range clients {
		next := make([]int, len(clients))
		for range total {
			var from, n int
			f := c.next(t)
			if _, err := fmt.Sscanf(f, "c%d-%d", &from, &n); err != nil || from >= len(clients) {
				t.Fatalf("client %d got %q", i, f)
			}
			if n != next[from] {
				t.Fatalf("client %d: from c%d got message %d, want %d (lost, repeated or out of order)", i, from, n, next[from])
			}
			next[from]++
		}
		select {
		case f := <-c.frames:
			t.Fatalf("client %d: an extra frame %q", i, f)
		case <-time.After(50 * time.Millisecond):
		}
	}
	var after uint64
	for _, s := range ss {
		after += s.relayed(t, "batch")
	}
	// Every message is one broadcast at the room's home; it reaches the
	// two other hosts' sockets as one batch each.
	if got, want := after-before, uint64(2*total); got != want {
		t.Errorf("relay batches for %d broadcasts: %d, want %d (one per other gateway host)", total, got, want)
	}
}

// refusal dials path and returns the HTTP status and Retry-After of a
// refused upgrade (101 and "" if it was accepted).
func (s *server) refusal(t *testing.T, path string) (int, string) {
	t.Helper()
	c := &wsClient{frames: make(chan string, 16), closed: make(chan uint16, 1)}
	addr := strings.Replace(s.publicURL, "https://", "wss://", 1) + path
	conn, resp, err := gws.NewClient(c, &gws.ClientOption{Addr: addr, TlsConfig: s.tls.Clone(), HandshakeTimeout: 15 * time.Second})
	if err == nil {
		conn.NetConn().Close()
		return http.StatusSwitchingProtocols, ""
	}
	if resp == nil {
		t.Fatalf("dial %s: no answer: %v", addr, err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// restart starts s again on its data dir with the flags it had.
func (s *server) restart(t *testing.T) *server {
	t.Helper()
	// serve --data-dir D --listen A --admin-listen B --idle 1h, then extra.
	return startServer(t, s.dataDir, s.cmd.Args[10:]...)
}

// The home of an object is killed: connects to that object answer 503 with
// Retry-After through the other hosts, and its sockets held by them close
// with 1012; other objects carry on. Back, it serves the committed state.
func TestClusterDeadHome(t *testing.T) {
	ss := startClusterOf(t, 3)
	uploadEverywhere(t, ss, "counter", plugintest.WAT(t, "plugins/counter-wat/counter.wat"))

	// Rooms through h1 until two have different homes, neither of them h1
	// or one of them h1: what matters is a victim home other than h1.
	clients := map[string]*wsClient{}
	owner := map[string]string{}
	var victim, survivor string
	for i := 0; victim == "" || survivor == ""; i++ {
		if i == 40 {
			t.Fatalf("no two rooms with different homes in 40: %v", owner)
		}
		room := fmt.Sprintf("room%d", i)
		c := ss[0].dial(t, "/counter/"+room)
		if got := c.ask(t, "inc"); got != "1" {
			t.Fatalf("%s: inc = %q", room, got)
		}
		var d admin.ObjectDetail
		ss[0].adminGet(t, "/v1/objects/counter/"+room, &d)
		clients[room], owner[room] = c, d.Owner
		switch {
		case victim == "" && d.Owner != "h1":
			victim = room
		case survivor == "" && victim != "" && d.Owner != owner[victim]:
			survivor = room
		}
	}
	if got := clients[victim].ask(t, "inc"); got != "2" {
		t.Fatalf("%s: second inc = %q", victim, got)
	}
	dead := ss[1]
	if owner[victim] == "h3" {
		dead = ss[2]
	}
	dead.cmd.Process.Kill()
	<-dead.exited

	// Its relayed socket closes with 1012 once the members count it gone.
	select {
	case code := <-clients[victim].closed:
		if code != 1012 {
			t.Errorf("%s's socket through h1 closed with %d, want 1012", victim, code)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s's socket through h1 stayed open after its home was killed", victim)
	}
	if st, retry := ss[0].refusal(t, "/counter/"+victim); st != http.StatusServiceUnavailable || retry == "" {
		t.Errorf("connect to %s with its home down: %d, Retry-After %q; want 503 with Retry-After", victim, st, retry)
	}
	if owner[survivor] != dead.name() {
		if got := clients[survivor].ask(t, "inc"); got != "2" {
			t.Errorf("%s (home %s) with %s down: inc = %q", survivor, owner[survivor], dead.name(), got)
		}
	}

	dead.restart(t)
	if !within(15*time.Second, func() bool {
		st, _ := ss[0].refusal(t, "/counter/"+victim)
		return st == http.StatusSwitchingProtocols
	}) {
		t.Fatalf("%s still refused after its home came back", victim)
	}
	c := ss[0].dial(t, "/counter/"+victim)
	if got := c.ask(t, "get"); got != "2" {
		t.Errorf("%s after its home came back: get = %q, want the committed 2", victim, got)
	}
}

// activation is one run of an object on a host, from the host's log.
type activation struct {
	host       string
	token      uint64
	start, end time.Time // end zero: still live
}

var activationLine = regexp.MustCompile(`time=(\S+) level=DEBUG msg="object (activated|deactivated)" object=(\S+) lease=(\d+)`)

// activations reads every "object activated/deactivated" line of the hosts'
// logs, by object.
func activations(t *testing.T, ss []*server) map[string][]activation {
	t.Helper()
	out := map[string][]activation{}
	for _, s := range ss {
		open := map[string]int{} // object → index in out of its open activation
		for _, m := range activationLine.FindAllStringSubmatch(s.stdout.String(), -1) {
			at, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				t.Fatalf("log time %q: %v", m[1], err)
			}
			token, _ := strconv.ParseUint(m[4], 10, 64)
			obj := m[3]
			if m[2] == "activated" {
				out[obj] = append(out[obj], activation{host: s.name(), token: token, start: at})
				open[obj] = len(out[obj]) - 1
				continue
			}
			if i, ok := open[obj]; ok && out[obj][i].token == token {
				out[obj][i].end = at
				delete(open, obj)
			}
		}
	}
	return out
}

// Clients of the same objects connect through every host at once while a
// fourth host joins and a host that is home to none of them is killed:
// each object runs on one host at a time, its fencing tokens only grow, and
// every increment a client saw acknowledged is in its count.
func TestClusterSingleActivationUnderChurn(t *testing.T) {
	ss := startClusterOf(t, 3, "--log-level", "debug", "--idle", "300ms")
	uploadEverywhere(t, ss, "counter", plugintest.WAT(t, "plugins/counter-wat/counter.wat"))

	// Objects until four share homes that leave one host out: that host
	// is the one killed.
	homes := map[string]string{}
	var objects []string
	var victim *server
	for i := 0; victim == nil; i++ {
		if i == 60 {
			t.Fatalf("no four objects leave a host out: %v", homes)
		}
		name := fmt.Sprintf("churn%d", i)
		c := ss[i%3].dial(t, "/counter/"+name)
		c.ask(t, "get")
		c.conn.NetConn().Close()
		var d admin.ObjectDetail
		ss[0].adminGet(t, "/v1/objects/counter/"+name, &d)
		homes[name] = d.Owner
		for _, s := range ss {
			var mine []string
			for obj, h := range homes {
				if h != s.name() {
					mine = append(mine, obj)
				}
			}
			if len(mine) >= 4 {
				victim, objects = s, mine[:4]
				break
			}
		}
	}

	var mu sync.Mutex
	acked := map[string]int{}
	live := func() []*server {
		mu.Lock()
		defer mu.Unlock()
		var out []*server
		for _, s := range ss {
			select {
			case <-s.exited:
			default:
				out = append(out, s)
			}
		}
		return out
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for round := 0; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				hs := live()
				s := hs[(w+round)%len(hs)]
				obj := objects[(w+round)%len(objects)]
				c, _, err := s.tryDial("/counter/"+obj, 5*time.Second)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				for range 5 {
					if err := c.conn.WriteString("inc"); err != nil {
						break
					}
					select {
					case <-c.frames:
						mu.Lock()
						acked[obj]++
						mu.Unlock()
						continue
					case <-c.closed:
					case <-time.After(5 * time.Second):
					}
					break
				}
				c.conn.NetConn().Close()
				time.Sleep(time.Duration(100+50*w) * time.Millisecond) // let objects hibernate now and then
			}
		})
	}

	time.Sleep(2 * time.Second)
	// A fourth host joins.
	var peers []string
	for _, s := range ss {
		peers = append(peers, "nats-route://"+natsRoute(s))
	}
	port := freePort(t)
	fourth := startServer(t, t.TempDir(), "--name", "h4", "--examples=false", "--log-level", "debug", "--idle", "300ms",
		"--nats-cluster-listen", fmt.Sprintf("127.0.0.1:%d", port), "--nats-peers", strings.Join(peers, ","))
	mu.Lock()
	ss = append(ss, fourth)
	mu.Unlock()
	time.Sleep(2 * time.Second)
	// The host home to none of the objects dies.
	victim.cmd.Process.Kill()
	<-victim.exited
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()

	total := 0
	for _, obj := range objects {
		// Through the newcomer; JetStream may still be moving its
		// leaders after the kill, which a connect sees as a 503.
		var c *wsClient
		var status int
		if !within(15*time.Second, func() bool {
			var err error
			c, status, err = fourth.tryDial("/counter/"+obj, 5*time.Second)
			return err == nil
		}) {
			t.Fatalf("%s through h4: %d", obj, status)
		}
		var got int
		fmt.Sscanf(c.ask(t, "get"), "%d", &got)
		c.conn.NetConn().Close()
		mu.Lock()
		want := acked[obj]
		mu.Unlock()
		total += want
		if got < want {
			t.Errorf("%s: count %d, but %d increments were acknowledged", obj, got, want)
		}
	}
	if total < 20 {
		t.Fatalf("only %d increments acknowledged in all: the churn did not run", total)
	}

	acts := activations(t, ss)
	runs := 0
	for _, obj := range objects {
		list := acts["counter/"+obj]
		runs += len(list)
		slices.SortFunc(list, func(a, b activation) int { return a.start.Compare(b.start) })
		for i := 1; i < len(list); i++ {
			prev, cur := list[i-1], list[i]
			if prev.end.IsZero() || cur.start.Before(prev.end) {
				t.Errorf("%s: activation on %s (token %d) from %s overlaps the one on %s (token %d) from %s to %v",
					obj, cur.host, cur.token, cur.start.Format("15:04:05.000"), prev.host, prev.token, prev.start.Format("15:04:05.000"), prev.end)
			}
			if cur.token <= prev.token {
				t.Errorf("%s: fencing token %d after %d: tokens must grow", obj, cur.token, prev.token)
			}
		}
	}
	if runs < len(objects)*2 {
		t.Errorf("%d activations of %d objects in the logs: the objects did not hibernate and wake under churn", runs, len(objects))
	}
	t.Logf("%d increments acknowledged, %d activations, none overlapping", total, runs)
}

// tryDial dials path on s, returning the status of a refusal.
func (s *server) tryDial(path string, timeout time.Duration) (*wsClient, int, error) {
	c := &wsClient{frames: make(chan string, 1024), closed: make(chan uint16, 1)}
	addr := strings.Replace(s.publicURL, "https://", "wss://", 1) + path
	conn, resp, err := gws.NewClient(c, &gws.ClientOption{Addr: addr, TlsConfig: s.tls.Clone(), HandshakeTimeout: timeout})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, err
	}
	c.conn = conn
	go conn.ReadLoop()
	return c, http.StatusSwitchingProtocols, nil
}

// natsRoute is the host:port of s's --nats-cluster-listen.
func natsRoute(s *server) string {
	for i, a := range s.cmd.Args {
		if a == "--nats-cluster-listen" && i+1 < len(s.cmd.Args) {
			return s.cmd.Args[i+1]
		}
	}
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// relayed reads torpor_cluster_relay_messages_total{kind} from s's /metrics.
func (s *server) relayed(t *testing.T, kind string) uint64 {
	t.Helper()
	req, _ := http.NewRequest("GET", s.adminURL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for _, m := range fams["torpor_cluster_relay_messages_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "kind" && l.GetValue() == kind {
				return uint64(m.GetCounter().GetValue())
			}
		}
	}
	t.Fatalf("no torpor_cluster_relay_messages_total{kind=%q}", kind)
	return 0
}

// Through a host that is not the room's home: the plugin's refusal reaches
// the client with its status before the upgrade, and an auto-response is
// answered at the gateway without a frame crossing to the home.
func TestClusterRelayedConnectAndAutoResponse(t *testing.T) {
	ss := startClusterOf(t, 2)
	uploadEverywhere(t, ss, "chat", plugintest.Go(t, "plugins/chat"))
	// A room homed on h2, reached through h1.
	var room string
	for i := 0; room == ""; i++ {
		if i == 40 {
			t.Fatal("no room homed on h2 in 40 tries")
		}
		name := fmt.Sprintf("lobby%d", i)
		c := ss[1].dial(t, "/chat/"+name+"?name=probe")
		c.next(t) // welcome
		c.conn.NetConn().Close()
		var d admin.ObjectDetail
		ss[0].adminGet(t, "/v1/objects/chat/"+name, &d)
		if d.Owner == "h2" {
			room = name
		}
	}
	if st, _ := ss[0].refusal(t, "/chat/"+room+"?name=admin"); st != http.StatusForbidden {
		t.Errorf("a refused name through h1: %d, want the plugin's 403", st)
	}
	c := ss[0].dial(t, "/chat/"+room+"?name=ann")
	if f := c.next(t); !strings.Contains(f, `"type":"welcome"`) {
		t.Fatalf("first frame through h1: %s", f)
	}
	before := ss[0].relayed(t, "frame")
	for range 3 {
		if got := c.ask(t, "ping"); got != "pong" {
			t.Fatalf("ping through h1: %q", got)
		}
	}
	if after := ss[0].relayed(t, "frame"); after != before {
		t.Errorf("three pings sent %d frames to the home; auto-responses are answered at the gateway", after-before)
	}
	if f := c.ask(t, "hello"); !strings.Contains(f, `"text":"hello"`) {
		t.Errorf("a message through h1: %s", f)
	}
}

// host drain moves every object of a host, storage and snapshot intact, to
// the others; a socket another host relays to a moved object follows it
// without a close, and keeps sending through the drain without losing a
// frame; the drained host's own sockets close with 1012, and it refuses new
// clients.
func TestClusterDrain(t *testing.T) {
	ss := startClusterOf(t, 3)
	uploadEverywhere(t, ss, "counter", plugintest.WAT(t, "plugins/counter-wat/counter.wat"))
	drained := ss[2] // h3

	// Objects through h1 until two are homed on h3 and one elsewhere.
	var onH3, elsewhere []string
	for i := 0; len(onH3) < 2 || len(elsewhere) < 1; i++ {
		if i == 60 {
			t.Fatalf("homes: %d on h3, %d elsewhere after 60 objects", len(onH3), len(elsewhere))
		}
		name := fmt.Sprintf("d%d", i)
		c := ss[0].dial(t, "/counter/"+name)
		c.ask(t, "inc")
		c.ask(t, "inc")
		c.conn.NetConn().Close()
		var d admin.ObjectDetail
		ss[0].adminGet(t, "/v1/objects/counter/"+name, &d)
		if d.Owner == "h3" {
			onH3 = append(onH3, name)
		} else {
			elsewhere = append(elsewhere, name)
		}
	}
	relayedToH3 := ss[0].dial(t, "/counter/"+onH3[0]) // on h1, object on h3
	// And on h2: whichever of h1 and h2 becomes the object's new home, one
	// of the two sockets turns local there and the other is relayed anew.
	relayedToH3b := ss[1].dial(t, "/counter/"+onH3[0])
	localOnH3 := drained.dial(t, "/counter/"+onH3[1])          // on h3, object on h3
	relayedFromH3 := drained.dial(t, "/counter/"+elsewhere[0]) // on h3, object elsewhere
	for _, c := range []*wsClient{relayedToH3, relayedToH3b, localOnH3, relayedFromH3} {
		c.ask(t, "get")
	}

	// The relayed sockets increment all along the drain.
	acked := make(chan int, 2)
	for _, c := range []*wsClient{relayedToH3, relayedToH3b} {
		go func() {
			n := 0
			defer func() { acked <- n }()
			for range 40 {
				if err := c.conn.WriteString("inc"); err != nil {
					return
				}
				select {
				case <-c.frames:
					n++
				case <-c.closed:
					return
				case <-time.After(20 * time.Second):
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	// Through h1: the call is forwarded to h3.
	if st, body := ss[0].admin(t, "POST", "/v1/hosts/h3/drain", nil); st != http.StatusAccepted {
		t.Fatalf("drain h3 through h1: %d %s", st, body)
	}
	if !within(60*time.Second, func() bool {
		var hl admin.HostList
		ss[0].adminGet(t, "/v1/hosts", &hl)
		for _, h := range hl.Hosts {
			if h.Name == "h3" {
				return h.State == "drained"
			}
		}
		return false
	}) {
		t.Fatal("h3 not drained within 60 s")
	}
	incs := <-acked + <-acked
	if incs != 80 {
		t.Errorf("the two sockets relayed to the moving object got %d of 80 increments answered", incs)
	}
	for _, c := range []*wsClient{relayedToH3, relayedToH3b} {
		select {
		case code := <-c.closed:
			t.Errorf("a socket relayed to the moving object closed with %d; it should follow the object", code)
		default:
		}
	}
	if got := relayedToH3.ask(t, "get"); got != fmt.Sprint(2+incs) {
		t.Errorf("%s after the move, through the socket that followed it: get = %q, want %d", onH3[0], got, 2+incs)
	}
	for name, c := range map[string]*wsClient{"local on h3": localOnH3, "relayed from h3": relayedFromH3} {
		select {
		case code := <-c.closed:
			if code != 1012 {
				t.Errorf("socket %s closed with %d, want 1012", name, code)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("socket %s still open after the drain", name)
		}
	}
	var list admin.ObjectList
	ss[0].adminGet(t, "/v1/objects", &list)
	for _, o := range list.Objects {
		if o.Owner == "h3" {
			t.Errorf("%s still on h3 after the drain", o.ID)
		}
	}
	c := ss[0].dial(t, "/counter/"+onH3[1])
	if got := c.ask(t, "get"); got != "2" {
		t.Errorf("%s after the move: get = %q, want its stored 2", onH3[1], got)
	}
	if got := c.ask(t, "hits"); got != "2" {
		t.Errorf("%s after the move: hits = %q, want its snapshot's 2", onH3[1], got)
	}
	if st, retry := drained.refusal(t, "/counter/"+elsewhere[0]); st != http.StatusServiceUnavailable || retry == "" {
		t.Errorf("a connect through the drained host: %d, Retry-After %q", st, retry)
	}
}
