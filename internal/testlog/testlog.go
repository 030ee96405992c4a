// Package testlog gives tests a logger that is silent unless the
// TORPOR_TEST_LOG environment variable is set, in which case it writes debug
// logs to stderr. Logging through testing.T would panic when a background
// goroutine logs after its test ended.
package testlog

import (
	"io"
	"log/slog"
	"os"
)

// Discard returns the test logger.
func Discard() *slog.Logger {
	if os.Getenv("TORPOR_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
