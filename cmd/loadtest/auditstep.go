package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kitshop/kitshop/internal/audit"
)

// auditor runs the final audit of a kitshop target with internal/audit: it measures the starting stock
// before the run, then waits for the created orders to be delivered and checks every invariant.
type auditor struct {
	client  *mongo.Client
	dbs     audit.Databases
	initial map[string]int64
	// commands are the store's command counts at the start of the run (nil when the store has none), and
	// own this client's, taken at the same time.
	commands map[string]int64
	own      *commandCounter
	ownStart map[string]int64
}

// AuditResult is the outcome of the final audit.
type AuditResult struct {
	// Awaited is the number of created orders waited for; Undelivered those still short of DeliveryStarted
	// when the wait ended, after WaitedSeconds.
	Awaited       int     `json:"awaited"`
	Undelivered   int     `json:"undelivered"`
	WaitedSeconds float64 `json:"waitedSeconds"`
	// Report is the invariant check (its NotDelivered violations list the undelivered orders).
	Report audit.Report `json:"report"`
	// StoreCommands are the commands the store served from the start of the run to the end of the wait;
	// nil when the store does not count them.
	StoreCommands *StoreCommands `json:"storeCommands,omitempty"`
}

// openAuditor connects to the target's store, waiting up to timeout for it to answer, and, with baseline,
// measures the starting stock (audit.Baseline), which must be done while the target is quiet.
func openAuditor(ctx context.Context, uri string, timeout time.Duration, baseline bool) (*auditor, error) {
	own := newCommandCounter()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetMonitor(own.monitor()))
	if err != nil {
		return nil, fmt.Errorf("audit: connect to %s: %w", uri, err)
	}
	a := &auditor{client: c, dbs: audit.FromClient(c), own: own}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err = c.Ping(pctx, nil); err != nil {
		return nil, errors.Join(fmt.Errorf("audit: the store at %s does not answer: %w", uri, err), c.Disconnect(ctx))
	}
	if !baseline {
		return a, nil
	}
	if a.initial, err = audit.Baseline(ctx, a.dbs); err != nil {
		return nil, errors.Join(err, c.Disconnect(ctx))
	}
	// Counting the store's commands is a bonus: a store that does not report them is still audited.
	a.commands, _ = storeCommandCounts(ctx, c)
	a.ownStart = own.counts()
	return a, nil
}

// close disconnects from the store.
func (a *auditor) close(ctx context.Context) error { return a.client.Disconnect(ctx) }

// check only checks the invariants, without a starting stock.
func (a *auditor) check(ctx context.Context, pendingLimit time.Duration) (AuditResult, error) {
	r, err := audit.Check(ctx, a.dbs, audit.Options{PendingLimit: pendingLimit})
	return AuditResult{Report: r}, err
}

// finish waits up to wait for the created orders to reach DeliveryStarted, counts the store's commands since
// the start, then checks the invariants. placed is the number of orders placed, successful or not.
func (a *auditor) finish(ctx context.Context, created []string, placed int64, wait, pendingLimit time.Duration) (AuditResult, error) {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	left, err := audit.WaitDelivered(wctx, a.dbs.Order, created, 250*time.Millisecond)
	if err != nil {
		return AuditResult{}, err
	}
	res := AuditResult{Awaited: len(created), Undelivered: len(left), WaitedSeconds: time.Since(start).Seconds()}
	if a.commands != nil {
		if now, err := storeCommandCounts(ctx, a.client); err == nil {
			sc := storeCommandsBetween(a.commands, now, a.own.since(a.ownStart), placed)
			res.StoreCommands = &sc
		}
	}
	res.Report, err = audit.Check(ctx, a.dbs, audit.Options{
		InitialStock: a.initial,
		PendingLimit: pendingLimit,
		Delivered:    created,
	})
	return res, err
}
