package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/torpor-dev/torpor/internal/loadgen"
)

// benchBaselineCmd is the baseline server `torpor bench --baseline` runs as
// a child process, so that its CPU and memory are read from /proc exactly
// like the target's. Hidden: only the bench runs it.
const benchBaselineCmd = "bench-baseline-server"

func newBenchBaselineCmd() *cobra.Command {
	var listen, certFile, keyFile string
	cmd := &cobra.Command{
		Use:    benchBaselineCmd,
		Short:  "Serve the broadcast-room protocol with plain gws (run by torpor bench --baseline)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveBaseline(cmd.Context(), listen, certFile, keyFile, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address")
	cmd.Flags().StringVar(&certFile, "tls-cert", "", "certificate (PEM); without it, plain ws://")
	cmd.Flags().StringVar(&keyFile, "tls-key", "", "private key (PEM) for --tls-cert")
	return cmd
}

// serveBaseline serves until ctx ends or stdin closes (the bench that
// started it ended, whichever way), after writing "listening ADDR" as its
// first line of output.
func serveBaseline(ctx context.Context, listen, certFile, keyFile string, stdin io.Reader, stdout io.Writer) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{pair},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		})
	}
	b := loadgen.NewBaseline(loadgen.BaselineOptions{})
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, stdin)
		cancel()
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	srv.Close()
	b.Close()
	return ignoreClosed(err)
}

// baselineProc is a running baseline server.
type baselineProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	addr   string
	tls    *tls.Config // nil for ws://
	dir    string      // its certificate, removed by stop
	stderr *tailBuffer
	exited chan struct{}
}

// startBaseline starts `torpor bench-baseline-server` on a loopback port,
// with a fresh self-signed certificate when useTLS, which the returned
// TLS configuration trusts (and nothing else).
func startBaseline(useTLS bool) (*baselineProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	p := &baselineProc{stderr: &tailBuffer{}, exited: make(chan struct{})}
	args := []string{benchBaselineCmd, "--listen", "127.0.0.1:0"}
	if useTLS {
		if p.dir, err = os.MkdirTemp("", "torpor-bench-"); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		cert, key, err := ensureDevCert(p.dir, slog.New(slog.DiscardHandler))
		if err != nil {
			os.RemoveAll(p.dir)
			return nil, fmt.Errorf("baseline: %w", err)
		}
		pem, err := os.ReadFile(cert)
		if err != nil {
			os.RemoveAll(p.dir)
			return nil, fmt.Errorf("baseline: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		p.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		args = append(args, "--tls-cert", cert, "--tls-key", key)
	}
	p.cmd = exec.Command(exe, args...)
	p.cmd.Stderr = p.stderr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, p.fail(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, p.fail(err)
	}
	if err := p.cmd.Start(); err != nil {
		return nil, p.fail(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, out)
		p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case line, ok := <-lines:
		addr, found := strings.CutPrefix(line, "listening ")
		if !ok || !found {
			p.stop()
			return nil, fmt.Errorf("baseline server did not start: %q %s", line, strings.TrimSpace(p.stderr.String()))
		}
		p.addr = addr
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, errors.New("baseline server did not start within 10s")
	}
	return p, nil
}

func (p *baselineProc) fail(err error) error {
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
	return fmt.Errorf("baseline: %w", err)
}

func (p *baselineProc) pid() int { return p.cmd.Process.Pid }

// url is the target URL template with the baseline's address in place of
// the target's host and port.
func (p *baselineProc) url(target string) string {
	scheme, rest, _ := strings.Cut(target, "://")
	path := ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		path = rest[i:]
	}
	return scheme + "://" + p.addr + path
}

// stop closes the baseline's stdin, which ends it, and kills it if it
// has not exited within 5 s.
func (p *baselineProc) stop() error {
	p.stdin.Close()
	var err error
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		err = errors.New("baseline server did not stop within 5s; killed")
	}
	if p.dir != "" {
		os.RemoveAll(filepath.Clean(p.dir))
	}
	return err
}

// tailBuffer keeps the last 4 KiB written to it: enough of a child's
// output to say why it failed.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4<<10 {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-4<<10:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
