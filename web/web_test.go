package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, method, target string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRoutes(t *testing.T) {
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script src="/_demo/app.js"`},
		{"/_demo/app.js", "text/javascript; charset=utf-8", "new WebSocket("},
		{"/_demo/style.css", "text/css; charset=utf-8", ".messages"},
		{"/_demo/icon.svg", "image/svg+xml", "<svg"},
	} {
		res := get(t, "GET", tc.path)
		b := body(t, res)
		if res.StatusCode != 200 {
			t.Errorf("GET %s: status %d, want 200", tc.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", tc.path, got)
		}
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", tc.path, got)
		}
		if !strings.Contains(b, tc.contains) {
			t.Errorf("GET %s: body does not contain %q", tc.path, tc.contains)
		}
		if res.Header.Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", tc.path)
		}

		head := get(t, "HEAD", tc.path)
		if head.StatusCode != 200 || body(t, head) != "" || head.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("HEAD %s: status %d, Content-Type %q", tc.path, head.StatusCode, head.Header.Get("Content-Type"))
		}

		again := get(t, "GET", tc.path, "If-None-Match", res.Header.Get("ETag"))
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: status %d, want 304", tc.path, again.StatusCode)
		}
	}
}

func TestNotFound(t *testing.T) {
	for _, path := range []string{
		"/_demo/",
		"/_demo/nope.js",
		"/_demo/index.html",
		"/_demo/app.js/x",
		"/_demo/..%2fweb.go",
		"/_demo/%2e%2e",
		"/index.html",
		"/_demo",
		"/chat/lobby",
	} {
		if res := get(t, "GET", path); res.StatusCode != 404 {
			t.Errorf("GET %s: status %d, want 404", path, res.StatusCode)
		}
	}
	// The mux redirects an unclean path to its clean form, which is not found.
	if res := get(t, "GET", "/_demo/../web.go"); res.StatusCode/100 != 3 {
		t.Errorf("GET /_demo/../web.go: status %d, want a redirect", res.StatusCode)
	}
}

func TestMethods(t *testing.T) {
	for _, method := range []string{"POST", "PUT", "DELETE"} {
		res := get(t, method, "/")
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /: status %d, want 405", method, res.StatusCode)
		}
	}
}

func TestCSP(t *testing.T) {
	res := get(t, "GET", "https://chat.example.com:8443/")
	csp := res.Header.Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	want := map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"connect-src":     "'self' wss://chat.example.com:8443 ws://chat.example.com:8443",
		"base-uri":        "'none'",
		"frame-ancestors": "'none'",
	}
	for name, value := range want {
		if directives[name] != value {
			t.Errorf("CSP %s = %q, want %q (policy %q)", name, directives[name], value, csp)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") {
		t.Errorf("CSP %q allows more than the page's origin", csp)
	}
	// The page loads nothing from elsewhere.
	page := body(t, get(t, "GET", "/"))
	for _, ref := range []string{"http:", "https:", "//", "style=", "onclick", "<script>"} {
		if strings.Contains(page, ref) {
			t.Errorf("index.html contains %q, which the policy forbids or which loads from elsewhere", ref)
		}
	}
}

func TestCSPHostInjection(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "evil.example; script-src *"
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	csp := rec.Result().Header.Get("Content-Security-Policy")
	if strings.Contains(csp, "evil") || !strings.Contains(csp, "connect-src 'self';") {
		t.Errorf("CSP for a bad Host is %q", csp)
	}
}
