package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/admin"
	"github.com/torpor-dev/torpor/host/cluster"
	"github.com/torpor-dev/torpor/host/gateway"
	"github.com/torpor-dev/torpor/host/metrics"
	"github.com/torpor-dev/torpor/internal/gclimit"
	"github.com/torpor-dev/torpor/web"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Files the serve command keeps in the data dir besides the store. The CLI
// reads admin-url and admin-token so that, on the machine running a dev
// host, `torpor object list` needs no flags.
const (
	adminTokenFile = "admin-token"
	adminURLFile   = "admin-url"
	publicURLFile  = "public-url"
)

func newServeCmd() *cobra.Command {
	var s serveSettings
	var configFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a torpor host: the wss gateway, the demo page and the admin API",
		Long: `Run a torpor host. With no settings it stores everything in ./torpor-data,
serves wss:// on :8443 with a generated dev certificate, the demo page at /,
and the admin API on 127.0.0.1:8444 with a token generated on first run.

Every flag can also be set with an environment variable (TORPOR_ and the flag
name in upper case, '-' as '_', e.g. TORPOR_IDLE=30s) or in a JSON file given
with --config ({"idle": "30s", "origins": ["https://example.com"]}).
Precedence: flag, environment, file, default.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolve(cmd.Flags(), configFile, os.Getenv); err != nil {
				return err
			}
			if err := s.validate(); err != nil {
				return err
			}
			return serve(cmd.Context(), &s, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	s.bindFlags(cmd.Flags())
	cmd.Flags().StringVar(&configFile, "config", os.Getenv("TORPOR_CONFIG"), "JSON file of settings keyed by flag name (env TORPOR_CONFIG)")
	return cmd
}

// serve runs a host until ctx ends (SIGINT or SIGTERM), then shuts down in
// order: stop accepting and close every socket with 1001, stop the admin
// API, hibernate every live object. A second signal during that ends the
// process at once (see main).
func serve(ctx context.Context, s *serveSettings, stdout, stderr io.Writer) error {
	log := newLogger(s, stderr)
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	token, fresh, err := ensureAdminToken(s.DataDir)
	if err != nil {
		return err
	}
	// 0 leaves the runtime's own. Guests come back to Go code often enough
	// to be preempted (see host.Options.GuestCalls), so more threads than
	// cores would only cost scheduler wake-ups: about a sixth of the host's
	// CPU per frame in the chatty shape.
	if s.GoMaxProcs > 0 {
		runtime.GOMAXPROCS(s.GoMaxProcs)
	}
	opts := s.hostOptions()
	opts.Logger = log
	if live := opts.LiveMemory; live >= 0 {
		if live == 0 {
			live = host.DefaultOptions().LiveMemory
		}
		// The live budget bounds the instances; without this the sockets'
		// heap could carry as much garbage again as it holds live, far past
		// what the budget promises for the whole process.
		gc := gclimit.Start(gclimit.Options{Outside: live})
		defer gc.Stop()
	}
	if opts.Name == "" {
		opts.Name, _ = os.Hostname()
	}
	h, err := host.New(opts)
	if err != nil {
		return err
	}
	closeHost := func(ctx context.Context) error {
		if err := h.Close(ctx); err != nil && !errors.Is(err, host.ErrClosed) {
			return err
		}
		return nil
	}
	if s.Examples {
		if err := deployExamples(ctx, h, s.DataDir, log); err != nil {
			closeHost(context.Background())
			if ctx.Err() != nil {
				// SIGINT or SIGTERM while the examples were built or
				// deployed: a stop the operator asked for, not a failure.
				log.Info("stopped during start-up, before serving")
				return nil
			}
			return err
		}
	}

	pub, publicURL, err := listenPublic(s, log)
	if err != nil {
		closeHost(context.Background())
		return err
	}
	adminLn, err := net.Listen("tcp", s.AdminListen)
	if err != nil {
		pub.Close()
		closeHost(context.Background())
		return fmt.Errorf("admin listener: %w", err)
	}
	adminURL := "http://" + displayAddr(adminLn.Addr().String())
	var metricsLn net.Listener
	metricsURL := adminURL + "/metrics"
	if s.MetricsListen != "" {
		if metricsLn, err = net.Listen("tcp", s.MetricsListen); err != nil {
			adminLn.Close()
			pub.Close()
			closeHost(context.Background())
			return fmt.Errorf("metrics listener: %w", err)
		}
		metricsURL = "http://" + displayAddr(metricsLn.Addr().String()) + "/metrics"
	}

	var gwp atomic.Pointer[gateway.Gateway] // for the heartbeats, once it exists
	started := time.Now()
	cl, err := cluster.New(cluster.Options{
		Name:          s.Cluster,
		DataDir:       s.DataDir,
		URL:           s.NATSURL,
		Creds:         s.NATSCreds,
		Listen:        s.NATSListen,
		ClusterListen: s.NATSClusterListen,
		Peers:         s.NATSPeers,
		Token:         s.NATSToken,
		MaxFrame:      s.Host.Limits.FrameSize,
		Self:          cluster.Member{Name: opts.Name, PublicURL: publicURL, AdminURL: adminURL, Version: version, Started: started},
		Load: func() (objects, conns int) {
			if gw := gwp.Load(); gw != nil {
				conns = gw.Conns()
			}
			return h.Metrics().ObjectsLive, conns
		},
		Host:   h,
		Logger: log,
	})
	// abandon undoes the start-up so far, for a failure from here on.
	abandon := func() {
		if metricsLn != nil {
			metricsLn.Close()
		}
		adminLn.Close()
		pub.Close()
		closeHost(context.Background())
	}
	if err != nil {
		abandon()
		return err
	}

	gw := gateway.New(h, gateway.Options{
		Connector:        cl.Connector(),
		AllowedOrigins:   s.Origins,
		HandshakeTimeout: s.HandshakeTimeout,
		PingInterval:     s.PingInterval,
		MaxFrame:         s.Host.Limits.FrameSize,
		SendQueue:        s.SendQueue,
		SendQueueBytes:   s.SendQueueBytes,
		MaxConns:         s.MaxConns,
		MaxPingRate:      s.PingRate,
		Logger:           log,
	})
	gwp.Store(gw)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"status": "ok", "host": opts.Name, "conns": gw.Conns()})
	})
	demo := web.Handler()
	mux.Handle("GET /{$}", demo)
	mux.Handle("GET /_demo/", demo)
	mux.Handle("/", gw)
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	metricsHandler := metrics.Handler(h, gw, log, cl.Collector())
	publicSrv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: s.HandshakeTimeout, // also bounds the TLS handshake
		// Whole-request bounds, so a client that never sends its body
		// cannot hold a connection (and the shutdown) open. The WebSocket
		// upgrade clears these deadlines on the sockets it takes over.
		ReadTimeout:    s.HandshakeTimeout,
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       errLog,
	}
	adminAPI := admin.New(h, admin.Options{
		Token:   token,
		Self:    admin.HostInfo{Name: opts.Name, PublicURL: publicURL, AdminURL: adminURL, Version: version, Started: started},
		Cluster: cl.AdminView(),
		// MaxUpload and the rest keep their defaults.
		Logger: log,
		Stats: map[string]func() any{
			"gateway": func() any { return gw.Stats() },
			"cluster": func() any { return cl.StatsView() },
		},
		Metrics:   metricsHandler,
		Profiling: s.Pprof,
	})
	if err := cl.ServeAdmin(adminAPI, admin.Forwarded); err != nil {
		cl.Close()
		abandon()
		return err
	}
	adminSrv := &http.Server{
		Handler:           adminAPI,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute, // a 64 MiB upload over a slow link
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errLog,
	}

	for file, content := range map[string]string{adminURLFile: adminURL, publicURLFile: publicURL} {
		if err := writeFileAtomic(filepath.Join(s.DataDir, file), []byte(content+"\n"), 0o644); err != nil {
			log.Warn("could not record the URL for the CLI", "file", file, "err", err)
		}
	}
	if fresh {
		fmt.Fprintf(stdout, "admin token (printed once, kept in %s): %s\n", filepath.Join(s.DataDir, adminTokenFile), token)
	}
	log.Info("torpor serving", "public", publicURL, "demo", publicURL+"/", "admin", adminURL, "metrics", metricsURL, "data_dir", s.DataDir, "version", version,
		"cluster", cl.Name(), "host_id", cl.ID(), "nats", natsText(s, cl))

	errc := make(chan error, 3)
	go func() { errc <- publicSrv.Serve(pub) }()
	go func() { errc <- adminSrv.Serve(adminLn) }()
	var metricsSrv *http.Server
	if metricsLn != nil {
		// Only /metrics, without a token: the operator put it on a
		// listener the monitoring network reaches.
		m := http.NewServeMux()
		m.Handle("GET /metrics", metricsHandler)
		metricsSrv = &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: errLog}
		go func() { errc <- metricsSrv.Serve(metricsLn) }()
	}
	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: closing sockets and hibernating objects")
	case serveErr = <-errc:
		log.Error("listener failed; shutting down", "err", serveErr)
	}

	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	// Stop accepting and close the sockets at the same time, so that a
	// connect in flight is cut short rather than waited for; then the admin
	// API (it needs the host); then hibernate every object.
	var publicErr, gatewayErr error
	var stopping sync.WaitGroup
	stopping.Add(2)
	go func() { defer stopping.Done(); publicErr = ignoreClosed(publicSrv.Shutdown(sctx)) }()
	go func() { defer stopping.Done(); gatewayErr = gw.Shutdown(sctx) }()
	stopping.Wait()
	errs := []error{serveErr, publicErr, gatewayErr}
	errs = append(errs, ignoreClosed(adminSrv.Shutdown(sctx)))
	if metricsSrv != nil {
		errs = append(errs, ignoreClosed(metricsSrv.Shutdown(sctx)))
	}
	// Leave the cluster before the objects hibernate, so that the other
	// members stop counting on this host at once.
	errs = append(errs, cl.Close())
	errs = append(errs, closeHost(sctx))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped cleanly")
	return nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// listenPublic opens the public listener, with TLS unless --plain, and
// returns the URL clients use.
func listenPublic(s *serveSettings, log *slog.Logger) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return nil, "", fmt.Errorf("public listener: %w", err)
	}
	scheme := "https"
	if s.Plain {
		scheme = "http"
	} else {
		certPath, keyPath := s.TLSCert, s.TLSKey
		if certPath == "" {
			if certPath, keyPath, err = ensureDevCert(s.DataDir, log); err != nil {
				ln.Close()
				return nil, "", err
			}
		}
		reloader, err := newCertReloader(certPath, keyPath, log)
		if err != nil {
			ln.Close()
			return nil, "", err
		}
		ln = tls.NewListener(ln, &tls.Config{
			GetCertificate: reloader.GetCertificate,
			MinVersion:     tls.VersionTLS12,
			// WebSockets upgrade over HTTP/1.1 only.
			NextProtos: []string{"http/1.1"},
		})
	}
	url := s.PublicURL
	if url == "" {
		url = scheme + "://" + displayAddr(ln.Addr().String())
	}
	return ln, strings.TrimSuffix(url, "/"), nil
}

// displayAddr turns a listen address into one a browser on this machine
// can use: the unspecified address becomes localhost.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// ensureAdminToken returns the data dir's admin token, generating it on
// first run (fresh = true, so the caller prints it once).
func ensureAdminToken(dataDir string) (token string, fresh bool, err error) {
	path := filepath.Join(dataDir, adminTokenFile)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), false, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	token = hex.EncodeToString(raw)
	if err := writeFileAtomic(path, []byte(token+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	return token, true, nil
}

func newLogger(s *serveSettings, w io.Writer) *slog.Logger {
	level, _ := parseLevel(s.LogLevel) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// natsText says which NATS the host uses, for the start-up line.
func natsText(s *serveSettings, cl *cluster.Cluster) string {
	switch {
	case s.NATSURL != "":
		return s.NATSURL
	case cl.ClientURL() != "":
		return "embedded, clients at " + cl.ClientURL()
	case len(s.NATSPeers) > 0:
		return "embedded, routes to " + strings.Join(s.NATSPeers, ",")
	default:
		return "embedded"
	}
}
