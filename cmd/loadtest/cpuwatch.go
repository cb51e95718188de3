package main

// -cpu-pids: the CPU time and memory of the processes under test, per order and over time.
//
// Throughput alone cannot tell a system that does more work per order from a machine that gives it less CPU
// (on a shared VM the second happens by the minute). Given the target's process ids, on the same machine,
// the load tester reads their CPU time from /proc/<pid>/stat (user and system time of all their threads, in
// USER_HZ ticks, which Linux fixes at 100 a second for this file) when the orders start, every second, and
// when the last answer is in, and its own through getrusage (internal/cputime). The summary then gives each
// process's CPU per successful order and share, the timeline the cores they used each second, and the
// steadiness windows their CPU per order: with the store in a process of its own (cmd/docstore), that is the
// split of the target 3 in one command. Each reading also takes the process's resident memory
// (/proc/<pid>/statm), of which the summary keeps the highest while orders were placed.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kitshop/kitshop/internal/cputime"
)

// userHZ is the unit of the times in /proc/<pid>/stat.
const userHZ = 100

// watchedProc is a process of -cpu-pids.
type watchedProc struct {
	Name string
	PID  int
}

// parseCPUPids reads -cpu-pids: process ids separated by commas, each optionally named (name=pid).
func parseCPUPids(s string) ([]watchedProc, error) {
	var ps []watchedProc
	seen := make(map[int]bool)
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		name, pidText, named := strings.Cut(item, "=")
		if !named {
			name, pidText = "", item
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid < 1 {
			return nil, fmt.Errorf("%q is not a process id or name=pid", item)
		}
		if named && name == "" {
			return nil, fmt.Errorf("%q names no process before =", item)
		}
		if seen[pid] {
			return nil, fmt.Errorf("process %d is listed twice", pid)
		}
		seen[pid] = true
		ps = append(ps, watchedProc{Name: name, PID: pid})
	}
	return ps, nil
}

// procCPU returns the CPU time process pid has used so far, its threads together.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	return parseProcStat(b)
}

// parseProcStat reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat line. The command name, field
// 2, is in parentheses and may hold spaces and parentheses itself, so the fields are counted after the last
// ')'.
func parseProcStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name in /proc stat line")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat line has %d fields after the name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("/proc stat time %q: not a tick count", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// procRSS returns the resident memory of process pid: the second field of /proc/<pid>/statm, in pages.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "statm"))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc statm %q: want at least 2 fields", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || pages < 0 {
		return 0, fmt.Errorf("/proc statm resident %q: not a page count", f[1])
	}
	return pages * int64(os.Getpagesize()), nil
}

// procName is the command name of process pid, or "pid N" when it cannot be read.
func procName(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if name := strings.TrimSpace(string(b)); err == nil && name != "" {
		return name
	}
	return "pid " + strconv.Itoa(pid)
}

// cpuWatch samples the CPU time of the watched processes and of the load tester. Its methods are safe for
// concurrent use.
type cpuWatch struct {
	procs []watchedProc

	mu      sync.Mutex
	last    []time.Duration // the latest reading of each process, then of the load tester
	first   []time.Duration
	seconds [][]time.Duration // CPU used in each second of the run, by process (load tester left out)
	ticks   int               // samples taken on the second
	gone    []bool            // processes that could not be read any more: their last reading stands
	peakRSS []int64           // the highest resident memory read of each process, in bytes
	done    chan struct{}
	stopped sync.WaitGroup
}

// startCPUWatch reads every process once, fails if one cannot be read, and samples them every second from
// now until stop.
func startCPUWatch(procs []watchedProc) (*cpuWatch, error) {
	w := &cpuWatch{
		procs:   procs,
		last:    make([]time.Duration, len(procs)+1),
		gone:    make([]bool, len(procs)),
		peakRSS: make([]int64, len(procs)),
		done:    make(chan struct{}),
	}
	for i := range w.procs {
		if _, err := procCPU(w.procs[i].PID); err != nil {
			return nil, fmt.Errorf("-cpu-pids: process %d: %w (it must run on this machine, and /proc must be Linux's)", w.procs[i].PID, err)
		}
		if w.procs[i].Name == "" {
			w.procs[i].Name = procName(w.procs[i].PID)
		}
	}
	w.first = w.read()
	w.last = w.first
	w.stopped.Add(1)
	go w.run()
	return w, nil
}

// read reads every process and the load tester, and notes the processes' resident memory; a process that
// cannot be read keeps its last reading.
func (w *cpuWatch) read() []time.Duration {
	r := make([]time.Duration, len(w.procs)+1)
	for i, p := range w.procs {
		t, err := procCPU(p.PID)
		if err != nil {
			w.gone[i] = true
			t = w.last[i]
		}
		r[i] = t
		if rss, err := procRSS(p.PID); err == nil {
			w.peakRSS[i] = max(w.peakRSS[i], rss)
		}
	}
	r[len(w.procs)], _ = cputime.Process()
	return r
}

