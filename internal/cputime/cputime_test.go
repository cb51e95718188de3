package cputime

import (
	"testing"
	"time"
)

// TestProcessCountsWork: where the system tells the CPU time, busy work makes it grow. The loop gives up after
// a minute of wall time, far beyond what 10 ms of CPU takes even on a crowded machine, only so that a counter
// that never moves fails instead of hanging.
func TestProcessCountsWork(t *testing.T) {
	before, ok := Process()
	if !ok {
		t.Skip("this system does not tell a process its CPU time")
	}
	x := 0
	for giveUp := time.Now().Add(time.Minute); time.Now().Before(giveUp); {
		for range 100_000 {
			x++
		}
		if now, _ := Process(); now-before >= 10*time.Millisecond {
			return
		}
	}
	now, _ := Process()
	t.Errorf("after a minute of busy work (%d turns) the CPU time grew by %v, want at least 10 ms", x, now-before)
}
