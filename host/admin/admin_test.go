package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/admin"
	"github.com/torpor-dev/torpor/internal/hosttest"
)

// Uploads answer 201 for a new version and 200 for bytes the name already
// had, list and inspect what they stored, and removal honours live objects.
func TestPlugins(t *testing.T) {
	f := newFixture(t, host.Options{}, admin.Options{})
	ctx := context.Background()

	wat := watCounter(t)
	v1, created, err := f.client.UploadPlugin(ctx, "counter", wat)
	if err != nil || !created {
		t.Fatalf("first upload: created=%v err=%v", created, err)
	}
	if v1.Name != "counter" || len(v1.SHA256) != 64 || v1.Size != int64(len(wat)) || !v1.Active || v1.Created.IsZero() {
		t.Fatalf("first upload answered %+v", v1)
	}
	again, created, err := f.client.UploadPlugin(ctx, "counter", wat)
	if err != nil || created || again != v1 {
		t.Fatalf("same bytes again: %+v created=%v err=%v, want %+v and 200", again, created, err, v1)
	}
	// Any valid module can be a new version; the loop plugin is a small one.
	v2, created, err := f.client.UploadPlugin(ctx, "counter", loopPlugin(t))
	if err != nil || !created || v2.SHA256 == v1.SHA256 {
		t.Fatalf("second version: %+v created=%v err=%v", v2, created, err)
	}
	f.deploy(t, "other", watCounter)

	list, err := f.client.Plugins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "counter" || list[0].SHA256 != v2.SHA256 || list[1].Name != "other" {
		t.Fatalf("plugins = %+v", list)
	}
	vs, err := f.client.PluginVersions(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if vs.Name != "counter" || len(vs.Versions) != 2 || vs.Versions[0].SHA256 != v1.SHA256 || vs.Versions[0].Active || !vs.Versions[1].Active {
		t.Fatalf("versions = %+v", vs)
	}
	// Uploading an older version's bytes reactivates it: 200, not a new one.
	back, created, err := f.client.UploadPlugin(ctx, "counter", wat)
	if err != nil || created || back.SHA256 != v1.SHA256 || !back.Active {
		t.Fatalf("reactivate: %+v created=%v err=%v", back, created, err)
	}

	// A connected object blocks removal until force.
	c := f.connect(t, "counter/room")
	c.ask(t, "inc")
	err = f.client.RemovePlugin(ctx, "counter", false)
	var apiErr *admin.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict ||
		!strings.Contains(apiErr.Message, "counter/room") || !strings.Contains(apiErr.Message, "force=true") {
		t.Fatalf("remove with a live object: %v", err)
	}
	if err := f.client.RemovePlugin(ctx, "counter", true); err != nil {
		t.Fatalf("remove --force: %v", err)
	}
	if _, err := f.client.PluginVersions(ctx, "counter"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("versions after remove: %v", err)
	}
	// A plugin with no live or connected objects goes without force.
	if err := f.client.RemovePlugin(ctx, "other", false); err != nil {
		t.Fatalf("remove idle plugin: %v", err)
	}
	if list, err := f.client.Plugins(ctx); err != nil || len(list) != 0 {
		t.Fatalf("plugins after removing all = %+v, %v", list, err)
	}
	// The removed plugin's object wakes to no code: its socket is closed
	// with 1011 at its next event.
	if _, err := f.client.Evict(ctx, host.ObjectID{Plugin: "counter", Name: "room"}, admin.EvictRequest{}); err != nil {
		t.Fatal(err)
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c.sess.Message(ictx, abi.Text, []byte("inc"))
	hosttest.Eventually(t, "socket of a removed plugin to close", func() bool { closed, _, _ := c.closeState(); return closed })
	if _, code, _ := c.closeState(); code != 1011 {
		t.Fatalf("socket of a removed plugin closed with %d, want 1011", code)
	}
}

// Objects list with filters and pages, inspect in full and evict, with and
// without closing their sockets.
func TestObjects(t *testing.T) {
	f := newFixture(t, host.Options{Limits: host.Limits{EventCPU: 50 * time.Millisecond}}, admin.Options{})
	ctx := context.Background()
	ver := f.deploy(t, "counter", watCounter)
	f.deploy(t, "loop", loopPlugin)
	conns := map[string]*conn{}
	for _, name := range []string{"c0", "c1", "c2", "c3", "c4"} {
		conns[name] = f.connect(t, "counter/"+name)
		conns[name].ask(t, "inc")
	}
	looper := f.connect(t, "loop/l")
	for range 3 {
		looper.send(t, "spin")
	}
	hosttest.Eventually(t, "loop/l to fail", func() bool { closed, _, _ := looper.closeState(); return closed })
	for _, name := range []string{"c1", "c3"} {
		res, err := f.client.Evict(ctx, host.ObjectID{Plugin: "counter", Name: name}, admin.EvictRequest{})
		if err != nil || res != (admin.EvictResult{Evicted: "counter/" + name}) {
			t.Fatalf("evict %s: %+v, %v", name, res, err)
		}
	}

	t.Run("list", func(t *testing.T) {
		tests := []struct {
			name   string
			filter host.ObjectFilter
			want   string
			next   string
		}{
			{"all", host.ObjectFilter{}, "counter/c0:live counter/c1:hibernated counter/c2:live counter/c3:hibernated counter/c4:live loop/l:failed", ""},
			{"one plugin", host.ObjectFilter{Plugin: "loop"}, "loop/l:failed", ""},
			{"hibernated", host.ObjectFilter{State: host.StateHibernated}, "counter/c1:hibernated counter/c3:hibernated", ""},
			{"live in one plugin", host.ObjectFilter{Plugin: "counter", State: host.StateLive}, "counter/c0:live counter/c2:live counter/c4:live", ""},
			{"failed", host.ObjectFilter{State: host.StateFailed}, "loop/l:failed", ""},
			{"page 1", host.ObjectFilter{Plugin: "counter", Limit: 2}, "counter/c0:live counter/c1:hibernated", "counter/c1"},
			{"page 2", host.ObjectFilter{Plugin: "counter", Limit: 2, After: "counter/c1"}, "counter/c2:live counter/c3:hibernated", "counter/c3"},
			{"page 3", host.ObjectFilter{Plugin: "counter", Limit: 2, After: "counter/c3"}, "counter/c4:live", ""},
			{"past the end", host.ObjectFilter{After: "zzz"}, "", ""},
			{"unknown plugin", host.ObjectFilter{Plugin: "nope"}, "", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				list, err := f.client.Objects(ctx, tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(list.Objects); got != tt.want || list.Next != tt.next {
					t.Fatalf("got  %s (next %q)\nwant %s (next %q)", got, list.Next, tt.want, tt.next)
				}
			})
		}
		// Every page of a walk, and the fields of a listed object.
		var walked []admin.ObjectSummary
		for after := ""; ; {
			page, err := f.client.Objects(ctx, host.ObjectFilter{Limit: 1, After: after})
			if err != nil {
				t.Fatal(err)
			}
			walked = append(walked, page.Objects...)
			if after = page.Next; after == "" {
				break
			}
		}
		if len(walked) != 6 {
			t.Fatalf("walk with limit 1 saw %d objects: %s", len(walked), ids(walked))
		}
		c1 := walked[1]
		if c1.Plugin != "counter" || c1.Name != "c1" || c1.Owner != "test-host" || c1.Conns != 1 ||
			c1.Version != ver.SHA256 || c1.LastEvent == nil || c1.Hibernated == nil {
			t.Fatalf("hibernated object listed as %+v", c1)
		}
		if l := walked[5]; l.State != host.StateFailed || l.Failure == "" {
			t.Fatalf("failed object listed as %+v", l)
		}
	})

	t.Run("inspect", func(t *testing.T) {
		d, err := f.client.Object(ctx, host.ObjectID{Plugin: "counter", Name: "c0"})
		if err != nil {
			t.Fatal(err)
		}
		if d.ID != "counter/c0" || d.State != host.StateLive || d.Owner != "test-host" || d.Conns != 1 ||
			len(d.Connections) != 1 || d.Connections[0].ID != conns["c0"].sess.ID() ||
			d.StorageKeys != 1 || d.StorageBytes == 0 || d.MemoryPages == 0 || d.Alarm != nil || d.Version != ver.SHA256 {
			t.Fatalf("live object inspected as %+v", d)
		}
		// Ids travel as strings; tags as a list, never null.
		_, body := f.request(t, "GET", "/v1/objects/counter/c0", nil)
		var raw struct {
			Connections []map[string]any `json:"connections"`
		}
		if err := json.Unmarshal([]byte(body), &raw); err != nil || len(raw.Connections) != 1 {
			t.Fatalf("decode %s: %v", body, err)
		}
		if _, ok := raw.Connections[0]["id"].(string); !ok {
			t.Fatalf("connection id is not a JSON string: %s", body)
		}
		if tags, ok := raw.Connections[0]["tags"].([]any); !ok || len(tags) != 0 {
			t.Fatalf("tags = %#v, want []", raw.Connections[0]["tags"])
		}
		// An alarm shows up as a time.
		conns["c2"].ask(t, "alarm")
		d2, err := f.client.Object(ctx, host.ObjectID{Plugin: "counter", Name: "c2"})
		if err != nil {
			t.Fatal(err)
		}
		if d2.Alarm == nil && d2.StorageKeys < 2 { // fired already: then "alarms" is stored
			t.Fatalf("object with an alarm inspected as %+v", d2)
		}
		h, err := f.client.Object(ctx, host.ObjectID{Plugin: "counter", Name: "c1"})
		if err != nil {
			t.Fatal(err)
		}
		if h.State != host.StateHibernated || h.SnapshotSize != 8 || h.Hibernated == nil || h.MemoryPages != 0 {
			t.Fatalf("hibernated object inspected as %+v", h)
		}
	})

	t.Run("evict", func(t *testing.T) {
		tests := []struct {
			name       string
			object     string
			path, body string // raw request, or the client when empty
			req        admin.EvictRequest
			wantClosed bool
			wantCode   int
			wantReason string
		}{
			{name: "hibernate only", object: "c0", req: admin.EvictRequest{}},
			{name: "close with body", object: "c2", req: admin.EvictRequest{Close: true, Code: 4000, Reason: "maintenance"}, wantClosed: true, wantCode: 4000, wantReason: "maintenance"},
			{name: "close by query", object: "c4", path: "/v1/objects/counter/c4/evict?close=true", wantClosed: true, wantCode: 1001, wantReason: "evicted"},
			{name: "close with query code", object: "c3", path: "/v1/objects/counter/c3/evict?close=1&code=4001&reason=bye", wantClosed: true, wantCode: 4001, wantReason: "bye"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var res admin.EvictResult
				if tt.path == "" {
					var err error
					res, err = f.client.Evict(ctx, host.ObjectID{Plugin: "counter", Name: tt.object}, tt.req)
					if err != nil {
						t.Fatal(err)
					}
				} else {
					resp, body := f.request(t, "POST", tt.path, strings.NewReader(tt.body))
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("status %d: %s", resp.StatusCode, body)
					}
					if err := json.Unmarshal([]byte(body), &res); err != nil {
						t.Fatal(err)
					}
				}
				if res.Evicted != "counter/"+tt.object || res.Closed != tt.wantClosed {
					t.Fatalf("evict answered %+v", res)
				}
				closed, code, reason := conns[tt.object].closeState()
				if closed != tt.wantClosed || code != tt.wantCode || reason != tt.wantReason {
					t.Fatalf("socket closed=%v code=%d reason=%q, want %v %d %q", closed, code, reason, tt.wantClosed, tt.wantCode, tt.wantReason)
				}
				d, err := f.client.Object(ctx, host.ObjectID{Plugin: "counter", Name: tt.object})
				if err != nil {
					t.Fatal(err)
				}
				wantConns := 1
				if tt.wantClosed {
					wantConns = 0
				}
				if d.State != host.StateHibernated || d.Conns != wantConns {
					t.Fatalf("after evict: state %s, %d conns", d.State, d.Conns)
				}
			})
		}
		// The state survives an evict, and a failed object is cleared by one.
		if got := f.connect(t, "counter/c2").ask(t, "get"); got != "1" {
			t.Fatalf("count after evict --close = %s, want 1", got)
		}
		if _, err := f.client.Evict(ctx, host.ObjectID{Plugin: "loop", Name: "l"}, admin.EvictRequest{}); err != nil {
			t.Fatal(err)
		}
		if got := f.connect(t, "loop/l").ask(t, "ok"); got != "ok" {
			t.Fatalf("evicted failed object answers %q", got)
		}
	})
}

