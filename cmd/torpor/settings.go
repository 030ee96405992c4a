package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/cluster"
)

// serveSettings is everything `torpor serve` can be told. Each field is one
// flag; the same setting may come from the environment (TORPOR_ plus the flag
// name in upper case with '-' as '_') or a JSON config file, in that order of
// precedence below the command line.
type serveSettings struct {
	DataDir     string
	Listen      string
	AdminListen string
	PublicURL   string
	TLSCert     string
	TLSKey      string
	Plain       bool
	Origins     []string
	Name        string
	Examples    bool

	// MetricsListen, when set, serves /metrics there without a token;
	// the admin listener serves it with the token either way.
	MetricsListen string
	// Pprof serves Go runtime profiles on the admin listener.
	Pprof bool

	ShutdownTimeout  time.Duration
	HandshakeTimeout time.Duration
	PingInterval     time.Duration
	SendQueue        int
	SendQueueBytes   int
	MaxConns         int
	PingRate         int
	GoMaxProcs       int

	// Cluster settings: the cluster's name, the embedded NATS server's
	// client and route listeners and its peers' routes, or an existing
	// NATS to join instead (and its credentials file).
	Cluster           string
	NATSListen        string
	NATSClusterListen string
	NATSPeers         []string
	NATSURL           string
	NATSCreds         string
	NATSToken         string

	// Host holds the host's own settings (idle, pool, mailbox, failures,
	// alarm retries and every limit), bound to flags field by field.
	Host host.Options

	LogFormat string
	LogLevel  string
}

