package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestScheduleDoesNotDrift(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := schedule{start: start, rate: 300}
	if got := s.at(0); !got.Equal(start) {
		t.Errorf("at(0) = %v, want the start", got)
	}
	// 300 orders a second: order 300 is due exactly a second later, and order 300 000 exactly 1000 s later,
	// although a second is not a whole number of nanoseconds per order.
	if got := s.at(300); !got.Equal(start.Add(time.Second)) {
		t.Errorf("at(300) = %v, want start + 1s", got.Sub(start))
	}
	if got := s.at(300_000); !got.Equal(start.Add(1000 * time.Second)) {
		t.Errorf("at(300000) = %v, want start + 1000s", got.Sub(start))
	}
	if got := (schedule{start: start, rate: 0.5}).at(3); !got.Equal(start.Add(6 * time.Second)) {
		t.Errorf("at 0.5/s, at(3) = %v, want start + 6s", got.Sub(start))
	}
}

func TestScheduleSize(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		rate float64
		lim  limits
		want int64
	}{
		{200, limits{duration: 60 * time.Second}, 12_000},
		{200, limits{duration: 60 * time.Second, count: 500}, 500},
		{200, limits{duration: time.Second, count: 500}, 200},
		{3, limits{duration: 1500 * time.Millisecond}, 5}, // due at 0, ⅓, ⅔, 1, 1⅓ s
		{1, limits{duration: 2 * time.Second}, 2},         // 0 and 1 s; 2 s is the end, not before it
		{7, limits{count: 9}, 9},
		{7, limits{}, -1},
	}
	for _, tt := range tests {
		if got := (schedule{start: start, rate: tt.rate}).size(tt.lim); got != tt.want {
			t.Errorf("size at %g/s within %+v = %d, want %d", tt.rate, tt.lim, got, tt.want)
		}
	}
}

// calls records which orders a loop placed.
type calls struct {
	mu   sync.Mutex
	seen map[int64]int
}

func (c *calls) place(delay time.Duration, failEvery int64) stepFunc {
	c.seen = make(map[int64]int)
	return func(ctx context.Context, i int64) outcome {
		c.mu.Lock()
		c.seen[i]++
		c.mu.Unlock()
		time.Sleep(delay)
		if failEvery > 0 && i%failEvery == 0 {
			return outcome{journey: journeyOrder, errClass: "http 503 unavailable"}
		}
		return outcome{journey: journeyOrder, id: "order-" + strconv.FormatInt(i, 10)}
	}
}

// once checks that orders 0..n-1, and only they, were placed, each once.
func (c *calls) once(t *testing.T, n int64) {
	t.Helper()
	if int64(len(c.seen)) != n {
		t.Errorf("%d distinct orders placed, want %d", len(c.seen), n)
	}
	for i := range n {
		if c.seen[i] != 1 {
			t.Errorf("order %d placed %d times, want once", i, c.seen[i])
		}
	}
}

func TestClosedLoopPlacesEachOrderOnce(t *testing.T) {
	t.Parallel()
	var c calls
	rec := newRecorder(time.Now())
	closedLoop(t.Context(), rec, 8, limits{count: 100}, c.place(0, 10), nil, sleepFor)
	c.once(t, 100)
	s := rec.stats()
	if s.Orders != 90 || s.Errors != 10 || s.ErrorsByClass["http 503 unavailable"] != 10 {
		t.Errorf("recorded %d orders, %d errors %v; want 90, 10 http 503", s.Orders, s.Errors, s.ErrorsByClass)
	}
	if got := len(rec.createdIDs()); got != 90 {
		t.Errorf("%d created ids kept, want the 90 successes'", got)
	}
}

func TestOpenLoopCountsQueueingInLatency(t *testing.T) {
	t.Parallel()
	// 1000 orders a second into one slot, each taking at least 20 ms: order i is due at i ms but cannot
	// finish before (i+1)·20 ms, so its latency from its due time is at least 20 + 19·i ms. A closed loop
	// would report about 20 ms for each: the coordinated omission the open loop must not commit.
	var c calls
	rec := newRecorder(time.Now())
	const n = 10
	openLoop(t.Context(), rec, schedule{start: rec.start, rate: 1000}, 1, limits{count: n}, c.place(20*time.Millisecond, 0))
	c.once(t, n)
	s := rec.stats()
	if s.Orders != n {
		t.Fatalf("recorded %d orders, want %d", s.Orders, n)
	}
	if floor := float64(20 + 19*(n-1)); s.Latency.Max < floor {
		t.Errorf("max latency %.1f ms, want at least %.0f ms: the wait for a slot is not counted", s.Latency.Max, floor)
	}
	if s.ServiceTime.P50 < 20 {
		t.Errorf("median service time %.1f ms, want at least the 20 ms each order takes", s.ServiceTime.P50)
	}
	if s.Late < n-2 {
		t.Errorf("%d orders late, want at least %d (every order after the first waits for the slot)", s.Late, n-2)
	}
}

func TestOpenLoopStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	var c calls
	rec := newRecorder(time.Now())
	ctx, cancel := context.WithCancel(t.Context())
	place := c.place(0, 0)
	openLoop(ctx, rec, schedule{start: rec.start, rate: 1000}, 4, limits{}, func(ctx context.Context, i int64) outcome {
		if i == 50 {
			cancel()
		}
		return place(ctx, i)
	})
	if n := len(c.seen); n < 51 || n > 60 {
		t.Errorf("%d orders placed after a cancel at the 51st, want 51 to a few more in flight", n)
	}
}

// TestClosedLoopBacksOffWhileTheTargetIsDown: a step of any journey that the target did not answer makes the
// worker wait (here steps 0 to 4 are browse journeys, and step 6 an order).
func TestClosedLoopBacksOffWhileTheTargetIsDown(t *testing.T) {
	t.Parallel()
	rec := newRecorder(time.Now())
	place := func(_ context.Context, i int64) outcome {
		switch {
		case i < 5:
			return outcome{journey: journeyBrowse, errClass: unreachable}
		case i == 6:
			return outcome{journey: journeyOrder, errClass: unreachable}
		}
		return outcome{journey: journeyOrder, id: fmt.Sprintf("o%d", i)}
	}
	var waits []time.Duration
	var said []bool
	closedLoop(t.Context(), rec, 1, limits{count: 9}, place,
		func(down bool) { said = append(said, down) },
		func(_ context.Context, d time.Duration) { waits = append(waits, d) })
	ms := time.Millisecond
	if want := []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 50 * ms}; !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v: doubling while unanswered, from the start again after an answer", waits, want)
	}
	if want := []bool{true, false, true, false}; !slices.Equal(said, want) {
		t.Errorf("told %v, want down, up, down, up", said)
	}
	if s := rec.stats(); s.Orders != 3 || s.ErrorsByClass[unreachable] != 1 {
		t.Errorf("recorded %d orders, errors %v; want 3 and 1 %s (the browses are no orders)", s.Orders, s.ErrorsByClass, unreachable)
	}
}
