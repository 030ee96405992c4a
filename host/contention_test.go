package host_test

import (
	"encoding/binary"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
)

// The event limit is the handler's own CPU time: with every core saturated
// by other processes, a handler doing 300 ms of real work under a 1 s limit
// still succeeds, although it takes well over a second of wall time, and a
// handler that spins is still stopped after about a second of its own CPU.
func TestCPULimitIgnoresContention(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the CPU-time limit reads Linux thread clocks; elsewhere it is wall time")
	}
	const limit = time.Second
	h := newHost(t, host.Options{Limits: host.Limits{EventCPU: limit}})
	deploy(t, h, "work", testdata("work.wat"))
	c := connect(t, h, "work/a", "")
	work := func(n uint64) (cpu, wall time.Duration) {
		t.Helper()
		frame := binary.LittleEndian.AppendUint64(nil, n)
		cpu0, start := processCPU(t), time.Now()
		if err := c.sess.Message(t.Context(), abi.Binary, frame); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Frames:
		case <-time.After(40 * time.Second):
			t.Fatalf("no reply to %d iterations within 60s", n)
		}
		return processCPU(t) - cpu0, time.Since(start)
	}

	// Calibrate on the quiet machine: how many iterations make 300 ms (a
	// probe of some tens of milliseconds, so that the event's own cost does
	// not skew it).
	const probe = 50_000_000
	cpu, _ := work(probe)
	t.Logf("calibration: %d iterations in %v of CPU", probe, cpu)
	n300 := uint64(float64(probe) * float64(300*time.Millisecond) / float64(cpu))

	// Six busy processes per core: this test's thread gets about a
	// seventh of a core, so 300 ms of work takes about two seconds of wall
	// time, which a wall-clock limit would have stopped.
	spinners := 6 * runtime.NumCPU()
	for range spinners {
		cmd := exec.Command("timeout", "120", "sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatalf("start a busy process: %v", err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
	}
	time.Sleep(300 * time.Millisecond)

	cpu, wall := work(n300)
	t.Logf("300 ms of work with %d busy processes: %v CPU, %v wall", spinners, cpu.Round(time.Millisecond), wall.Round(time.Millisecond))
	if wall < limit {
		t.Fatalf("%d busy processes did not slow 300 ms of work past the %v limit (%v wall): the test proves nothing", spinners, limit, wall)
	}

	// A spinner: its event fails at its limit, then the next frame (a
	// small piece of work) is answered by a fresh instance.
	frame := binary.LittleEndian.AppendUint64(nil, 0)
	cpu0, start := processCPU(t), time.Now()
	if err := c.sess.Message(t.Context(), abi.Binary, frame); err != nil {
		t.Fatal(err)
	}
	work(1000)
	spinCPU := processCPU(t) - cpu0
	spinWall := time.Since(start)
	t.Logf("spinner under a %v limit: stopped after %v CPU, %v wall", limit, spinCPU.Round(time.Millisecond), spinWall.Round(time.Millisecond))
	if spinCPU < limit*9/10 || spinCPU > limit*2 {
		t.Fatalf("spinner used %v of CPU before it was stopped, want about %v", spinCPU, limit)
	}
	if got := h.Stats().Timeouts; got != 1 {
		t.Fatalf("host counted %d timeouts, want 1", got)
	}
}

// processCPU is the CPU time this process has used, user and system.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
