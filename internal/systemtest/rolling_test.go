package systemtest_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/audit"
	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/systemtest"
	"github.com/kitshop/kitshop/order"
)

// TestRollingRestart restarts every service, one after the other (Stop,
// then Restart), while a closed loop of customers places orders over HTTP.
// A customer repeats an order under its idempotency key until it is
// accepted (201, or 200 with the order an earlier attempt made). Every
// answer on the way must be that or a 503 with Retry-After; while the order
// service itself is down, an attempt may also get no answer at all (no
// listener, or its call cut off by the stop). Once the stream has stopped,
// the order service's clock jumps by one SweepAge and runs, and every order
// must be final, each paid one delivered with one e-mail, and the audit
// clean.
func TestRollingRestart(t *testing.T) {
	clk := newClock()
	sys := systemtest.Start(t, systemtest.Options{Order: order.Options{Now: clk.Now}})
	ctx := testCtx(t)
	tok := sys.SignUp(t, "kim@example.com")

	// orderEpoch is odd while the order service is down; an attempt that
	// saw it odd, or saw it change, may have got no answer.
	var orderEpoch, accepted atomic.Int64
	var mu sync.Mutex
	var bad []string
	ids := make(map[string]bool)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const customers = 4
	for c := range customers {
		wg.Go(func() {
			for i := 0; ; i++ {
				req := systemtest.OrderRequest{ProductIDs: []string{"sample-1", "sample-5"}, Key: fmt.Sprintf("rolling-%d-%d", c, i)}
				for {
					select {
					case <-stop:
						return
					default:
					}
					e0 := orderEpoch.Load()
					r, o, err := sys.PlaceOrder(ctx, tok, req)
					e1 := orderEpoch.Load()
					if err == nil && (r.Status == http.StatusCreated || r.Status == http.StatusOK) {
						mu.Lock()
						ids[o.ID] = true
						mu.Unlock()
						accepted.Add(1)
						break
					}
					_, hasRetryAfter := r.RetryAfter()
					switch {
					case err == nil && r.Status == http.StatusServiceUnavailable && hasRetryAfter:
					case err != nil && (e0%2 == 1 || e1%2 == 1 || e0 != e1):
					default:
						mu.Lock()
						bad = append(bad, fmt.Sprintf("order %s: %v %v", req.Key, r, err))
						mu.Unlock()
					}
					time.Sleep(20 * time.Millisecond) // the customer's pause before trying again
				}
			}
		})
	}
	// progress waits until n more orders are accepted.
	progress := func(n int64, what string) {
		from := accepted.Load()
		systemtest.Eventually(t, 30*time.Second, fmt.Sprintf("%d orders accepted %s", n, what), func() (bool, string) {
			got := accepted.Load() - from
			return got >= n, fmt.Sprintf("%d accepted", got)
		})
	}
	progress(customers, "before the restarts")
	for _, name := range config.ServiceNames() {
		if name == systemtest.Order {
			orderEpoch.Add(1)
		}
		err := sys.Stop(name)
		if bad := systemtest.UnexpectedStopErrors(err); len(bad) > 0 {
			t.Errorf("stopping %s: %v", name, bad)
		}
		sys.Restart(t, name)
		if name == systemtest.Order {
			orderEpoch.Add(1)
		}
		progress(customers, "after the restart of "+name)
	}
	close(stop)
	wg.Wait()
	for _, b := range bad {
		t.Errorf("an answer neither accepted nor 503 with Retry-After: %s", b)
	}
	t.Logf("%d orders accepted across the restarts", accepted.Load())

	clk.Advance(sys.SweepAge() + time.Second)
	clk.Run()
	sys.WaitSettled(t, settleWait)
	all := make([]string, 0, len(ids))
	for id := range ids {
		all = append(all, id)
	}
	delivered := paidAmong(t, sys, all)
	sys.WaitDelivered(t, settleWait, delivered)
	checkMails(t, sys, all, delivered)
	sys.CheckInvariants(t, audit.Options{Delivered: delivered})
}
