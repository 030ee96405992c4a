// Package admin is torpor's operator API: JSON over HTTP on its own
// listener, guarded by a bearer token, and the Go client the CLI uses.
//
// Endpoints (every error answers {"error": "..."} naming the cause):
//
//	POST   /v1/plugins/{name}                    upload wasm: 201 new version, 200 known one
//	GET    /v1/plugins                           active version of every plugin
//	GET    /v1/plugins/{name}                    every version of one plugin
//	DELETE /v1/plugins/{name}[?force=true]       remove; 409 while objects are live or connected
//	GET    /v1/objects[?plugin=&state=&after=&limit=]
//	GET    /v1/objects/{plugin}/{name}           one object in full
//	POST   /v1/objects/{plugin}/{name}/evict     hibernate now; optionally close its sockets
//	GET    /v1/hosts                             the hosts serving objects (every cluster member)
//	POST   /v1/hosts/{name}/drain                move a member's objects to the others: 202
//	GET    /v1/stats                             what the host refused or contained
//	GET    /metrics                              Prometheus metrics, when Options.Metrics is set
//	GET    /debug/pprof/...                      Go runtime profiles, when Options.Profiling is set
//
// A request without a well-formed "Authorization: Bearer TOKEN" header gets
// 401; one with the wrong token gets 403.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/torpor-dev/torpor/host"
)

// HostInfo describes a host for GET /v1/hosts.
type HostInfo struct {
	Name      string    `json:"name"`
	PublicURL string    `json:"public_url"` // where clients connect, e.g. wss://rooms.example.com
	AdminURL  string    `json:"admin_url"`
	Version   string    `json:"version"` // torpor build version
	Started   time.Time `json:"started"`
}

// DefaultMaxUpload is the default limit on an uploaded plugin: a Go plugin is
// about 2 MB, so this leaves room for large ones without letting one request
// hold unbounded memory.
const DefaultMaxUpload = 64 << 20

// Options configures the handler New returns.
type Options struct {
	// Token is the bearer token every request must carry. Required.
	Token string
	// MaxUpload caps a plugin upload in bytes; default DefaultMaxUpload.
	MaxUpload int64
	// Self describes this host for GET /v1/hosts. An empty Name defaults to
	// the OS host name (as host.Options.Name does), a zero Started to the
	// time New was called.
	Self HostInfo
	// Logger receives request failures and changes; default slog.Default().
	Logger *slog.Logger
	// Stats adds sections to GET /v1/stats beside "host" (the host's own
	// counters), e.g. "gateway"; each function is called per request.
	Stats map[string]func() any
	// Metrics, when set, answers GET /metrics behind the token: the
	// Prometheus exposition of host/metrics.Handler, say.
	Metrics http.Handler
	// Cluster, when set, makes the API span the cluster: hosts and object
	// lists gather every member, object calls reach the member that holds
	// the object, and plugins go to every member.
	Cluster Cluster
	// Profiling serves net/http/pprof's profiles under /debug/pprof/,
	// behind the token: CPU, heap and goroutine profiles of a running host
	// are how its cost per event is found.
	Profiling bool
}

// api is the handler New returns.
type api struct {
	h         *host.Host
	tokenSum  [sha256.Size]byte
	maxUpload int64
	self      HostInfo
	log       *slog.Logger
	mux       *http.ServeMux
	stats     map[string]func() any
	cluster   Cluster
}

