package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/admin"
	"github.com/torpor-dev/torpor/internal/hosttest"
	"github.com/torpor-dev/torpor/internal/plugintest"
	"github.com/torpor-dev/torpor/internal/testlog"
)

const cliToken = "cli-test-token"

// cliHost is a real host with the admin API on a loopback test server, for
// the operator commands to talk to.
type cliHost struct {
	h   *host.Host
	url string
}

func newCLIHost(t *testing.T) *cliHost {
	t.Helper()
	h := hosttest.New(t, host.Options{Name: "cli-host"})
	srv := httptest.NewServer(admin.New(h, admin.Options{
		Token:  cliToken,
		Self:   admin.HostInfo{Name: "cli-host", PublicURL: "wss://rooms.test", AdminURL: "http://admin.test", Version: "v-test"},
		Logger: testlog.Discard(),
	}))
	t.Cleanup(srv.Close)
	return &cliHost{h: h, url: srv.URL}
}

// cliConn is a socket as the host sees it; it records how it was closed.
type cliConn struct {
	sess   *host.Session
	frames chan string
	mu     sync.Mutex
	code   int
	reason string
}

func (c *cliConn) Send(f *host.Frame) error {
	select {
	case c.frames <- string(f.Data):
	default:
	}
	return nil
}

func (c *cliConn) Close(code int, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.code, c.reason = code, reason
	return nil
}

func (c *cliConn) closed() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code, c.reason
}

// connect opens a connection to object and sends it "inc", so that it has
// state in storage.
func (ch *cliHost) connect(t *testing.T, object string) *cliConn {
	t.Helper()
	id, err := host.ParseObjectID(object)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &cliConn{frames: make(chan string, 16)}
	if c.sess, err = ch.h.Connect(ctx, host.ConnectRequest{Object: id, Path: "/" + object}, c); err != nil {
		t.Fatalf("connect %s: %v", object, err)
	}
	if err := c.sess.Message(ctx, abi.Text, []byte("inc")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.frames:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not answer inc", object)
	}
	return c
}

// cliResult is one run of the binary.
type cliResult struct {
	stdout, stderr string
	code           int
}

// torpor runs the real binary in an empty directory, with no TORPOR_
// variables but those in env.
func torpor(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, plugintest.Binary(t), args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TORPOR_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run torpor %s: %v", strings.Join(args, " "), err)
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// ok asserts success and returns stdout.
func (r cliResult) ok(t *testing.T) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails asserts exit code 1 and a one-line error "torpor: ..." with msg.
func (r cliResult) fails(t *testing.T, msg string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	line := strings.TrimSuffix(r.stderr, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "torpor: ") || !strings.Contains(line, msg) {
		t.Fatalf("stderr %q, want one line \"torpor: ...%s...\"", r.stderr, msg)
	}
}

// contains asserts that every want appears in s.
func contains(t *testing.T, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Fatalf("output lacks %q:\n%s", w, s)
		}
	}
}

// rows returns the non-blank lines of a table, split into cells.
func rows(s string) [][]string {
	var out [][]string
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, f)
		}
	}
	return out
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("-o json output does not parse as %T: %v\n%s", v, err, s)
	}
}

