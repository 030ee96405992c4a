package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat. Linux fixes
// USER_HZ at 100 for user space on every architecture, whatever the
// kernel's own HZ, so no sysconf(_SC_CLK_TCK) (and no cgo) is needed.
const clockTick = 10 * time.Millisecond

// ProcSample is a process's resource use at one moment, its descendants
// included.
type ProcSample struct {
	// CPU is user plus system time: the process's own (utime, stime), of
	// its reaped children (cutime, cstime), and of its live descendants.
	CPU time.Duration
	// RSS is the resident set (VmRSS) of the process and its live
	// descendants, in bytes.
	RSS int64
	// Procs counts the process and its live descendants.
	Procs int
}

// SampleProcess reads pid's CPU time and RSS, and its descendants', from
// /proc.
func SampleProcess(pid int) (ProcSample, error) {
	fields, err := procStat(pid)
	if err != nil {
		return ProcSample{}, err
	}
	var s ProcSample
	// Fields after "(comm)", numbered as in proc(5) minus 3: utime is 14,
	// stime 15, cutime 16, cstime 17.
	for _, i := range []int{14, 15, 16, 17} {
		s.CPU += ticks(fields, i)
	}
	rss, err := procRSS(pid)
	if err != nil {
		return ProcSample{}, err
	}
	s.RSS, s.Procs = rss, 1
	for _, child := range Descendants(pid) {
		f, err := procStat(child)
		if err != nil {
			continue // exited meanwhile
		}
		r, err := procRSS(child)
		if err != nil {
			continue
		}
		s.CPU += ticks(f, 14) + ticks(f, 15)
		s.RSS += r
		s.Procs++
	}
	return s, nil
}

// procStat returns the fields of /proc/PID/stat after the command name,
// which may itself hold spaces and parentheses: fields[0] is field 3 of
// proc(5), the state.
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("process %d: /proc/%d/stat does not parse", pid, pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return nil, fmt.Errorf("process %d: /proc/%d/stat has %d fields", pid, pid, len(fields))
	}
	return fields, nil
}

// ticks converts proc(5) field n (1-based) of a procStat result.
func ticks(fields []string, n int) time.Duration {
	v, _ := strconv.ParseInt(fields[n-3], 10, 64)
	return time.Duration(v) * clockTick
}

func procRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("process %d: VmRSS %q: %w", pid, rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, nil // a zombie has no VmRSS
}

// Descendants lists pid's live descendants. It reads every process's
// parent from /proc, because /proc/PID/task/TID/children needs a kernel
// option that not every kernel has.
func Descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := procStat(p)
		if err != nil {
			continue
		}
		ppid, _ := strconv.Atoi(f[1]) // field 4
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}

// MachineSample is the machine's CPU time from /proc/stat, in clock ticks
// summed over all cores.
type MachineSample struct {
	Idle, Total uint64
}

// SampleMachine reads the first line of /proc/stat.
func SampleMachine() (MachineSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineSample{}, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 6 || fields[0] != "cpu" {
		return MachineSample{}, fmt.Errorf("/proc/stat: first line %q", line)
	}
	var s MachineSample
	// user nice system idle iowait irq softirq steal; guest time is
	// already counted in user.
	for i, f := range fields[1:min(len(fields), 9)] {
		v, _ := strconv.ParseUint(f, 10, 64)
		s.Total += v
		if i == 3 || i == 4 {
			s.Idle += v
		}
	}
	return s, nil
}

// IdleSince is the fraction of the machine's CPU time that was idle
// between an earlier sample and s; -1 when no time passed.
func (s MachineSample) IdleSince(earlier MachineSample) float64 {
	if s.Total <= earlier.Total {
		return -1
	}
	return float64(s.Idle-earlier.Idle) / float64(s.Total-earlier.Total)
}

// SelfCPU is this process's user plus system time.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// LoadAverage is the machine's one-minute load average; -1 if unknown.
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// ProcessFileLimit is the soft open-file limit of process pid.
func ProcessFileLimit(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if f[0] == "unlimited" {
					return 1 << 62, nil
				}
				return strconv.ParseUint(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("process %d: no open-file limit in /proc/%d/limits", pid, pid)
}
