// Package web is torpor's demo page: a chat room on the example chat plugin
// (plugins/chat), in plain HTML, CSS and JavaScript embedded in the binary.
//
// Handler serves GET / (the page) and GET /_demo/{file} (its script, style
// sheet and icon). The page connects to wss://<same host>/chat/<room>, so it
// is meant to be mounted next to the gateway on one server:
//
//	mux.Handle("/{$}", web.Handler())
//	mux.Handle("/_demo/", web.Handler())
//	mux.Handle("/", gateway)
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed index.html assets
var files embed.FS

// types are the Content-Types of the files the page is made of; a file with
// another extension is not served.
var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file is one embedded file, read once.
type file struct {
	name  string
	ctype string
	etag  string
	body  []byte
}

// Handler returns the demo page's handler. It answers GET and HEAD for / and
// /_demo/{file}, 404 for other paths and 405 for other methods.
func Handler() http.Handler {
	mux := http.NewServeMux()
	index := load("index.html")
	mux.Handle("GET /{$}", index)
	assets := map[string]*file{}
	entries, err := fs.ReadDir(files, "assets")
	if err != nil {
		panic(err) // the embedded directory is always there
	}
	for _, e := range entries {
		if _, ok := types[path.Ext(e.Name())]; ok && !e.IsDir() {
			assets[e.Name()] = load("assets/" + e.Name())
		}
	}
	mux.HandleFunc("GET /_demo/{file}", func(w http.ResponseWriter, r *http.Request) {
		f, ok := assets[r.PathValue("file")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		f.ServeHTTP(w, r)
	})
	return mux
}

func load(name string) *file {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time
	}
	sum := sha256.Sum256(b)
	return &file{
		name:  path.Base(name),
		ctype: types[path.Ext(name)],
		etag:  `"` + hex.EncodeToString(sum[:8]) + `"`,
		body:  b,
	}
}

// ServeHTTP serves the file with validators, so that no-cache costs a 304.
func (f *file) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", csp(r.Host))
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}

// csp is the page's Content-Security-Policy: everything from the page's own
// origin only, and WebSockets to its own host. 'self' covers ws: and wss: of
// the same host in CSP Level 3, but older browsers need them spelled out.
func csp(host string) string {
	connect := "'self'"
	if validHost(host) {
		connect += " wss://" + host + " ws://" + host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src " + connect + "; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// validHost reports whether host (the request's Host, possibly with a port)
// can go into the policy as is: letters, digits, '.', '-', ':' and the
// brackets of an IPv6 literal. Anything else would let a client inject
// sources into the header.
func validHost(host string) bool {
	if host == "" || len(host) > 255 {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
