package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/torpor-dev/torpor/host"
)

// run executes the command line and returns the process exit code; errors
// are printed as one line on stderr. It is main without the process, so
// tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "torpor:", err)
		var ec exitCoder
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		return 1
	}
	return 0
}

// exitCoder is an error that chooses the process exit code.
type exitCoder interface{ ExitCode() int }

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "torpor",
		Short:         "A self-hosted home for stateful WebSocket objects",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServeCmd(), newCompileWorkerCmd())
	root.AddCommand(newBenchCmd(), newBenchBaselineCmd())
	root.AddCommand(newInitCmd())
	addClientCommands(root)
	return root
}

// compileWorkerCmd is the child process `torpor serve` compiles every
// uploaded module in first (host.Options.CompileCommand), so that a module
// built to exhaust the compiler is killed there, not in the host. Hidden:
// only the host runs it.
const compileWorkerCmd = "compile-worker"

func newCompileWorkerCmd() *cobra.Command {
	var cacheDir string
	var pages uint32
	cmd := &cobra.Command{
		Use:    compileWorkerCmd,
		Short:  "Compile one module from stdin (run by torpor serve)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if code := host.RunCompileWorker(cmd.InOrStdin(), cmd.ErrOrStderr(), cacheDir, pages); code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cacheDir, "cache-dir", "", "compilation cache to fill")
	cmd.Flags().Uint32Var(&pages, "memory-pages", 0, "the host's --memory-pages")
	return cmd
}

// exitCode is an error that only sets the exit code: the worker has written
// its message already.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitCode) ExitCode() int { return int(e) }
