package main

import (
	"math"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/cputime"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks; the name holds a space and parentheses.
	line := "4321 (odd (name) x) S 1 4321 4321 0 -1 4194560 1000 0 7 0 250 50 0 0 20 0 9 0 123 456789 1234 18446744073709551615\n"
	got, err := parseProcStat([]byte(line))
	if err != nil || got != 3*time.Second {
		t.Errorf("parseProcStat: %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{
		"",
		"4321 no name S 1 2 3",
		"4321 (short) S 1 2 3 4 5 6 7 8 9 10",
		"4321 (neg) S 1 4321 4321 0 -1 4194560 1000 0 7 0 -250 50 0",
		"4321 (text) S 1 4321 4321 0 -1 4194560 1000 0 7 0 many 50 0",
	} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) accepted it", bad)
		}
	}
}

func TestParseCPUPids(t *testing.T) {
	t.Parallel()
	got, err := parseCPUPids("services=12, 34,store=56")
	want := []watchedProc{{"services", 12}, {"", 34}, {"store", 56}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseCPUPids: %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "x", "=5", "shop=", "0", "-3", "5,5", "a=5,b=5", "5,"} {
		if _, err := parseCPUPids(bad); err == nil {
			t.Errorf("parseCPUPids(%q) accepted it", bad)
		}
	}
}

// TestCPUWatchOfItself watches the test's own process while it keeps a core busy: /proc must
// show what getrusage shows (the load tester's own figure), to the tick, and the seconds of the timeline
// must add up to it.
func TestCPUWatchOfItself(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no Linux /proc here")
	}
	if _, ok := cputime.Process(); !ok {
		t.Skip("this system does not tell a process its CPU time")
	}
	if _, err := startCPUWatch([]watchedProc{{PID: math.MaxInt32}}); err == nil {
		t.Error("startCPUWatch of a process that does not exist: no error")
	}
	before, _ := cputime.Process()
	w, err := startCPUWatch([]watchedProc{{PID: os.Getpid()}})
	if err != nil {
		t.Fatal(err)
	}
	// Busy until the process has used 0.3 s of CPU and the watch has sampled on a second at least once. The
	// loop gives up after a minute of wall time, only so that a counter that never moves fails instead of
	// hanging; it times nothing.
	x := 0
	for giveUp := time.Now().Add(time.Minute); ; {
		for range 100_000 {
			x++
		}
		now, _ := cputime.Process()
		w.mu.Lock()
		ticked := w.ticks > 0
		w.mu.Unlock()
		if now-before >= 300*time.Millisecond && ticked {
			break
		}
		if time.Now().After(giveUp) {
			t.Fatalf("after a minute of busy work (%d turns): %v of CPU, sampled on a second: %v", x, now-before, ticked)
		}
	}
	w.stop()
	after, _ := cputime.Process()
	s := Stats{Orders: 100, Seconds: 1, Timeline: make([]Second, len(w.seconds))}
	w.addTo(&s)
	c := s.CPU
	if c == nil || len(c.Processes) != 1 {
		t.Fatalf("CPU %+v, want one process", c)
	}
	p := c.Processes[0]
	if p.PID != os.Getpid() || p.Name == "" || p.Name == "pid "+strconv.Itoa(os.Getpid()) || p.Share != 1 || p.Gone {
		t.Errorf("process %+v: want this one, named from /proc, all the share", p)
	}
	if p.PeakRSSBytes < 1<<20 {
		t.Errorf("peak RSS %d bytes: a Go test process holds more than a MiB", p.PeakRSSBytes)
	}
	if used := (after - before).Seconds(); p.CPUSeconds < used-0.05 || p.CPUSeconds > used+0.05 {
		t.Errorf("%.3f CPU-s, want the %.3f s getrusage saw from start to stop", p.CPUSeconds, used)
	}
	if diff := math.Abs(p.MsPerOrder - c.LoadTesterMsPerOrder); diff > 0.5 { // 50 ms over 100 orders
		t.Errorf("/proc says %.2f ms per order, getrusage %.2f: they read the same process", p.MsPerOrder, c.LoadTesterMsPerOrder)
	}
	if math.Abs(c.MsPerOrder-p.MsPerOrder) > 1e-9 || math.Abs(p.MsPerOrder-10*p.CPUSeconds) > 1e-9 {
		t.Errorf("together %.3f, process %.3f ms per order for %.3f CPU-s over 100 orders", c.MsPerOrder, p.MsPerOrder, p.CPUSeconds)
	}
	// The seconds of the timeline hold all of it, the first one (a whole second of the busy loop) some.
	var sum float64
	for _, sec := range s.Timeline {
		sum += sec.CPUCores
	}
	if len(s.Timeline) < 2 || s.Timeline[0].CPUCores <= 0 || math.Abs(sum-p.CPUSeconds) > 0.05 {
		t.Errorf("timeline %+v: want at least a whole second and the partial one, CPU in the first, %.3f CPU-s in all", s.Timeline, p.CPUSeconds)
	}
}
