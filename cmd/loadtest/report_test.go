package main

import (
	"strings"
	"testing"
)

// TestTextSummaryShowsTheCPU: with -cpu-pids the text summary has a line per process, the total, and the CPU
// per order of the steadiness windows; a process whose memory could not be read says so rather than 0 MB.
func TestTextSummaryShowsTheCPU(t *testing.T) {
	s := &Summary{
		RunID: "r", Loop: "closed", Workers: 4,
		Stats: Stats{
			Orders: 100, Seconds: 70, OrdersPerSecond: 100 / 70.0,
			Steadiness: &Steadiness{FirstOrdersPerSecond: 2, LastOrdersPerSecond: 1, Ratio: 0.5, FirstCPUMsPerOrder: 8.5, LastCPUMsPerOrder: 11.25},
			CPU: &CPU{
				Processes: []ProcessCPU{
					{Name: "services", PID: 12, CPUSeconds: 0.4, Cores: 0.01, MsPerOrder: 4, Share: 0.4, PeakRSSBytes: 71_100_000},
					{Name: "store", PID: 34, CPUSeconds: 0.6, Cores: 0.01, MsPerOrder: 6, Share: 0.6, Gone: true},
				},
				MsPerOrder: 10, LoadTesterMsPerOrder: 0.5,
			},
		},
	}
	var b strings.Builder
	if err := writeText(&b, s, 10); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"(CPU 8.50 → 11.25 ms per order)",
		"services       pid 12        4.00 ms per order, 0.01 cores, 40.0 %, peak RSS 71.1 MB\n",
		"store          pid 34        6.00 ms per order, 0.01 cores, 60.0 %, peak RSS not read (gone before the end",
		"together 10.00 ms per order; this load tester 0.50 ms per order",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
}