func (w *cpuWatch) run() {
	defer w.stopped.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-tick.C:
			w.sample(false)
		}
	}
}

// sample records the CPU used since the last reading: on the second (a tick), as the second of the run that
// ends then; at the end, as the partial second after the last tick.
func (w *cpuWatch) sample(final bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.read()
	i := w.ticks
	if !final {
		w.ticks++
	}
	for len(w.seconds) <= i {
		w.seconds = append(w.seconds, make([]time.Duration, len(w.procs)))
	}
	for p := range w.procs {
		w.seconds[i][p] += now[p] - w.last[p]
	}
	w.last = now
}

// stop takes the last reading and stops sampling.
func (w *cpuWatch) stop() {
	close(w.done)
	w.stopped.Wait()
	w.sample(true)
}

// CPU is the CPU time the watched processes (-cpu-pids) used while the orders were placed.
type CPU struct {
	Processes []ProcessCPU `json:"processes"`
	// MsPerOrder is their CPU together per successful order (with -mix, every journey's CPU over the orders
	// alone).
	MsPerOrder float64 `json:"msPerOrder"`
	// MsPerRequest is, with -mix, their CPU together per successful step of any journey (a browse that reads
	// two pages is one); absent without it.
	MsPerRequest float64 `json:"msPerRequest,omitempty"`
	// LoadTesterMsPerOrder is the load tester's own, which shares the machine when it runs on it.
	LoadTesterMsPerOrder float64 `json:"loadTesterMsPerOrder"`
}

// ProcessCPU is one watched process's CPU time.
type ProcessCPU struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpuSeconds"`
	// Cores is CPUSeconds over the run's seconds.
	Cores      float64 `json:"cores"`
	MsPerOrder float64 `json:"msPerOrder"`
	// Share is the process's part of the watched processes' CPU together.
	Share float64 `json:"share"`
	// PeakRSSBytes is the highest resident memory read (once a second) while the orders were placed; absent
	// when /proc/<pid>/statm could not be read.
	PeakRSSBytes int64 `json:"peakRssBytes,omitempty"`
	// Gone is set when the process could not be read before the end: the figures stop at its last reading.
	Gone bool `json:"gone,omitempty"`
}

// addTo adds the watch's figures to s: CPU, the timeline's cores and the steadiness windows' CPU per order.
func (w *cpuWatch) addTo(s *Stats) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := &CPU{}
	var total time.Duration
	for i := range w.procs {
		total += w.last[i] - w.first[i]
	}
	perOrder := func(d time.Duration) float64 {
		if s.Orders == 0 {
			return 0
		}
		return float64(d) / float64(time.Millisecond) / float64(s.Orders)
	}
	for i, p := range w.procs {
		used := w.last[i] - w.first[i]
		pc := ProcessCPU{
			Name: p.Name, PID: p.PID, CPUSeconds: used.Seconds(), MsPerOrder: perOrder(used),
			PeakRSSBytes: w.peakRSS[i], Gone: w.gone[i],
		}
		if s.Seconds > 0 {
			pc.Cores = used.Seconds() / s.Seconds
		}
		if total > 0 {
			pc.Share = float64(used) / float64(total)
		}
		c.Processes = append(c.Processes, pc)
	}
	c.MsPerOrder = perOrder(total)
	var steps int64
	for _, j := range s.Journeys {
		steps += j.OK
	}
	if steps > 0 {
		c.MsPerRequest = float64(total) / float64(time.Millisecond) / float64(steps)
	}
	n := len(w.procs)
	c.LoadTesterMsPerOrder = perOrder(w.last[n] - w.first[n])
	s.CPU = c

	for i := range s.Timeline {
		if i < len(w.seconds) {
			var sum time.Duration
			for _, d := range w.seconds[i] {
				sum += d
			}
			s.Timeline[i].CPUCores = sum.Seconds()
		}
	}
	if st := s.Steadiness; st != nil {
		whole := len(s.Timeline) - 1
		st.FirstCPUMsPerOrder = windowCPUPerOrder(s.Timeline[:steadyWindow])
		st.LastCPUMsPerOrder = windowCPUPerOrder(s.Timeline[whole-steadyWindow : whole])
	}
}

// windowCPUPerOrder is the watched processes' CPU per successful order over secs, in ms.
func windowCPUPerOrder(secs []Second) float64 {
	var cores float64
	var orders int64
	for _, s := range secs {
		cores += s.CPUCores
		orders += s.Orders
	}
	if orders == 0 {
		return 0
	}
	return 1000 * cores / float64(orders)
}
