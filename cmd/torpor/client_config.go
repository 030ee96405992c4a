package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/torpor-dev/torpor/host/admin"
)

// Defaults of the operator commands, matching `torpor serve`'s.
const (
	defaultAdminURL = "http://127.0.0.1:8444"
	defaultDataDir  = "./torpor-data"
	// clientTimeout bounds one admin call, uploads included.
	clientTimeout = 5 * time.Minute
)

// clientFlags are the persistent flags of the plugin, object and host
// commands: where the admin API is and how to print its answers.
type clientFlags struct {
	server  string
	token   string
	dataDir string
	output  string
}

func (cf *clientFlags) bind(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&cf.server, "server", "", "admin API URL (env TORPOR_ADMIN_URL; default: the admin-url file in --data-dir, else "+defaultAdminURL+")")
	fs.StringVar(&cf.token, "token", "", "admin token (env TORPOR_ADMIN_TOKEN; default: the admin-token file in --data-dir, when --server is not given either)")
	fs.StringVar(&cf.dataDir, "data-dir", "", "data dir of a host on this machine, read for admin-url and admin-token (env TORPOR_DATA_DIR; default "+defaultDataDir+")")
	fs.StringVarP(&cf.output, "output", "o", "table", "output format: table or json (the API's JSON)")
}

// clientEnv is what an operator command runs with.
type clientEnv struct {
	api    *admin.Client
	server string
	json   bool
	stdout io.Writer
	stderr io.Writer
}

// action wraps an operator command: it resolves the connection settings,
// runs fn, and turns its error into one line that names the cause.
func (cf *clientFlags) action(fn func(ctx context.Context, e *clientEnv, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		e, err := cf.env(cmd, os.Getenv)
		if err != nil {
			return err
		}
		return e.explain(fn(cmd.Context(), e, args))
	}
}

func (cf *clientFlags) env(cmd *cobra.Command, getenv func(string) string) (*clientEnv, error) {
	var asJSON bool
	switch cf.output {
	case "table":
	case "json":
		asJSON = true
	default:
		return nil, fmt.Errorf("unknown output format %q: use table or json", cf.output)
	}
	server, token, err := cf.resolve(getenv)
	if err != nil {
		return nil, err
	}
	return &clientEnv{
		api:    admin.NewClient(server, token, &http.Client{Timeout: clientTimeout}),
		server: server,
		json:   asJSON,
		stdout: cmd.OutOrStdout(),
		stderr: cmd.ErrOrStderr(),
	}, nil
}

// resolve finds the admin URL and token: flags, then environment, then the
// files `torpor serve` writes into its data dir. The token file is read only
// when no server was named either, so a local token is never sent to a
// remote host; and a token given by flag or environment is sent to the URL
// in a data dir's file only when that data dir was named explicitly.
func (cf *clientFlags) resolve(getenv func(string) string) (server, token string, err error) {
	dataDir := firstSet(cf.dataDir, getenv("TORPOR_DATA_DIR"), defaultDataDir)
	server = firstSet(cf.server, getenv("TORPOR_ADMIN_URL"))
	token = firstSet(cf.token, getenv("TORPOR_ADMIN_TOKEN"))
	switch {
	case server != "" && token == "":
		return "", "", fmt.Errorf("no admin token for %s: pass --token or set TORPOR_ADMIN_TOKEN (a host prints its token on first start and keeps it in DATA_DIR/%s)", server, adminTokenFile)
	case server == "" && token != "" && cf.dataDir == "" && getenv("TORPOR_DATA_DIR") == "":
		// A token the user gave must not follow a URL out of a file that
		// merely sits in the working directory (say, an untrusted checkout).
		server = defaultAdminURL
	case server == "":
		server, err = readDataFile(dataDir, adminURLFile)
		if errors.Is(err, os.ErrNotExist) {
			server, err = defaultAdminURL, nil
		}
		if err != nil {
			return "", "", err
		}
	}
	if token == "" {
		token, err = readDataFile(dataDir, adminTokenFile)
		if errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("no admin token: neither --token nor TORPOR_ADMIN_TOKEN is set, and %s has no %s file (start a host with `torpor serve`, or point --data-dir at its data dir)", dataDir, adminTokenFile)
		}
		if err != nil {
			return "", "", err
		}
	}
	server, err = normalizeURL(server)
	return server, token, err
}

// readDataFile reads one of the files serve writes, trimmed; an empty file
// is an error that names it.
func readDataFile(dataDir, name string) (string, error) {
	path := filepath.Join(dataDir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// normalizeURL accepts "host:port" for "http://host:port" and refuses what
// cannot be an admin API address.
func normalizeURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("admin URL %q is not an http(s) URL such as %s", s, defaultAdminURL)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// explain rewrites errors from the admin client into one line naming the
// cause: the server's own message for API errors, and what to do when no
// host answers.
func (e *clientEnv) explain(err error) error {
	if err == nil {
		return nil
	}
	var apiErr *admin.APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("no host answers at %s: start one with `torpor serve`, or point --server (or TORPOR_ADMIN_URL) at a running host's admin API", e.server)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("the admin API at %s did not answer within %s", e.server, clientTimeout)
		}
		return fmt.Errorf("cannot reach the admin API at %s: %v", e.server, ue.Err)
	}
	return err
}

// exactArgs is cobra.ExactArgs with a message that shows the usage.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("want %d argument(s), got %d; usage: %s", n, len(args), strings.TrimSuffix(cmd.UseLine(), " [flags]"))
		}
		return nil
	}
}