func TestHosts(t *testing.T) {
	f := newFixture(t, host.Options{}, admin.Options{})
	f.deploy(t, "counter", watCounter)
	for _, name := range []string{"counter/a", "counter/b", "counter/c"} {
		f.connect(t, name).ask(t, "inc")
	}
	if _, err := f.client.Evict(context.Background(), host.ObjectID{Plugin: "counter", Name: "b"}, admin.EvictRequest{}); err != nil {
		t.Fatal(err)
	}
	hosts, err := f.client.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := admin.HostStatus{
		HostInfo:    admin.HostInfo{Name: "test-host", PublicURL: "ws://127.0.0.1:1", Version: "test", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		LiveObjects: 2,
	}
	if len(hosts) != 1 || hosts[0] != want {
		t.Fatalf("hosts = %+v, want [%+v]", hosts, want)
	}
	_, body := f.request(t, "GET", "/v1/hosts", nil)
	for _, field := range []string{`"name":"test-host"`, `"public_url":`, `"admin_url":`, `"version":"test"`, `"started":"2026-01-02T03:04:05Z"`, `"live_objects":2`} {
		if !strings.Contains(body, field) {
			t.Errorf("GET /v1/hosts = %s, missing %s", body, field)
		}
	}
}

// Every request needs the token: none or a malformed header is 401 with a
// challenge, a wrong one 403. Unknown routes are JSON 404s only after that.
func TestAuth(t *testing.T) {
	f := newFixture(t, host.Options{}, admin.Options{})
	tests := []struct {
		name   string
		path   string
		auth   string // "" = no header
		status int
		msg    string
	}{
		{"no header", "/v1/plugins", "", 401, "missing Authorization header"},
		{"basic auth", "/v1/plugins", "Basic dXNlcjpwYXNz", 401, "malformed Authorization header"},
		{"bearer without token", "/v1/plugins", "Bearer", 401, "malformed Authorization header"},
		{"bearer with blank token", "/v1/plugins", "Bearer   ", 401, "malformed Authorization header"},
		{"wrong token", "/v1/plugins", "Bearer nope", 403, "wrong admin token"},
		{"token prefix", "/v1/plugins", "Bearer " + testToken[:5], 403, "wrong admin token"},
		{"token with suffix", "/v1/plugins", "Bearer " + testToken + "x", 403, "wrong admin token"},
		{"unknown route unauthenticated", "/v1/secret", "", 401, "missing Authorization header"},
		{"right token", "/v1/plugins", "Bearer " + testToken, 200, ""},
		{"scheme is case-insensitive", "/v1/plugins", "bearer " + testToken, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.request(t, "GET", tt.path, nil, "Authorization", tt.auth)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without a Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tt.msg != "" {
				checkError(t, resp, body, tt.msg)
			}
		})
	}
	// The client reports the server's message with the status.
	bad := admin.NewClient(f.srv.URL, "nope", nil)
	_, err := bad.Plugins(context.Background())
	if err == nil || err.Error() != "403 forbidden: wrong admin token" {
		t.Fatalf("client with a wrong token: %v", err)
	}
}

