package gateway_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain shortens the fuzzing engine's minimization for this package
// unless -fuzzminimizetime is given. A run of FuzzRawFrames costs
// milliseconds (a TLS handshake and a room's connect), and coverage from
// the host's and the gateway's goroutines makes new inputs look interesting
// often: with the default minute of minimization per input, workers spend
// most of a fuzzing session minimizing.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		_ = flag.Set("test.fuzzminimizetime", "5s")
	}
	os.Exit(m.Run())
}