// New returns the admin API for h as an http.Handler, safe for concurrent
// use. It panics if opts.Token is empty, since an admin API without a token
// would hand the host to anyone who can reach the port.
func New(h *host.Host, opts Options) http.Handler {
	if opts.Token == "" {
		panic("admin: Options.Token is required")
	}
	if opts.MaxUpload <= 0 {
		opts.MaxUpload = DefaultMaxUpload
	}
	if opts.Self.Name == "" {
		opts.Self.Name, _ = os.Hostname()
	}
	if opts.Self.Started.IsZero() {
		opts.Self.Started = time.Now()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &api{
		h:         h,
		tokenSum:  sha256.Sum256([]byte(opts.Token)),
		maxUpload: opts.MaxUpload,
		self:      opts.Self,
		log:       opts.Logger,
		mux:       http.NewServeMux(),
		stats:     opts.Stats,
		cluster:   opts.Cluster,
	}
	a.mux.HandleFunc("POST /v1/plugins/{name}", a.uploadPlugin)
	a.mux.HandleFunc("GET /v1/plugins", a.listPlugins)
	a.mux.HandleFunc("GET /v1/plugins/{name}", a.pluginVersions)
	a.mux.HandleFunc("DELETE /v1/plugins/{name}", a.removePlugin)
	a.mux.HandleFunc("GET /v1/objects", a.listObjects)
	a.mux.HandleFunc("GET /v1/objects/{plugin}/{name}", a.inspectObject)
	a.mux.HandleFunc("POST /v1/objects/{plugin}/{name}/evict", a.evictObject)
	a.mux.HandleFunc("GET /v1/hosts", a.listHosts)
	a.mux.HandleFunc("POST /v1/hosts/{name}/drain", a.drainHost)
	a.mux.HandleFunc("GET /v1/stats", a.getStats)
	if opts.Metrics != nil {
		a.mux.Handle("GET /metrics", opts.Metrics)
	}
	if opts.Profiling {
		a.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		a.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		a.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		a.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		a.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return a
}

// getStats answers GET /v1/stats: {"host": {...}, and every Options.Stats
// section}.
func (a *api) getStats(w http.ResponseWriter, _ *http.Request) {
	out := map[string]any{"host": a.h.Stats()}
	for name, fn := range a.stats {
		out[name] = fn()
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isForwarded(r) && !a.authorize(w, r) {
		return
	}
	handler, pattern := a.mux.Handler(r)
	if pattern == "" {
		// No route: ServeMux would answer in plain text; learn whether it is
		// a 404 or a 405 (and which methods are allowed) and answer in JSON.
		rec := &recorder{header: http.Header{}}
		handler.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			allow := rec.header.Get("Allow")
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
		return
	}
	a.mux.ServeHTTP(w, r)
}

// authorize checks the bearer token in constant time (comparing digests, so
// not even the token's length leaks) and answers 401 or 403 if it fails.
func (a *api) authorize(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	token = strings.TrimSpace(token)
	switch {
	case auth == "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="torpor admin"`)
		writeError(w, http.StatusUnauthorized, `missing Authorization header: send "Authorization: Bearer TOKEN" with the host's admin token`)
		return false
	case !ok || !strings.EqualFold(scheme, "Bearer") || token == "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="torpor admin", error="invalid_request"`)
		writeError(w, http.StatusUnauthorized, `malformed Authorization header: want "Bearer TOKEN"`)
		return false
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
		a.log.Warn("admin request with a wrong token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		writeError(w, http.StatusForbidden, "wrong admin token")
		return false
	}
	return true
}

// recorder captures the status and headers of ServeMux's own 404 and 405
// answers, and drops their plain-text bodies.
type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return len(b), nil
}

// requestError is a client mistake found while decoding a request.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// statusOf maps an error to the HTTP status that names its kind.
func statusOf(err error) int {
	var re *requestError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &re):
		return re.status
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, host.ErrInvalidName), errors.Is(err, host.ErrInvalidPlugin):
		return http.StatusBadRequest
	case errors.Is(err, host.ErrUnknownPlugin), errors.Is(err, host.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, host.ErrObjectFailed):
		return http.StatusConflict
	case errors.Is(err, host.ErrClosed), errors.Is(err, host.ErrOverloaded):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// fail answers err with its status and message, and logs server faults.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= 500 {
		a.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeError(w, status, err.Error())
}

// errorBody is the body of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types reach here; they always marshal.
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode response: `+jsonEscape(err.Error())+`"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
