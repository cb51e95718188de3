package main

import (
	"math"
	"testing"
	"time"
)

func TestRecorderPercentilesAndTimeline(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := newRecorder(start)
	// Second 0: 100 orders of 1..100 ms. Second 2: one order of 500 ms that waited 400 ms for its start,
	// and two failures. Second 1 stays empty.
	for i := 1; i <= 100; i++ {
		done := start.Add(time.Duration(i) * time.Millisecond)
		rec.record(done.Add(-time.Duration(i)*time.Millisecond), done.Add(-time.Duration(i)*time.Millisecond), done, outcome{journey: journeyOrder, id: "id"})
	}
	due := start.Add(2 * time.Second)
	rec.record(due, due.Add(400*time.Millisecond), due.Add(500*time.Millisecond), outcome{journey: journeyOrder, id: "slow"})
	rec.record(due, due, due.Add(time.Millisecond), outcome{journey: journeyOrder, errClass: "http 409 insufficient_stock"})
	rec.record(due, due, due.Add(time.Millisecond), outcome{journey: journeyOrder, errClass: "transport timeout"})

	s := rec.stats()
	if s.Orders != 101 || s.Errors != 2 {
		t.Fatalf("%d orders, %d errors; want 101, 2", s.Orders, s.Errors)
	}
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > want*0.001+0.001 { // HDR: 3 significant digits
			t.Errorf("%s = %.3f, want %.3f", name, got, want)
		}
	}
	near("p50", s.Latency.P50, 51)
	near("p90", s.Latency.P90, 91)
	near("p99", s.Latency.P99, 100)
	near("max", s.Latency.Max, 500)
	near("service max", s.ServiceTime.Max, 100) // the slow order's service time is 100 ms
	if s.Late != 1 {
		t.Errorf("late = %d, want 1 (the order that started 400 ms behind)", s.Late)
	}
	if s.ErrorsByClass["http 409 insufficient_stock"] != 1 || s.ErrorsByClass["transport timeout"] != 1 {
		t.Errorf("errors by class %v", s.ErrorsByClass)
	}
	near("seconds", s.Seconds, 2.5)
	near("orders/s", s.OrdersPerSecond, 101/2.5)
	if len(s.Timeline) != 3 {
		t.Fatalf("timeline of %d seconds, want 3", len(s.Timeline))
	}
	if tl := s.Timeline[0]; tl.Orders != 100 || tl.Errors != 0 || math.Abs(tl.P50-51) > 51*0.02 { // 2 significant digits
		t.Errorf("second 0: %+v, want 100 orders, p50 about 51 ms", tl)
	}
	if tl := s.Timeline[1]; tl.Orders != 0 || tl.Errors != 0 || tl.P99 != 0 {
		t.Errorf("second 1: %+v, want empty", tl)
	}
	if tl := s.Timeline[2]; tl.Orders != 1 || tl.Errors != 2 || math.Abs(tl.Max-500) > 5 {
		t.Errorf("second 2: %+v, want 1 order of 500 ms and 2 errors", tl)
	}
	if ids := rec.createdIDs(); len(ids) != 101 || ids[100] != "slow" {
		t.Errorf("created ids: %d, last %q; want the 101 successes'", len(ids), ids[len(ids)-1])
	}
}

func TestRecorderCountsForProgress(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := newRecorder(start)
	for i := range 30 {
		at := start.Add(time.Duration(i) * 100 * time.Millisecond) // 10 a second for 3 s
		rec.record(at, at, at, outcome{journey: journeyOrder})
	}
	rec.record(start, start, start, outcome{journey: journeyOrder, errClass: "grpc Unavailable"})
	ok, failed, rate := rec.counts(start.Add(2500 * time.Millisecond))
	if ok != 30 || failed != 1 || rate != 10 {
		t.Errorf("counts = %d ok, %d failed, %d/s; want 30, 1, 10 (the last complete second)", ok, failed, rate)
	}
	if _, _, rate = rec.counts(start.Add(500 * time.Millisecond)); rate != 0 {
		t.Errorf("rate %d/s before a second has passed, want 0", rate)
	}
}

