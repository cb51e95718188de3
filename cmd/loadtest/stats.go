package main

import (
	"maps"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram ranges, in microseconds: 1 µs to 10 minutes. The run's histograms keep 3 significant digits
// (0.1 %); the per-second ones of the timeline 2 (1 %), which is plenty for a chart and keeps a long run's
// timeline small.
const (
	histMin       = 1
	histMax       = int64(10 * time.Minute / time.Microsecond)
	histSigFigs   = 3
	secondSigFigs = 2
)

// recorder collects the outcome of every order: latency histograms (HDR, see
// github.com/HdrHistogram/hdrhistogram-go, the Go port of Gil Tene's HdrHistogram that wrk2 uses), counts
// of errors by class, a per-second timeline, and the ids of the orders created; with -mix, each journey's
// counts and latency besides (the order journey's included), the other journeys touching none of the
// orders' figures. It is safe for concurrent use.
type recorder struct {
	start time.Time

	mu       sync.Mutex
	journeys map[string]*tally       // by journey; nil without -mix
	answered int64                   // steps of every journey
	latency  *hdrhistogram.Histogram // successful orders, from the scheduled start
	service  *hdrhistogram.Histogram // successful orders, from the actual start
	ok       int64
	failed   int64
	late     int64 // open loop: orders that started more than lateAfter behind their schedule
	errors   map[string]int64
	seconds  []*second
	created  []string // ids of the orders that came out as expected
	lastDone time.Time
}

// second is one second of the timeline.
type second struct {
	ok, failed int64
	latency    *hdrhistogram.Histogram
}

// tally is one journey's outcomes.
type tally struct {
	ok, failed int64
	errors     map[string]int64
	latency    *hdrhistogram.Histogram // successful steps, from the scheduled start
}

// lateAfter is how far behind its schedule an open-loop order may start before it counts as late: the
// load generator itself could not keep up (all -max-inflight slots busy, or the machine saturated).
const lateAfter = 10 * time.Millisecond

// newRecorder returns a recorder of a run started at start that also tallies each of journeys (none:
// without -mix).
func newRecorder(start time.Time, journeys ...string) *recorder {
	r := &recorder{
		start:   start,
		latency: hdrhistogram.New(histMin, histMax, histSigFigs),
		service: hdrhistogram.New(histMin, histMax, histSigFigs),
		errors:  make(map[string]int64),
	}
	if len(journeys) > 0 {
		r.journeys = make(map[string]*tally, len(journeys))
	}
	for _, j := range journeys {
		r.journeys[j] = &tally{errors: make(map[string]int64), latency: hdrhistogram.New(histMin, histMax, histSigFigs)}
	}
	return r
}

// record adds one step: scheduled is when it should have started (the actual start in a closed loop),
// started when it did, done when its answer came. It goes into the tally of its journey, if kept, and, an
// order, into the orders' figures; an order that came out as expected has its id, if any, kept.
func (r *recorder) record(scheduled, started, done time.Time, o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answered++
	if done.After(r.lastDone) {
		r.lastDone = done
	}
	lat := micros(done.Sub(scheduled))
	if t := r.journeys[o.journey]; t != nil {
		if o.errClass != "" {
			t.failed++
			t.errors[o.errClass]++
		} else {
			t.ok++
			_ = t.latency.RecordValue(lat)
		}
	}
	if o.journey != journeyOrder {
		return
	}
	s := r.secondAt(done)
	if started.Sub(scheduled) > lateAfter {
		r.late++
	}
	if o.errClass != "" {
		r.failed++
		s.failed++
		r.errors[o.errClass]++
		return
	}
	r.ok++
	s.ok++
	_ = r.latency.RecordValue(lat) // values past histMax are dropped; ten minutes is past any request timeout
	_ = r.service.RecordValue(micros(done.Sub(started)))
	_ = s.latency.RecordValue(lat)
	if o.id != "" {
		r.created = append(r.created, o.id)
	}
}

// secondAt returns the timeline's second of t, growing the timeline as needed.
func (r *recorder) secondAt(t time.Time) *second {
	i := max(0, int(t.Sub(r.start)/time.Second))
	for len(r.seconds) <= i {
		r.seconds = append(r.seconds, &second{latency: hdrhistogram.New(histMin, histMax, secondSigFigs)})
	}
	return r.seconds[i]
}

// micros converts d to whole microseconds, at least 1 (the histograms' lowest value).
func micros(d time.Duration) int64 { return max(1, d.Microseconds()) }

// counts returns the orders so far, for the progress bar: successes, failures, and successes in the last
// complete second before now.
func (r *recorder) counts(now time.Time) (ok, failed, lastSecond int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := int(now.Sub(r.start)/time.Second) - 1; i >= 0 && i < len(r.seconds) {
		lastSecond = r.seconds[i].ok
	}
	return r.ok, r.failed, lastSecond
}

// steps returns the steps answered so far, of every journey, for the progress bar.
func (r *recorder) steps() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.answered
}

// createdIDs returns the ids of the orders that came out as expected.
func (r *recorder) createdIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.created...)
}

// Latency is a latency distribution, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		P50:  ms(h.ValueAtQuantile(50)),
		P90:  ms(h.ValueAtQuantile(90)),
		P99:  ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)),
		Max:  ms(h.Max()),
		Mean: h.Mean() / 1000,
	}
}

