package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/torpor-dev/torpor/host/internal/engine"
)

// Compiling a module is the one thing the host does with a plugin's bytes
// before any limit applies to it, and a few tens of KiB can be made to take
// the compiler minutes and gigabytes. So with Options.CompileCommand set,
// every uploaded module is compiled first in a child process (the same
// binary, running RunCompileWorker) that the host kills when it runs past
// CompileTimeout or its resident memory past CompileMemory; the module is
// then refused with ErrInvalidPlugin naming the budget. The child's work is
// not lost: it fills the compilation cache, from which the host's own
// compile reads the code.

// ErrCompileBudget is wrapped (with ErrInvalidPlugin) by Deploy's error for
// a module whose compilation took longer or needed more memory than the
// host's compile budget.
var ErrCompileBudget = engine.ErrCompileBudget

// RunCompileWorker is the child side of Options.CompileCommand: it reads one
// module from r and compiles it with the settings a host with cacheDir and
// memoryPages uses, filling that compilation cache. It writes nothing on
// success and the reason on w otherwise, and returns the process exit
// status: 0 compiled, 1 not a valid module.
func RunCompileWorker(r io.Reader, w io.Writer, cacheDir string, memoryPages uint32) int {
	wasm, err := io.ReadAll(io.LimitReader(r, maxCompileInput))
	if err != nil {
		fmt.Fprintf(w, "read module: %v\n", err)
		return 2
	}
	err = engine.CheckCompile(context.Background(), engine.Config{CacheDir: cacheDir, MemoryPages: memoryPages}, wasm)
	if err != nil {
		fmt.Fprintln(w, strings.TrimPrefix(err.Error(), engine.ErrInvalid.Error()+": "))
		return 1
	}
	return 0
}

// maxCompileInput bounds what a compile worker reads; uploads are bounded
// well below it by the admin API.
const maxCompileInput = 1 << 30

// compileInChild runs the compile sandbox on wasm.
func (h *Host) compileInChild(ctx context.Context, wasm []byte) error {
	argv := h.opts.CompileCommand
	tctx, cancel := context.WithTimeout(ctx, h.opts.CompileTimeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(wasm)
	out := &limitedBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	// The Go runtime's soft limit keeps an honest compile inside the
	// budget by collecting harder; the watch below is the hard bound.
	cmd.Env = append(os.Environ(), "GOMEMLIMIT="+strconv.FormatInt(h.opts.CompileMemory*3/4, 10))
	cmd.WaitDelay = time.Second
	prepareChild(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start compile worker: %w", err)
	}
	overMemory := make(chan int64, 1)
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchChildMemory(cmd.Process, h.opts.CompileMemory, overMemory, stopWatch)
	}()
	err := cmd.Wait()
	close(stopWatch)
	<-watched
	select {
	case rss := <-overMemory:
		return fmt.Errorf("%w: %w: compiling needed more than %d MiB (%d MiB resident when stopped)",
			ErrInvalidPlugin, ErrCompileBudget, h.opts.CompileMemory>>20, rss>>20)
	default:
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("compile: %w", ctx.Err())
	case tctx.Err() != nil:
		return fmt.Errorf("%w: %w: compiling took longer than %v", ErrInvalidPlugin, ErrCompileBudget, h.opts.CompileTimeout)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return fmt.Errorf("%w: %s", ErrInvalidPlugin, strings.TrimSpace(out.String()))
	}
	return fmt.Errorf("compile worker failed: %v: %s", err, strings.TrimSpace(out.String()))
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