// The operator commands against a real host: plugins, objects, hosts, the
// errors they report and the settings they read.
func TestClientCommands(t *testing.T) {
	ch := newCLIHost(t)
	auth := []string{"--server", ch.url, "--token", cliToken}
	cli := func(args ...string) cliResult { return torpor(t, nil, append(args, auth...)...) }

	dir := t.TempDir()
	wasmFile := filepath.Join(dir, "counter.wasm")
	if err := os.WriteFile(wasmFile, plugintest.WAT(t, "plugins/counter-wat/counter.wat"), 0o644); err != nil {
		t.Fatal(err)
	}
	junkFile := filepath.Join(dir, "junk.wasm")
	if err := os.WriteFile(junkFile, []byte("this is not a wasm module"), 0o644); err != nil {
		t.Fatal(err)
	}
	var version string // the counter's sha256

	t.Run("plugin upload", func(t *testing.T) {
		out := cli("plugin", "upload", "counter", wasmFile).ok(t)
		contains(t, out, "uploaded counter version ", "it is active")
		var p admin.Plugin
		decodeJSON(t, cli("plugin", "upload", "counter", wasmFile, "-o", "json").ok(t), &p)
		if p.Name != "counter" || len(p.SHA256) != 64 || !p.Active {
			t.Fatalf("upload -o json = %+v", p)
		}
		version = p.SHA256
		contains(t, cli("plugin", "upload", "counter", wasmFile).ok(t), "counter already had version "+version[:12])
	})
	t.Run("plugin upload errors", func(t *testing.T) {
		cli("plugin", "upload", "junk", junkFile).fails(t, "torpor: 400 bad request: deploy junk: invalid plugin")
		cli("plugin", "upload", "Bad", wasmFile).fails(t, `400 bad request: invalid name: plugin name "Bad" has 'B' at byte 0`)
		cli("plugin", "upload", "counter", filepath.Join(dir, "missing.wasm")).fails(t, "read plugin: open ")
		cli("plugin", "upload", "counter").fails(t, "want 2 argument(s), got 1; usage: torpor plugin upload NAME FILE.wasm")
	})
	t.Run("plugin list and inspect", func(t *testing.T) {
		r := rows(cli("plugin", "list").ok(t))
		if len(r) != 2 || strings.Join(r[0], " ") != "NAME VERSION SIZE UPLOADED" || r[1][0] != "counter" || r[1][1] != version[:12] {
			t.Fatalf("plugin list:\n%v", r)
		}
		var list admin.PluginList
		decodeJSON(t, cli("plugin", "list", "-o", "json").ok(t), &list)
		if len(list.Plugins) != 1 || list.Plugins[0].SHA256 != version {
			t.Fatalf("plugin list -o json = %+v", list)
		}
		out := cli("plugin", "inspect", "counter").ok(t)
		contains(t, out, "plugin counter, 1 version(s)", "VERSION", version, "yes")
		var vs admin.PluginVersions
		decodeJSON(t, cli("plugin", "inspect", "counter", "-o", "json").ok(t), &vs)
		if vs.Name != "counter" || len(vs.Versions) != 1 {
			t.Fatalf("plugin inspect -o json = %+v", vs)
		}
		cli("plugin", "inspect", "nope").fails(t, "torpor: 404 not found: plugin nope: unknown plugin")
	})

	conns := map[string]*cliConn{}
	for _, name := range []string{"counter/a", "counter/b", "counter/c"} {
		conns[name] = ch.connect(t, name)
	}
	cli("object", "evict", "counter/c").ok(t)

	t.Run("object list", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			want string // the ID column, one per row
			more string // the hint on stderr
		}{
			{"all", nil, "counter/a counter/b counter/c", ""},
			{"by state", []string{"--state", "hibernated"}, "counter/c", ""},
			{"by plugin and state", []string{"--plugin", "counter", "--state", "live"}, "counter/a counter/b", ""},
			{"first page", []string{"--limit", "2"}, "counter/a counter/b", "more objects follow: add --after counter/b"},
			{"next page", []string{"--limit", "2", "--after", "counter/b"}, "counter/c", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := cli(append([]string{"object", "list"}, tt.args...)...)
				table := rows(r.ok(t))
				if strings.Join(table[0], " ") != "ID STATE CONNS OWNER VERSION LAST EVENT" {
					t.Fatalf("header %v", table[0])
				}
				var got []string
				for _, row := range table[1:] {
					got = append(got, row[0])
					// (Listings show the version of hibernated objects only.)
					if row[3] != "cli-host" || row[1] == "hibernated" && row[4] != version[:12] {
						t.Fatalf("row %v", row)
					}
				}
				if strings.Join(got, " ") != tt.want || !strings.Contains(r.stderr, tt.more) {
					t.Fatalf("listed %v (stderr %q), want %s (%q)", got, r.stderr, tt.want, tt.more)
				}
			})
		}
		contains(t, cli("object", "list", "--plugin", "other").ok(t), "no objects")
		cli("object", "list", "--state", "asleep").fails(t, `torpor: 400 bad request: state="asleep" is not a state: use live, hibernated or failed`)
		cli("object", "list", "--limit", "5000").fails(t, "from 1 to 1000")

		var list admin.ObjectList
		decodeJSON(t, cli("object", "list", "--limit", "1", "-o", "json").ok(t), &list)
		if len(list.Objects) != 1 || list.Objects[0].ID != "counter/a" || list.Objects[0].State != host.StateLive || list.Next != "counter/a" {
			t.Fatalf("object list -o json = %+v", list)
		}
	})
	t.Run("object inspect", func(t *testing.T) {
		out := cli("object", "inspect", "counter/a").ok(t)
		id := conns["counter/a"].sess.ID()
		contains(t, out, "ID           counter/a", "STATE        live", "OWNER        cli-host", "VERSION      "+version,
			"STORAGE      1 key, ", "CONNECTIONS  1", "CONNECTION", "TAGS", "ATTACHMENT")
		contains(t, out, "\n"+strconv.FormatUint(id, 10)+"  ")
		raw := cli("object", "inspect", "counter/a", "-o", "json").ok(t)
		var d admin.ObjectDetail
		decodeJSON(t, raw, &d)
		if d.ID != "counter/a" || len(d.Connections) != 1 || d.Connections[0].ID != id || d.MemoryPages == 0 {
			t.Fatalf("object inspect -o json = %+v", d)
		}
		contains(t, raw, `"id": "`+strconv.FormatUint(id, 10)+`"`) // a string, safe for JavaScript
		cli("object", "inspect", "counter/nope").fails(t, "torpor: 404 not found: object counter/nope: not found")
		cli("object", "inspect", "counter").fails(t, "not of the form plugin/name")
	})
	t.Run("object evict", func(t *testing.T) {
		contains(t, cli("object", "evict", "counter/a").ok(t), "evicted counter/a; its sockets stay open")
		if code, _ := conns["counter/a"].closed(); code != 0 {
			t.Fatalf("evict without --close closed the socket with %d", code)
		}
		var res admin.EvictResult
		decodeJSON(t, cli("object", "evict", "counter/b", "--close", "--code", "4000", "--reason", "maintenance", "-o", "json").ok(t), &res)
		if res != (admin.EvictResult{Evicted: "counter/b", Closed: true}) {
			t.Fatalf("evict -o json = %+v", res)
		}
		if code, reason := conns["counter/b"].closed(); code != 4000 || reason != "maintenance" {
			t.Fatalf("evict --close closed with %d %q", code, reason)
		}
		for _, name := range []string{"counter/a", "counter/b"} {
			info, err := ch.h.Object(context.Background(), host.ObjectID{Plugin: "counter", Name: name[len("counter/"):]})
			if err != nil || info.State != host.StateHibernated {
				t.Fatalf("%s after evict: %+v, %v", name, info, err)
			}
		}
		cli("object", "evict", "counter/a", "--code", "4000").fails(t, "--code and --reason need --close")
		cli("object", "evict", "counter/a", "--close", "--code", "1005").fails(t, "400 bad request: close code 1005 cannot be sent")
		cli("object", "evict", "counter/zz").fails(t, "404 not found: evict counter/zz: not found")
	})
	t.Run("host list", func(t *testing.T) {
		conns["counter/a"].sess.Message(context.Background(), abi.Text, []byte("inc")) // wake a
		<-conns["counter/a"].frames
		r := rows(cli("host", "list").ok(t))
		// Without a cluster (this test's admin API has none) the id and
		// state are dashes; the live objects come before the connections.
		if len(r) != 2 || r[1][0] != "cli-host" || r[1][3] != "wss://rooms.test" || r[1][len(r[1])-2] != "1" {
			t.Fatalf("host list:\n%v", r)
		}
		var hl admin.HostList
		decodeJSON(t, cli("host", "list", "-o", "json").ok(t), &hl)
		if len(hl.Hosts) != 1 || hl.Hosts[0].Name != "cli-host" || hl.Hosts[0].Version != "v-test" || hl.Hosts[0].LiveObjects != 1 {
			t.Fatalf("host list -o json = %+v", hl)
		}
	})
	t.Run("settings", func(t *testing.T) {
		// The token and URL of a local host come from its data dir, named by
		// flag or environment.
		dataDir := t.TempDir()
		os.WriteFile(filepath.Join(dataDir, "admin-url"), []byte(ch.url+"\n"), 0o644)
		os.WriteFile(filepath.Join(dataDir, "admin-token"), []byte("  "+cliToken+"\n"), 0o600)
		contains(t, torpor(t, nil, "plugin", "list", "--data-dir", dataDir).ok(t), "counter")
		contains(t, torpor(t, []string{"TORPOR_DATA_DIR=" + dataDir}, "host", "list").ok(t), "cli-host")
		// The environment names the server and token too.
		contains(t, torpor(t, []string{"TORPOR_ADMIN_URL=" + ch.url, "TORPOR_ADMIN_TOKEN=" + cliToken}, "plugin", "list").ok(t), "counter")
		// A wrong token is refused with the server's reason.
		torpor(t, nil, "plugin", "list", "--server", ch.url, "--token", "wrong").fails(t, "torpor: 403 forbidden: wrong admin token")
		// A named server without a token does not get the local one.
		torpor(t, nil, "plugin", "list", "--server", ch.url, "--data-dir", dataDir).fails(t, "no admin token for "+ch.url)
		// Nothing to go on.
		torpor(t, nil, "plugin", "list").fails(t, "no admin token: neither --token nor TORPOR_ADMIN_TOKEN is set, and ./torpor-data has no admin-token file")
		// No host at the address.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		ln.Close()
		torpor(t, nil, "host", "list", "--server", dead, "--token", "x").fails(t, "no host answers at "+dead+": start one with `torpor serve`")
		cli("plugin", "list", "-o", "yaml").fails(t, `unknown output format "yaml": use table or json`)
	})
	t.Run("plugin rm", func(t *testing.T) {
		cli("plugin", "rm", "counter").fails(t, "409 conflict: plugin counter has 2 live or connected object(s) (counter/a, counter/c)")
		contains(t, cli("plugin", "rm", "counter", "--force").ok(t), "removed plugin counter")
		contains(t, cli("plugin", "list").ok(t), "no plugins")
		cli("plugin", "rm", "counter").fails(t, "404 not found: plugin counter: unknown plugin")
	})
}

