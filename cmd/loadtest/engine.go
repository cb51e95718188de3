package main

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// outcome is what a step of a run did: its journey (journeyOrder without -mix), the id of the order it
// created, if any, and its error class, "" when it came out as expected.
type outcome struct {
	journey, id, errClass string
}

// stepFunc runs the i-th step of the run: its journey, which places the i-th order without -mix.
type stepFunc func(ctx context.Context, i int64) outcome

// limits say when a run stops issuing steps: after count steps (0: no limit) or once duration has passed
// since the start (0: no limit). At least one is set.
type limits struct {
	count    int64
	duration time.Duration
}

// unreachable is the error class of a step the target did not answer at all (connection refused or reset).
const unreachable = "transport error"

// Waits of a closed-loop worker after a step the target did not answer, whatever its journey: downWaitMin
// doubling to downWaitMax, so that a stopped target is tried a few times a second instead of thousands of times.
const (
	downWaitMin = 50 * time.Millisecond
	downWaitMax = 2 * time.Second
)

// sleepFor waits for d, or until ctx is done.
func sleepFor(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// outage tells when the target stops answering and when it answers again, once per outage for all the
// workers of a loop.
type outage struct {
	down atomic.Bool
	say  func(down bool)
}

// saw records whether a step was answered, telling say on each change.
func (o *outage) saw(answered bool) {
	if o.down.CompareAndSwap(answered, !answered) && o.say != nil {
		o.say(!answered)
	}
}

// closedLoop runs workers that each run one step after another until the limits are reached, then waits
// for the steps in flight. ctx aborts everything, steps in flight included. A worker whose step the target
// did not answer (unreachable) waits before its next one, downWaitMin doubling to downWaitMax, by sleep;
// say hears when the target stops and starts answering (nil: no one).
func closedLoop(ctx context.Context, rec *recorder, workers int, lim limits, step stepFunc, say func(down bool), sleep func(context.Context, time.Duration)) {
	out := &outage{say: say}
	var next atomic.Int64
	var deadline time.Time
	if lim.duration > 0 {
		deadline = rec.start.Add(lim.duration)
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var wait time.Duration
			for ctx.Err() == nil {
				started := time.Now()
				if !deadline.IsZero() && !started.Before(deadline) {
					return
				}
				i := next.Add(1) - 1
				if lim.count > 0 && i >= lim.count {
					return
				}
				o := step(ctx, i)
				rec.record(started, started, time.Now(), o)
				out.saw(o.errClass != unreachable)
				if o.errClass != unreachable {
					wait = 0
					continue
				}
				wait = min(max(2*wait, downWaitMin), downWaitMax)
				sleep(ctx, wait)
			}
		})
	}
	wg.Wait()
}

// schedule is an open loop's timetable: step i is due at start + i/rate. Computing each time from i, not by
// adding an interval to the last one, keeps rounding from drifting the rate.
type schedule struct {
	start time.Time
	rate  float64 // steps per second
}

// at returns when step i is due.
func (s schedule) at(i int64) time.Time {
	return s.start.Add(time.Duration(float64(i) / s.rate * float64(time.Second)))
}

// size returns how many steps the schedule holds within the limits.
func (s schedule) size(lim limits) int64 {
	n := int64(-1) // unlimited
	if lim.duration > 0 {
		// Steps due strictly before start + duration.
		end := s.start.Add(lim.duration)
		n = int64(math.Ceil(lim.duration.Seconds() * s.rate))
		for n > 0 && !s.at(n-1).Before(end) {
			n--
		}
		for s.at(n).Before(end) {
			n++
		}
	}
	if lim.count > 0 && (n < 0 || lim.count < n) {
		n = lim.count
	}
	return n
}

// job is an open-loop step handed to a worker.
type job struct {
	i   int64
	due time.Time
}

// openLoop runs steps on the schedule, whatever the answers' speed, with at most inflight in flight: a step
// due while every slot is busy waits for one, and since its latency is counted from when it was due, that
// wait is in its latency (the coordinated omission of a closed loop, which stops sending when the system
// slows and so never measures the stall). It returns once every scheduled step is answered; ctx aborts it.
func openLoop(ctx context.Context, rec *recorder, sched schedule, inflight int, lim limits, step stepFunc) {
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range inflight {
		wg.Go(func() {
			for j := range jobs {
				started := time.Now()
				o := step(ctx, j.i)
				rec.record(j.due, started, time.Now(), o)
			}
		})
	}
	n := sched.size(lim)
	timer := time.NewTimer(0)
	defer timer.Stop()
dispatch:
	for i := int64(0); n < 0 || i < n; i++ {
		due := sched.at(i)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				break dispatch
			case <-timer.C:
			}
		}
		if ctx.Err() != nil { // a select with both ready picks at random: check first
			break
		}
		select {
		case <-ctx.Done():
			break dispatch
		case jobs <- job{i: i, due: due}:
		}
	}
	close(jobs)
	wg.Wait()
}
