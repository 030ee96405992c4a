//go:build !linux

package loadgen

import (
	"errors"
	"time"
)

// Without /proc the bench measures its clients only: a server's CPU, RSS
// and the machine's idle time read as unknown.

var errNoProc = errors.New("reading another process's CPU and memory needs Linux /proc")

type ProcSample struct {
	CPU   time.Duration
	RSS   int64
	Procs int
}

func SampleProcess(int) (ProcSample, error) { return ProcSample{}, errNoProc }

type MachineSample struct{ Idle, Total uint64 }

func SampleMachine() (MachineSample, error) { return MachineSample{}, errNoProc }

func (s MachineSample) IdleSince(MachineSample) float64 { return -1 }

func SelfCPU() time.Duration { return 0 }

func LoadAverage() float64 { return -1 }

func ProcessFileLimit(int) (uint64, error) { return 0, errNoProc }

// Descendants needs /proc: none are known here.
func Descendants(int) []int { return nil }