// Every error a caller can cause has its status and a message naming it.
func TestErrors(t *testing.T) {
	f := newFixture(t, host.Options{}, admin.Options{MaxUpload: 64 << 10})
	f.deploy(t, "counter", watCounter)
	f.connect(t, "counter/busy").ask(t, "inc")
	big := bytes.Repeat([]byte{0}, 100<<10)
	tests := []struct {
		name         string
		method, path string
		body         io.Reader
		status       int
		msg          string
	}{
		{"upload bad name", "POST", "/v1/plugins/Bad", strings.NewReader("x"), 400, `plugin name "Bad" has 'B' at byte 0`},
		{"upload reserved name", "POST", "/v1/plugins/_x", strings.NewReader("x"), 400, "must start with a letter or digit"},
		{"upload garbage", "POST", "/v1/plugins/junk", strings.NewReader("not wasm at all"), 400, "deploy junk: invalid plugin"},
		{"upload a module that is not a plugin", "POST", "/v1/plugins/junk", bytes.NewReader([]byte("\x00asm\x01\x00\x00\x00")), 400, "deploy junk: invalid plugin: missing export"},
		{"upload empty", "POST", "/v1/plugins/junk", nil, 400, "empty body"},
		{"upload too large", "POST", "/v1/plugins/junk", bytes.NewReader(big), 413, "100 KiB, over the 64 KiB upload limit"},
		{"upload too large, chunked", "POST", "/v1/plugins/junk", io.MultiReader(bytes.NewReader(big)), 413, "larger than the 64 KiB upload limit"},
		{"upload with a query", "POST", "/v1/plugins/junk?force=1", strings.NewReader("x"), 400, `unknown query parameter "force"`},
		{"versions of unknown plugin", "GET", "/v1/plugins/nope", nil, 404, "plugin nope: unknown plugin"},
		{"versions of bad name", "GET", "/v1/plugins/NO", nil, 400, "invalid name"},
		{"remove unknown plugin", "DELETE", "/v1/plugins/nope", nil, 404, "unknown plugin"},
		{"remove with live objects", "DELETE", "/v1/plugins/counter", nil, 409, "plugin counter has 1 live or connected object(s) (counter/busy)"},
		{"remove with a bad force", "DELETE", "/v1/plugins/counter?force=maybe", nil, 400, `force="maybe" is not a boolean`},
		{"list with bad state", "GET", "/v1/objects?state=asleep", nil, 400, `state="asleep" is not a state: use live, hibernated or failed`},
		{"list with limit 0", "GET", "/v1/objects?limit=0", nil, 400, `limit="0" is not a number from 1 to 1000`},
		{"list with limit too high", "GET", "/v1/objects?limit=1001", nil, 400, "from 1 to 1000"},
		{"list with bad plugin", "GET", "/v1/objects?plugin=A", nil, 400, "plugin filter: invalid name"},
		{"list with unknown parameter", "GET", "/v1/objects?stat=live", nil, 400, `unknown query parameter "stat": this endpoint takes plugin, state, after, limit`},
		{"list with a repeat", "GET", "/v1/objects?state=live&state=failed", nil, 400, "given 2 times"},
		{"list with a bad query", "GET", "/v1/objects?state=%zz", nil, 400, "malformed query string"},
		{"inspect unknown object", "GET", "/v1/objects/counter/nope", nil, 404, "object counter/nope: not found"},
		{"inspect bad name", "GET", "/v1/objects/counter/a%20b", nil, 400, `object name "a b" has ' ' at byte 1`},
		{"evict unknown object", "POST", "/v1/objects/counter/nope/evict", nil, 404, "evict counter/nope: not found"},
		{"evict code without close", "POST", "/v1/objects/counter/busy/evict", strings.NewReader(`{"code": 4000}`), 400, "needs close=true"},
		{"evict bad code", "POST", "/v1/objects/counter/busy/evict", strings.NewReader(`{"close": true, "code": 1005}`), 400, "close code 1005 cannot be sent"},
		{"evict bad json", "POST", "/v1/objects/counter/busy/evict", strings.NewReader(`{"close": tru`), 400, "evict body"},
		{"evict unknown field", "POST", "/v1/objects/counter/busy/evict", strings.NewReader(`{"closed": true}`), 400, `unknown field "closed"`},
		{"evict query and body", "POST", "/v1/objects/counter/busy/evict?close=true", strings.NewReader(`{"close": true}`), 400, "both the query and the body"},
		{"evict long reason", "POST", "/v1/objects/counter/busy/evict", strings.NewReader(`{"close": true, "reason": "` + strings.Repeat("r", 124) + `"}`), 400, "close reason is 124 bytes"},
		{"evict huge body", "POST", "/v1/objects/counter/busy/evict", bytes.NewReader(big), 413, "evict body is over"},
		{"unknown route", "GET", "/v1/nothing", nil, 404, "no such endpoint: GET /v1/nothing"},
		{"unversioned route", "GET", "/plugins", nil, 404, "no such endpoint"},
		{"wrong method on plugins", "PUT", "/v1/plugins", nil, 405, "method PUT is not allowed on /v1/plugins; allowed: GET"},
		{"wrong method on a plugin", "PATCH", "/v1/plugins/counter", nil, 405, "allowed: DELETE, GET"},
		{"wrong method on evict", "GET", "/v1/objects/counter/busy/evict", nil, 405, "allowed: POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.request(t, tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			checkError(t, resp, body, tt.msg)
			if tt.status == 405 && resp.Header.Get("Allow") == "" {
				t.Fatal("405 without an Allow header")
			}
		})
	}
	// Nothing above changed the host: the plugin and its object are intact.
	if vs, err := f.client.Plugins(context.Background()); err != nil || len(vs) != 1 {
		t.Fatalf("plugins after the errors: %+v, %v", vs, err)
	}
}

