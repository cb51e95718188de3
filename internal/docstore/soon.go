package docstore

import (
	"sync"
	"time"
)

// Soon runs the writes that nobody waits for, and whose being a moment late harms nothing (the delete of a
// finished order's work entry, of a settled payment's mark), together, a moment later: the writes queued
// within the delay of the first one run at once, each in a goroutine of its own, so that on the embedded
// store the Updater's batchers send them as a few commands rather than one each. A Soon with no delay runs
// each write at once, in the caller's goroutine. Its methods are safe for concurrent use.
type Soon struct {
	delay time.Duration

	mu      sync.Mutex
	done    sync.Cond   // signalled when a round ends
	queue   []func()    // the writes of the next round
	timer   *time.Timer // starts the next round; nil when none is armed
	running int         // rounds started and not yet done
}

// NewSoon returns a Soon whose writes wait up to delay (zero or negative: none).
func NewSoon(delay time.Duration) *Soon {
	s := &Soon{delay: delay}
	s.done.L = &s.mu
	return s
}

// Do runs write within the delay, with the others queued by then. write must bound itself (its own
// context's deadline): the caller has gone on.
func (s *Soon) Do(write func()) {
	if s.delay <= 0 {
		write()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, write)
	if s.timer == nil {
		s.timer = time.AfterFunc(s.delay, s.round)
	}
}

// Flush runs the writes queued now, without waiting for the delay, and returns once they and every round
// started before have run: what a process stopping calls.
func (s *Soon) Flush() {
	s.round()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.running > 0 {
		s.done.Wait()
	}
}

// round runs every write queued, at once, and waits for them. The timer armed, if any, is stopped: its
// writes are these (one that fired meanwhile finds nothing left, or the writes queued since).
func (s *Soon) round() {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
	}
	writes := s.queue
	s.queue, s.timer = nil, nil
	s.running++
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range writes {
		wg.Go(w)
	}
	wg.Wait()
	s.mu.Lock()
	s.running--
	s.done.Broadcast()
	s.mu.Unlock()
}
