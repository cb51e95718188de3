package cputime

import (
	"testing"
	"time"
)

// TestProcessCountsWork: where the system tells the CPU time, a busy loop shows in it.
func TestProcessCountsWork(t *testing.T) {
	before, ok := Process()
	if !ok {
		t.Skip("this system does not tell a process its CPU time")
	}
	x := 0
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		x++
	}
	after, _ := Process()
	if after-before < 20*time.Millisecond {
		t.Errorf("a 50 ms busy loop used %v of CPU (%d turns), want at least 20 ms", after-before, x)
	}
}