// checkError asserts a JSON error answer whose message contains msg.
func checkError(t *testing.T, resp *http.Response, body, msg string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q: %s", ct, body)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("error body %q is not {\"error\": ...}: %v", body, err)
	}
	if !strings.Contains(e.Error, msg) {
		t.Fatalf("error %q, want it to say %q", e.Error, msg)
	}
}

// The client turns transport failures and foreign answers into errors that
// say what happened.
func TestClientErrors(t *testing.T) {
	f := newFixture(t, host.Options{}, admin.Options{})
	url := f.srv.URL
	f.srv.Close()
	_, err := admin.NewClient(url, testToken, nil).Plugins(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("closed server: %v", err)
	}
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>\n  bad gateway\n</html>", http.StatusBadGateway)
	}))
	defer foreign.Close()
	_, err = admin.NewClient(foreign.URL, testToken, nil).Hosts(context.Background())
	want := "502 bad gateway: unexpected answer (is this a torpor admin address?): <html> bad gateway </html>"
	var apiErr *admin.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 502 || err.Error() != want {
		t.Fatalf("foreign answer: %v\nwant %s", err, want)
	}
}

func TestNewWithoutTokenPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "Token is required") {
			t.Fatalf("recovered %v", r)
		}
	}()
	admin.New(nil, admin.Options{})
}

// An upload over the limit comes back as a 413 through the client too, even
// when the server stops reading long before the body ends.
func TestClientUploadTooLarge(t *testing.T) {
	f := newFixture(t, host.Options{}, admin.Options{MaxUpload: 64 << 10})
	_, _, err := f.client.UploadPlugin(context.Background(), "big", make([]byte, 8<<20))
	var apiErr *admin.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("8 MiB upload: %v", err)
	}
	if want := "413 request entity too large: plugin is 8 MiB, over the 64 KiB upload limit of this host"; err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err, want)
	}
}
