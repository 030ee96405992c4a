package host

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prepareChild makes the kernel kill the compile worker if the host dies.
func prepareChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// watchChildMemory kills p when its resident memory passes limit, sending
// the last reading on over, until stop is closed.
func watchChildMemory(p *os.Process, limit int64, over chan<- int64, stop <-chan struct{}) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	status := fmt.Sprintf("/proc/%d/status", p.Pid)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		rss, ok := residentBytes(status)
		if ok && rss > limit {
			over <- rss
			p.Kill()
			return
		}
	}
}

// residentBytes reads VmRSS from a /proc status file.
func residentBytes(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kib << 10, err == nil
		}
	}
	return 0, false
}