// Second is one second of the timeline in the summary.
type Second struct {
	// At is the second's start, in seconds since the run began.
	At     int     `json:"at"`
	Orders int64   `json:"orders"`
	Errors int64   `json:"errors"`
	P50    float64 `json:"p50"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
	// CPUCores is the CPU the processes of -cpu-pids used in the second, in cores.
	CPUCores float64 `json:"cpuCores,omitempty"`
}

// Stats is what the run measured.
type Stats struct {
	// Seconds from the start to the last answer.
	Seconds float64 `json:"seconds"`
	// Orders that came out as expected (paid: PaymentProcessed, or DeliveryStarted when the notification went
	// out at once), and those that did not.
	Orders int64 `json:"orders"`
	Errors int64 `json:"errors"`
	// OrdersPerSecond is Orders over Seconds.
	OrdersPerSecond float64 `json:"ordersPerSecond"`
	// Latency of the successful orders from their scheduled start (open loop; the actual start in a closed
	// loop), and ServiceTime from their actual start.
	Latency     Latency `json:"latencyMs"`
	ServiceTime Latency `json:"serviceTimeMs"`
	// Late counts the open-loop orders that started more than 10 ms behind their schedule.
	Late int64 `json:"late"`
	// ErrorsByClass counts the failures by HTTP status and error code, gRPC code or transport failure.
	ErrorsByClass map[string]int64 `json:"errorsByClass"`
	Timeline      []Second         `json:"timeline"`
	// Steadiness compares the first and the last steadyWindow seconds of a run of at least twice that.
	Steadiness *Steadiness `json:"steadiness,omitempty"`
	// CPU is the CPU time of the processes of -cpu-pids, nil without them.
	CPU *CPU `json:"cpu,omitempty"`
	// Journeys are the figures of each journey of -mix, the order journey's included; nil without -mix. The
	// figures above are the orders' alone.
	Journeys map[string]Journey `json:"journeys,omitempty"`
}

// Journey is what the steps of one journey of -mix did.
type Journey struct {
	// OK came out as expected, Failed did not, ErrorsByClass by class.
	OK            int64            `json:"ok"`
	Failed        int64            `json:"failed"`
	ErrorsByClass map[string]int64 `json:"errorsByClass,omitempty"`
	// Latency of the successful steps, as the orders' Latency: from the scheduled start in an open loop.
	Latency Latency `json:"latencyMs"`
	// PerSecond is OK over the run's Seconds.
	PerSecond float64 `json:"perSecond"`
}

// steadyWindow is the length of the windows Steadiness compares.
const steadyWindow = 30

// Steadiness tells whether throughput held as the data grew: the successful orders per second of the
// first and of the last steadyWindow whole seconds of the run (the last, partial second left out).
type Steadiness struct {
	FirstOrdersPerSecond float64 `json:"firstOrdersPerSecond"`
	LastOrdersPerSecond  float64 `json:"lastOrdersPerSecond"`
	// Ratio is last over first: 1 is no change, 0.9 a tenth slower at the end.
	Ratio float64 `json:"ratio"`
	// FirstCPUMsPerOrder and LastCPUMsPerOrder are the CPU of the processes of -cpu-pids per successful
	// order in the same windows: whether a change of throughput came with more work per order, or with less
	// CPU for the same work.
	FirstCPUMsPerOrder float64 `json:"firstCpuMsPerOrder,omitempty"`
	LastCPUMsPerOrder  float64 `json:"lastCpuMsPerOrder,omitempty"`
}

// steadiness compares the first and last windows of timeline, or returns nil if it is too short.
func steadiness(timeline []Second) *Steadiness {
	whole := len(timeline) - 1 // the last second ends with the last answer: partial
	if whole < 2*steadyWindow {
		return nil
	}
	rate := func(secs []Second) float64 {
		var n int64
		for _, s := range secs {
			n += s.Orders
		}
		return float64(n) / float64(len(secs))
	}
	st := &Steadiness{
		FirstOrdersPerSecond: rate(timeline[:steadyWindow]),
		LastOrdersPerSecond:  rate(timeline[whole-steadyWindow : whole]),
	}
	if st.FirstOrdersPerSecond > 0 {
		st.Ratio = st.LastOrdersPerSecond / st.FirstOrdersPerSecond
	}
	return st
}

// stats summarizes everything recorded.
func (r *recorder) stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Stats{
		Orders: r.ok, Errors: r.failed, Late: r.late,
		Latency: latencyOf(r.latency), ServiceTime: latencyOf(r.service),
		ErrorsByClass: maps.Clone(r.errors),
	}
	if !r.lastDone.IsZero() {
		s.Seconds = r.lastDone.Sub(r.start).Seconds()
	}
	if s.Seconds > 0 {
		s.OrdersPerSecond = float64(r.ok) / s.Seconds
	}
	if r.journeys != nil {
		s.Journeys = make(map[string]Journey, len(r.journeys))
	}
	for name, t := range r.journeys {
		j := Journey{OK: t.ok, Failed: t.failed, Latency: latencyOf(t.latency)}
		if len(t.errors) > 0 {
			j.ErrorsByClass = maps.Clone(t.errors)
		}
		if s.Seconds > 0 {
			j.PerSecond = float64(t.ok) / s.Seconds
		}
		s.Journeys[name] = j
	}
	for i, sec := range r.seconds {
		l := latencyOf(sec.latency)
		s.Timeline = append(s.Timeline, Second{At: i, Orders: sec.ok, Errors: sec.failed, P50: l.P50, P99: l.P99, Max: l.Max})
	}
	s.Steadiness = steadiness(s.Timeline)
	return s
}
