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

// TestTextSummaryShowsTheJourneys: with -mix the text summary has a line per journey, in the order of
// journeyNames, with its errors, says the orders' figures are the order journey's, and gives the CPU per
// request; a failed journey makes the run not clean.
func TestTextSummaryShowsTheJourneys(t *testing.T) {
	s := &Summary{
		RunID: "r", Loop: "open", Rate: 50, MaxInflight: 8, Mix: "login=1,order=1",
		Stats: Stats{
			Orders: 10, Seconds: 2, OrdersPerSecond: 5,
			CPU: &CPU{MsPerOrder: 10, MsPerRequest: 4.5},
			Journeys: map[string]Journey{
				journeyOrder: {OK: 10, PerSecond: 5, Latency: Latency{P50: 2, Max: 3}},
				journeyLogin: {OK: 12, Failed: 3, PerSecond: 6, ErrorsByClass: map[string]int64{"http 429 rate_limited": 2, "transport error": 1}},
			},
		},
	}
	if s.clean(false) {
		t.Error("clean with 3 failed logins")
	}
	var b strings.Builder
	if err := writeText(&b, s, 10); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"open loop, 50 steps/s (at most 8 in flight), 0 users, 0 products, seed 0, mix login=1,order=1\n",
		"10 placed, 0 errors in 2.00 s: 5.0 orders/s (the order journey alone",
		"journeys    login         12 ok      3 failed      6.0/s  p50 0.00 ms",
		"; 2 http 429 rate_limited; 1 transport error\n            order         10 ok      0 failed      5.0/s  p50 2.00 ms",
		"together 4.50 ms per request of any journey",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
	s.Journeys[journeyLogin] = Journey{OK: 12}
	if !s.clean(false) {
		t.Error("not clean when every journey came out as expected")
	}
}