// Where the operator commands find the admin API: flag, then environment,
// then a local host's data dir, and a local token never goes to a named
// server.
func TestClientSettings(t *testing.T) {
	local := t.TempDir()
	os.WriteFile(filepath.Join(local, "admin-url"), []byte("http://127.0.0.1:9444\n"), 0o644)
	os.WriteFile(filepath.Join(local, "admin-token"), []byte("\tlocal-token \n"), 0o600)
	tokenOnly := t.TempDir()
	os.WriteFile(filepath.Join(tokenOnly, "admin-token"), []byte("only-token"), 0o600)
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "admin-token"), []byte(" \n"), 0o600)

	tests := []struct {
		name          string
		flags         clientFlags
		env           map[string]string
		server, token string
		err           string
	}{
		{name: "flags", flags: clientFlags{server: "http://h:1", token: "t"}, server: "http://h:1", token: "t"},
		{name: "flags beat env", flags: clientFlags{server: "http://h:1", token: "t"}, env: map[string]string{"TORPOR_ADMIN_URL": "http://e:2", "TORPOR_ADMIN_TOKEN": "e"}, server: "http://h:1", token: "t"},
		{name: "env", env: map[string]string{"TORPOR_ADMIN_URL": "http://e:2", "TORPOR_ADMIN_TOKEN": "e"}, server: "http://e:2", token: "e"},
		{name: "data dir flag", flags: clientFlags{dataDir: local}, server: "http://127.0.0.1:9444", token: "local-token"},
		{name: "data dir env", env: map[string]string{"TORPOR_DATA_DIR": local}, server: "http://127.0.0.1:9444", token: "local-token"},
		{name: "token given, url from data dir", flags: clientFlags{token: "t", dataDir: local}, server: "http://127.0.0.1:9444", token: "t"},
		{name: "no url file: the default", flags: clientFlags{dataDir: tokenOnly}, server: "http://127.0.0.1:8444", token: "only-token"},
		{name: "host:port", flags: clientFlags{server: "10.0.0.7:8444", token: "t"}, server: "http://10.0.0.7:8444", token: "t"},
		{name: "trailing slash", flags: clientFlags{server: "https://admin.example.com/", token: "t"}, server: "https://admin.example.com", token: "t"},
		{name: "server without token", flags: clientFlags{server: "http://h:1", dataDir: local}, err: "no admin token for http://h:1: pass --token or set TORPOR_ADMIN_TOKEN"},
		{name: "nothing", flags: clientFlags{dataDir: t.TempDir()}, err: "has no admin-token file"},
		{name: "empty token file", flags: clientFlags{dataDir: empty}, err: "admin-token is empty"},
		{name: "not http", flags: clientFlags{server: "ftp://h", token: "t"}, err: `admin URL "ftp://h" is not an http(s) URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, token, err := tt.flags.resolve(func(k string) string { return tt.env[k] })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to say %q", err, tt.err)
				}
				return
			}
			if err != nil || server != tt.server || token != tt.token {
				t.Fatalf("got %q %q %v, want %q %q", server, token, err, tt.server, tt.token)
			}
		})
	}
}

// A token given by flag or environment never follows a URL out of a data
// dir the user did not name: ./torpor-data may belong to an untrusted
// checkout.
func TestClientTokenDoesNotFollowImplicitDataDir(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "torpor-data"), 0o755)
	os.WriteFile(filepath.Join(dir, "torpor-data", "admin-url"), []byte("http://attacker.example:80\n"), 0o644)
	t.Chdir(dir)
	var cf clientFlags
	server, token, err := cf.resolve(func(k string) string { return map[string]string{"TORPOR_ADMIN_TOKEN": "secret"}[k] })
	if err != nil || server != "http://127.0.0.1:8444" || token != "secret" {
		t.Fatalf("got %q %q %v, want the default loopback URL", server, token, err)
	}
	// Named explicitly, the data dir's URL is used.
	cf.dataDir = filepath.Join(dir, "torpor-data")
	if server, _, _ := cf.resolve(func(k string) string { return map[string]string{"TORPOR_ADMIN_TOKEN": "secret"}[k] }); server != "http://attacker.example:80" {
		t.Fatalf("explicit data dir: server %q", server)
	}
}
