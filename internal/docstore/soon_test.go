package docstore_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/docstore"
)

// TestSoonRunsQueuedWritesTogether: writes queued within the delay run at once, concurrently (each waits for
// all the others to start), and Flush returns once they have run; a Flush runs what is queued without
// waiting for the delay; without a delay each write runs in the caller's turn.
func TestSoonRunsQueuedWritesTogether(t *testing.T) {
	s := docstore.NewSoon(50 * time.Millisecond)
	const n = 8
	var ran atomic.Int32
	var all sync.WaitGroup
	all.Add(n)
	for range n {
		s.Do(func() {
			all.Done()
			all.Wait() // returns only if all n run at the same time
			ran.Add(1)
		})
	}
	s.Flush()
	if got := ran.Load(); got != n {
		t.Errorf("after Flush, %d writes ran, want %d", got, n)
	}
	// A later write arms a round of its own, which a Flush runs at once.
	hour := docstore.NewSoon(time.Hour)
	hour.Do(func() { ran.Add(1) })
	hour.Flush()
	if got := ran.Load(); got != n+1 {
		t.Errorf("after the second Flush, %d writes ran, want %d", got, n+1)
	}

	now := docstore.NewSoon(0)
	done := false
	now.Do(func() { done = true })
	if !done {
		t.Error("a Soon without delay did not run the write before Do returned")
	}
	now.Flush()
}
