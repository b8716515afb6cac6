package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted values by
// the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencies summarises a set of durations.
type latencies struct {
	p50, p90, p99, max time.Duration
	n                  int
}

func summarise(ds []time.Duration) latencies {
	s := slices.Clone(ds)
	slices.Sort(s)
	return latencies{percentile(s, 50), percentile(s, 90), percentile(s, 99), percentile(s, 100), len(s)}
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus reads a "Vm..." line of /proc/PID/status, in MB (10^6 bytes).
func procStatus(pid int, field string) (float64, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) != 2 || fs[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected %s line %q", path, field, sc.Text())
		}
		kb, err := strconv.ParseFloat(fs[0], 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024 / 1e6, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s has no %s line", path, field)
}

// resetPeakRSS resets this process's VmHWM to its current RSS (Linux:
// writing 5 to clear_refs). It reports whether that worked.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// meter measures one figure's cost to this process: CPU time over wall time,
// peak RSS (VmHWM after a reset) and the peak Go heap in use (sampled).
type meter struct {
	start    time.Time
	cpu0     time.Duration
	hwmReset bool
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	peakHeap uint64
}

func startMeter() *meter {
	runtime.GC()
	m := &meter{start: time.Now(), cpu0: cpuTime(), hwmReset: resetPeakRSS(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			m.mu.Lock()
			m.peakHeap = max(m.peakHeap, ms.HeapInuse)
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

// cost is what a meter measured.
type cost struct {
	wall       time.Duration
	cpuCores   float64 // CPU time / wall time
	peakRSSMB  float64 // VmHWM (since the reset, if it worked)
	peakHeapMB float64
	hwmReset   bool
}

func (m *meter) end() cost {
	close(m.stop)
	<-m.done
	wall := time.Since(m.start)
	c := cost{wall: wall, cpuCores: float64(cpuTime()-m.cpu0) / float64(wall), hwmReset: m.hwmReset}
	c.peakRSSMB, _ = procStatus(0, "VmHWM")
	m.mu.Lock()
	c.peakHeapMB = float64(m.peakHeap) / 1e6
	m.mu.Unlock()
	return c
}

// loadavg returns the 1-minute load average as printed in /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// text produces pseudo-random lowercase text: descriptions of realistic size
// that do not compress to nothing.
type text struct {
	mu  sync.Mutex
	rng *rand.Rand
	buf []byte
}

func newText(seed uint64) *text {
	t := &text{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	const words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ticket login page error crash timeout reproduce steps expected actual server client deploy rollback"
	ws := strings.Fields(words)
	var sb strings.Builder
	for sb.Len() < 256<<10 {
		sb.WriteString(ws[t.rng.IntN(len(ws))])
		if t.rng.IntN(12) == 0 {
			sb.WriteString(". ")
		} else {
			sb.WriteByte(' ')
		}
	}
	t.buf = []byte(sb.String())
	return t
}

// get returns n bytes of text starting at a random place.
func (t *text) get(n int) string {
	t.mu.Lock()
	off := t.rng.IntN(len(t.buf) - n)
	t.mu.Unlock()
	return string(t.buf[off : off+n])
}