// bindFlags registers every setting with its default.
func (s *serveSettings) bindFlags(fs *pflag.FlagSet) {
	o := host.DefaultOptions()
	d := o.Limits
	fs.StringVar(&s.DataDir, "data-dir", "./torpor-data", "directory for the store, the dev certificate and the admin token")
	fs.StringVar(&s.Listen, "listen", ":8443", "public address: the WebSocket gateway and the demo page")
	fs.StringVar(&s.AdminListen, "admin-listen", "127.0.0.1:8444", "admin API address (keep it on loopback or a private network)")
	fs.StringVar(&s.MetricsListen, "metrics-listen", "", "also serve Prometheus /metrics on this address, without a token (default: only on the admin listener, with it)")
	fs.BoolVar(&s.Pprof, "pprof", false, "serve Go runtime profiles (net/http/pprof) under /debug/pprof/ on the admin listener, behind the token")
	fs.StringVar(&s.PublicURL, "public-url", "", "URL clients use to reach this host (default: derived from --listen)")
	fs.StringVar(&s.TLSCert, "tls-cert", "", "certificate file (PEM); reloaded when it changes. Default: a dev certificate generated in the data dir")
	fs.StringVar(&s.TLSKey, "tls-key", "", "private key file (PEM) for --tls-cert")
	fs.BoolVar(&s.Plain, "plain", false, "serve plain ws:// instead of wss:// (only behind a TLS-terminating proxy)")
	fs.StringSliceVar(&s.Origins, "origins", nil, "allowed WebSocket Origin values, comma-separated (default: any)")
	fs.StringVar(&s.Name, "name", "", "host name in listings (default: the OS host name)")
	fs.BoolVar(&s.Examples, "examples", true, "deploy the example plugins embedded in the binary (chat, counter, broadcast, counter-wat) at first start")

	fs.StringVar(&s.Cluster, "cluster", cluster.DefaultName, "cluster name: hosts that share it and a NATS network form one cluster")
	fs.StringVar(&s.NATSListen, "nats-listen", "", "expose the embedded NATS server to NATS clients (the nats CLI, say) on this address (default: no client listener)")
	fs.StringVar(&s.NATSClusterListen, "nats-cluster-listen", "", "address where other hosts' embedded NATS servers connect to this one (needed with --nats-peers)")
	fs.StringSliceVar(&s.NATSPeers, "nats-peers", nil, "route URLs of other hosts' embedded NATS servers, comma-separated, e.g. nats-route://10.0.0.2:6222")
	fs.StringVar(&s.NATSURL, "nats", "", "join this existing NATS (nats://host:4222) instead of embedding a server")
	fs.StringVar(&s.NATSCreds, "nats-creds", "", "credentials file for --nats")
	fs.StringVar(&s.NATSToken, "nats-token", "", "shared secret of the cluster's embedded NATS servers: required of every route (give every host the same) and of clients of --nats-listen. Without it, anyone who reaches --nats-cluster-listen can join")

	fs.DurationVar(&s.Host.Idle, "idle", o.Idle, "hibernate an object after this long without events")
	fs.IntVar(&s.Host.Prewarm, "prewarm", o.Prewarm, "initialised instances kept ready per plugin, for fast wakes")
	fs.IntVar(&s.Host.Mailbox, "mailbox", o.Mailbox, "events queued per object before senders wait")
	fs.IntVar(&s.Host.MaxFailures, "max-failures", o.MaxFailures, "consecutive failed events that mark an object failed")
	fs.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long SIGINT/SIGTERM may take to close sockets and hibernate objects")
	fs.DurationVar(&s.HandshakeTimeout, "handshake-timeout", 10*time.Second, "limit for a client's TLS and HTTP handshake and the plugin's connect handler")
	fs.DurationVar(&s.PingInterval, "ping-interval", 30*time.Second, "WebSocket keepalive ping interval; a peer silent for twice this is closed")
	fs.IntVar(&s.SendQueue, "send-queue", 256, "frames queued per connection before a slow reader is closed")
	fs.IntVar(&s.SendQueueBytes, "send-queue-bytes", 8<<20, "bytes queued per connection before a slow reader is closed")
	fs.IntVar(&s.MaxConns, "max-conns", 50000, "WebSocket connections (and handshakes) open at once; more are answered 503")
	fs.IntVar(&s.PingRate, "ping-rate", 100, "pings a second a client may send (as many at once); a faster one is closed with 1008; negative: no limit")

	fs.Uint32Var(&s.Host.Limits.MemoryPages, "memory-pages", d.MemoryPages, "linear memory limit per instance, in 64 KiB pages")
	fs.DurationVar(&s.Host.Limits.EventCPU, "event-cpu", d.EventCPU, "CPU time limit for one event handler (its own thread's time, not the machine's)")
	fs.IntVar(&s.Host.Limits.FrameSize, "frame-size", d.FrameSize, "largest WebSocket frame, in bytes, either direction")
	fs.IntVar(&s.Host.Limits.ConnsPerObject, "conns-per-object", d.ConnsPerObject, "connections per object")
	fs.IntVar(&s.Host.Limits.AttachmentSize, "attachment-size", d.AttachmentSize, "largest connection attachment, in bytes")
	fs.IntVar(&s.Host.Limits.Tags, "tags", d.Tags, "tags per connection")
	fs.IntVar(&s.Host.Limits.TagSize, "tag-size", d.TagSize, "largest tag, in bytes")
	fs.IntVar(&s.Host.Limits.KeySize, "key-size", d.KeySize, "largest storage key, in bytes")
	fs.IntVar(&s.Host.Limits.ValueSize, "value-size", d.ValueSize, "largest storage value, in bytes")
	fs.IntVar(&s.Host.Limits.EventWrites, "event-writes", d.EventWrites, "storage bytes one event may write")
	fs.IntVar(&s.Host.Limits.SnapshotSize, "snapshot-size", d.SnapshotSize, "largest snapshot, in bytes")
	fs.IntVar(&s.Host.Limits.EventOutput, "event-output", d.EventOutput, "frame bytes one event may send (a broadcast counts once)")
	fs.IntVar(&s.Host.Limits.AutoResponses, "auto-responses", d.AutoResponses, "auto-response pairs per object")
	fs.IntVar(&s.Host.Limits.AutoResponseSize, "auto-response-size", d.AutoResponseSize, "largest auto-response request or response, in bytes")
	fs.IntVar(&s.Host.AlarmRetries, "alarm-retries", o.AlarmRetries, "retries of a failing alarm (backoff from 1 s, doubling) before it is dropped")
	fs.DurationVar(&s.Host.Limits.EventWall, "event-wall", d.EventWall, "wall-clock limit for one event handler, whatever its CPU use")
	fs.DurationVar(&s.Host.Limits.InitCPU, "init-cpu", d.InitCPU, "CPU time limit for instantiating a plugin (start function and _initialize)")
	fs.DurationVar(&s.Host.Limits.InitWall, "init-wall", d.InitWall, "wall-clock limit for instantiating a plugin")
	fs.Int64Var(&s.Host.MemoryBudget, "memory-budget", o.MemoryBudget, "bytes of linear memory all instances together may hold, pools included (default: half the machine's memory)")
	fs.Int64Var(&s.Host.LiveMemory, "live-memory", o.LiveMemory, "bytes live instances may hold together (linear memory plus a fixed overhead each); before a wake would pass it, the least recently active objects are hibernated (default: a quarter of the machine's memory; negative: no bound)")
	fs.IntVar(&s.Host.LiveObjects, "live-objects", 0, "live objects at once; before a wake would pass it, the least recently active are hibernated (0: no bound)")
	fs.Int64Var(&s.Host.PluginMemory, "plugin-memory", 0, "bytes of the memory budget one plugin may hold (default: half the budget)")
	fs.IntVar(&s.Host.GuestCalls, "guest-calls", 0, "guest calls running at once, host-wide (default: 4 per core, at least 8)")
	fs.IntVar(&s.Host.PluginCalls, "plugin-calls", 0, "guest calls of one plugin running at once (default: three quarters of --guest-calls)")
	fs.IntVar(&s.GoMaxProcs, "gomaxprocs", 0, "Go scheduler threads (default: the Go runtime's: $GOMAXPROCS, else the cores this process may use)")
	fs.DurationVar(&s.Host.CompileTimeout, "compile-timeout", o.CompileTimeout, "time budget for compiling an uploaded module, in a child process")
	fs.Int64Var(&s.Host.CompileMemory, "compile-memory", o.CompileMemory, "memory budget (resident bytes) for compiling an uploaded module")
	fs.IntVar(&s.Host.Limits.StackSize, "stack-size", d.StackSize, "native stack one handler call may use, in bytes (estimated per call from the function's parameters and locals); deeper calls trap")
	fs.IntVar(&s.Host.Limits.LogLine, "guest-log-line", d.LogLine, "longest guest log line, in bytes; longer ones are cut")
	fs.IntVar(&s.Host.Limits.LogEvent, "guest-log-event", d.LogEvent, "guest log bytes one event may write; more are dropped")
	fs.IntVar(&s.Host.Limits.LogRate, "guest-log-rate", d.LogRate, "guest log lines per second one object may write (bursts up to ten seconds' worth); more are dropped")

	fs.StringVar(&s.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&s.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// envName is the environment variable for a flag.
func envName(flag string) string {
	return "TORPOR_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// resolve fills every flag the command line did not set from the
// environment, then from the config file (if any), so that precedence is
// flag > environment > file > default.
func resolve(fs *pflag.FlagSet, configFile string, getenv func(string) string) error {
	file := map[string]any{}
	if configFile != "" {
		raw, err := os.ReadFile(configFile)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if err := json.Unmarshal(raw, &file); err != nil {
			return fmt.Errorf("config file %s: not a JSON object of settings: %w", configFile, err)
		}
		var unknown []string
		for k := range file {
			if f := fs.Lookup(k); f == nil || k == "config" {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return fmt.Errorf("config file %s: unknown setting %s (settings are named like the flags of `torpor serve`)", configFile, strings.Join(unknown, ", "))
		}
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "config" {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if e := fs.Set(f.Name, fileValue(v)); e != nil {
				err = fmt.Errorf("config file %s: %s: %w", configFile, f.Name, e)
			}
		}
	})
	return err
}

// fileValue renders a JSON value the way the flag parser reads it.
func fileValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, p := range v {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ",")
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

func (s *serveSettings) validate() error {
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if s.Plain && s.TLSCert != "" {
		return fmt.Errorf("--plain and --tls-cert contradict each other")
	}
	switch s.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q: want text or json", s.LogFormat)
	}
	if _, err := parseLevel(s.LogLevel); err != nil {
		return err
	}
	if s.NATSURL != "" && (s.NATSListen != "" || s.NATSClusterListen != "" || len(s.NATSPeers) > 0) {
		return fmt.Errorf("--nats joins an existing NATS; --nats-listen, --nats-cluster-listen and --nats-peers are for the embedded server instead")
	}
	if s.NATSToken != "" && s.NATSURL != "" {
		return fmt.Errorf("--nats-token is for the embedded server; with --nats, use --nats-creds")
	}
	if s.NATSCreds != "" && s.NATSURL == "" {
		return fmt.Errorf("--nats-creds is for --nats")
	}
	if len(s.NATSPeers) > 0 && s.NATSClusterListen == "" {
		return fmt.Errorf("--nats-peers needs --nats-cluster-listen: the address the peers' servers connect back to")
	}
	return nil
}

func (s *serveSettings) hostOptions() host.Options {
	o := s.Host
	o.DataDir, o.Name = s.DataDir, s.Name
	// Every upload is compiled first by a child process of this binary,
	// into the cache the host then reads (see host.Options.CompileCommand).
	if exe, err := os.Executable(); err == nil {
		cache := o.CacheDir
		if cache == "" {
			cache = filepath.Join(o.DataDir, "wasm-cache")
		}
		o.CompileCommand = []string{exe, compileWorkerCmd, "--cache-dir", cache, "--memory-pages", strconv.FormatUint(uint64(o.Limits.MemoryPages), 10)}
	}
	return o
}