func TestEmptyStats(t *testing.T) {
	s := newRecorder(time.Now()).stats()
	if s.Orders != 0 || s.OrdersPerSecond != 0 || s.Latency != (Latency{}) || len(s.Timeline) != 0 || s.Journeys != nil {
		t.Errorf("stats of nothing: %+v", s)
	}
}

// TestRecorderKeepsJourneysApart: with -mix, each journey has its own figures, and only the order journey's
// steps are orders.
func TestRecorderKeepsJourneysApart(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := newRecorder(start, journeyBrowse, journeyOrder, journeyLogin)
	ms := time.Millisecond
	for i := 1; i <= 3; i++ {
		rec.record(start, start, start.Add(time.Duration(10*i)*ms), outcome{journey: journeyBrowse})
	}
	rec.record(start, start, start.Add(ms), outcome{journey: journeyBrowse, errClass: "http 503"})
	rec.record(start, start, start.Add(200*ms), outcome{journey: journeyOrder, id: "o1"})
	rec.record(start, start, start.Add(ms), outcome{journey: journeyOrder, errClass: "http 409 insufficient_stock"})
	rec.record(start, start, start.Add(2*time.Second), outcome{journey: journeyBrowse}) // the last answer

	s := rec.stats()
	if s.Orders != 1 || s.Errors != 1 || len(s.ErrorsByClass) != 1 || s.Latency.Max < 199 || s.Latency.Max > 201 {
		t.Errorf("orders %d, errors %d %v, max %.1f ms; want the order journey's alone: 1, 1, 200 ms", s.Orders, s.Errors, s.ErrorsByClass, s.Latency.Max)
	}
	if ids := rec.createdIDs(); len(ids) != 1 || ids[0] != "o1" {
		t.Errorf("created ids %v, want the order's alone", ids)
	}
	if len(s.Timeline) != 1 || s.Timeline[0].Orders != 1 || s.Timeline[0].Errors != 1 {
		t.Errorf("timeline %+v, want the orders' second alone", s.Timeline)
	}
	if got := rec.steps(); got != 7 {
		t.Errorf("%d steps answered, want 7", got)
	}
	b := s.Journeys[journeyBrowse]
	if b.OK != 4 || b.Failed != 1 || b.ErrorsByClass["http 503"] != 1 || b.Latency.P50 < 19.9 || b.Latency.P50 > 20.1 || b.PerSecond != 2 {
		t.Errorf("browse %+v; want 4 ok at 2/s over the 2 s run, 1 http 503, p50 20 ms", b)
	}
	if o := s.Journeys[journeyOrder]; o.OK != 1 || o.Failed != 1 || o.Latency.Max != s.Latency.Max {
		t.Errorf("order journey %+v, want the orders' figures", o)
	}
	if l, ok := s.Journeys[journeyLogin]; !ok || l.OK != 0 || l.Failed != 0 || len(s.Journeys) != 3 {
		t.Errorf("journeys %v, want browse, order and an empty login", s.Journeys)
	}
}

func TestSteadiness(t *testing.T) {
	timeline := func(n int, rate func(i int) int64) []Second {
		out := make([]Second, n)
		for i := range out {
			out[i] = Second{At: i, Orders: rate(i)}
		}
		return out
	}
	if st := steadiness(timeline(60, func(int) int64 { return 10 })); st != nil {
		t.Errorf("60 seconds (59 whole): %+v, want nil", st)
	}
	// 100 orders/s for the first 40 s, 80 after; the last, partial second is left out.
	st := steadiness(timeline(121, func(i int) int64 {
		switch {
		case i == 120:
			return 1
		case i < 40:
			return 100
		}
		return 80
	}))
	if st == nil || st.FirstOrdersPerSecond != 100 || st.LastOrdersPerSecond != 80 || math.Abs(st.Ratio-0.8) > 1e-9 {
		t.Errorf("steadiness %+v, want 100 → 80 (0.8)", st)
	}
}
