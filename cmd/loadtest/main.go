// Command loadtest drives kitshop's whole purchase flow against a base URL (kitshop's edge, or the original
// system's gateway: the routes are the same) and reports throughput, latency and errors, then audits the
// target's databases.
//
// Set-up: POST /product/sample, GET /product (or -catalogue), then -users users sign up and log in. The run
// places orders, spread over the users in turn and over the products by a seeded generator, each for the
// exact total, each with its own Idempotency-Key. A target that limits logins per client address (kitshop's
// user service allows 20 a minute) answers 429: set-up waits as its Retry-After says, so more users than
// the limit make a slow start. The orders:
//
//   - closed loop (default): -workers workers, each placing one order after another;
//   - open loop (-rate R): R orders a second on a fixed schedule, latency counted from each order's
//     scheduled time, so that a stall is measured rather than hidden (coordinated omission);
//   - -mode grpc places them with OrderService.CreateOrder at -grpc-addr instead of POST /order;
//   - -mix runs journeys by their shares instead of orders alone, each step of the loop drawing one (see
//     mix.go): browsing the catalogue, reading a product, listing the user's orders, logging in, ordering.
//     Only the order journey's steps are orders (the orders' figures and the audit); the summary adds each
//     journey's counts, errors, latency and rate.
//
// It stops after -duration or -count orders, whichever comes first, and waits for the orders in flight.
// Then, with -audit-mongo-uri or -audit-data-dir (the embedded store's Unix socket in that directory), it
// waits (up to -audit-wait) for every order it created to reach DeliveryStarted and checks kitshop's
// invariants over the five databases (internal/audit): one payment per order, stock conserved, exactly one
// sent notification per delivered order, nothing left Pending.
//
// -audit-only places no orders and only checks the invariants, e.g. after another scenario.
//
// It prints a summary (-json: as JSON) with orders/s, latency percentiles from an HDR histogram and errors by
// HTTP status and code or gRPC code, and can write an HTML chart of throughput and latency over time
// (-chart). A live progress bar shows on stderr when it is a terminal. With -cpu-pids (Linux, the target on
// this machine) it also reports the CPU the target's processes spent per order, over the run, each second
// and in the steadiness windows (see cpuwatch.go).
//
// Exit status: 0 when the run was clean (no error and, if asked for, a clean audit), 1 when it was not,
// 2 when it could not run (bad flags, target unreachable, set-up failed).
//
//	go run ./cmd/loadtest -duration 20s -workers 64 -audit-data-dir ./data   # cmd/shop's -data-dir
//	go run ./cmd/loadtest -rate 200 -duration 60s -chart open.html -json > open.json
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
)

// Exit statuses.
const (
	exitClean    = 0
	exitNotClean = 1
	exitCannot   = 2
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the load test and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitClean
		}
		return exitCannot
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadtest: unexpected arguments %q: settings are flags (see -h)\n", fs.Args())
		return exitCannot
	}
	if err := c.validate(); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return exitCannot
	}
	if c.runID == "" {
		c.runID = randomID()
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	code, err := loadTest(ctx, c, stdout, stderr, logger)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
	}
	return code
}

// loadTest sets up, runs, audits and reports.
func loadTest(ctx context.Context, c config, stdout, stderr io.Writer, logger *slog.Logger) (int, error) {
	if c.auditOnly {
		return auditOnly(ctx, c, stdout)
	}
	conns := c.workers
	if !c.closedLoop() {
		conns = c.inflight
	}
	var sink *otlpSink
	if c.otlpSink != "" {
		var err error
		if sink, err = startOTLPSink(c.otlpSink); err != nil {
			return exitCannot, err
		}
	}
	a := newAPI(c.target, max(conns, c.setupWorkers), c.timeout)
	defer a.close()
	w, err := setUp(ctx, c, a, logger)
	if err != nil {
		return exitCannot, err
	}

	var aud *auditor
	if c.auditURI != "" {
		if aud, err = openAuditor(ctx, c.auditURI, c.timeout, true); err != nil {
			return exitCannot, err
		}
		defer aud.close(context.WithoutCancel(ctx))
		logger.Info("starting stock measured for the audit", "products", len(aud.initial))
	}

	var placer orderPlacer = httpPlacer{api: a}
	if c.mode == modeGRPC {
		conn, err := dialGRPC(c.grpcAddr)
		if err != nil {
			return exitCannot, err
		}
		defer conn.Close()
		placer = grpcPlacer{client: orderv1.NewOrderServiceClient(conn), timeout: c.timeout}
	}
	place := func(ctx context.Context, i int64) outcome {
		id, err := placer.place(ctx, w.order(i))
		if err != nil {
			return outcome{journey: journeyOrder, errClass: errorClass(err)}
		}
		return outcome{journey: journeyOrder, id: id}
	}
	step := place
	if c.journeys != nil {
		step = mixStep(c.journeys, a, w, place)
	}

	s := &Summary{
		RunID: c.runID, Target: c.target, Mode: c.mode, Users: len(w.users), Seed: c.seed, Mix: c.journeys.String(),
	}
	if c.mode == modeGRPC {
		s.Target = c.grpcAddr
	}
	for _, p := range w.products {
		s.Products = append(s.Products, p.ID)
	}
	lim := limits{count: c.count, duration: c.duration}
	var cpu *cpuWatch
	if len(c.cpuProcs) > 0 {
		if cpu, err = startCPUWatch(c.cpuProcs); err != nil {
			return exitCannot, err
		}
	}
	rec := newRecorder(time.Now(), c.journeys.journeys()...)
	var bar *progress
	if c.closedLoop() {
		s.Loop, s.Workers = "closed", c.workers
		if c.progress {
			total, byTime := progressTotal(lim, -1)
			bar = startProgress(stderr, rec, total, byTime)
		}
		logger.Info("placing orders", "loop", "closed", "workers", c.workers, "duration", c.duration, "count", c.count)
		closedLoop(ctx, rec, c.workers, lim, step, func(down bool) {
			if down {
				logger.Warn("the target does not answer: each worker backs off, up to "+downWaitMax.String()+" between requests", "target", s.Target)
			} else {
				logger.Info("the target answers again", "target", s.Target)
			}
		}, sleepFor)
	} else {
		s.Loop, s.Rate, s.MaxInflight = "open", c.rate, c.inflight
		sched := schedule{start: rec.start, rate: c.rate}
		if c.progress {
			total, byTime := progressTotal(lim, sched.size(lim))
			bar = startProgress(stderr, rec, total, byTime)
		}
		logger.Info("placing orders", "loop", "open", "rate", c.rate, "duration", c.duration, "count", c.count)
		openLoop(ctx, rec, sched, c.inflight, lim, step)
	}
	if cpu != nil {
		cpu.stop()
	}
	if bar != nil {
		bar.finish()
	}
	s.Stats = rec.stats()
	if cpu != nil {
		cpu.addTo(&s.Stats)
	}
	if sink != nil {
		s.SpansReceived = sink.stop() // set-up's spans and those exported after the run's end included
	}
	interrupted := ctx.Err() != nil
	if interrupted {
		s.AuditError = "interrupted: the run did not finish"
	} else if aud != nil {
		created := rec.createdIDs()
		logger.Info("auditing", "awaiting", len(created), "wait", c.auditWait)
		res, err := aud.finish(ctx, created, s.Orders+s.Errors, c.auditWait, c.auditPendingLimit)
		if err != nil {
			s.AuditError = err.Error()
		} else {
			s.Audit = &res
		}
	}
	s.Clean = !interrupted && s.clean(aud != nil)

	if c.chart != "" {
		if err := writeChartFile(c.chart, s); err != nil {
			return exitCannot, err
		}
	}
	if c.jsonOut {
		err = writeJSON(stdout, s)
	} else {
		err = writeText(stdout, s, c.auditMaxPrint)
	}
	if err != nil {
		return exitCannot, err
	}
	if !s.Clean {
		return exitNotClean, nil
	}
	return exitClean, nil
}

// auditOnly checks the invariants of the store and reports, placing no order.
func auditOnly(ctx context.Context, c config, stdout io.Writer) (int, error) {
	aud, err := openAuditor(ctx, c.auditURI, c.timeout, false)
	if err != nil {
		return exitCannot, err
	}
	defer aud.close(context.WithoutCancel(ctx))
	res, err := aud.check(ctx, c.auditPendingLimit)
	if err != nil {
		return exitCannot, err
	}
	s := &Summary{RunID: c.runID, AuditOnly: true, Audit: &res}
	s.Clean = s.clean(true)
	if c.jsonOut {
		err = writeJSON(stdout, s)
	} else {
		err = writeText(stdout, s, c.auditMaxPrint)
	}
	if err != nil {
		return exitCannot, err
	}
	if !s.Clean {
		return exitNotClean, nil
	}
	return exitClean, nil
}

// progressTotal returns the progress bar's total and whether it counts time: steps when their number is
// known (scheduled, an open loop's size, or -count alone), else the duration in milliseconds.
func progressTotal(lim limits, scheduled int64) (int64, bool) {
	switch {
	case scheduled > 0:
		return scheduled, false
	case lim.duration == 0:
		return lim.count, false
	default:
		return lim.duration.Milliseconds(), true
	}
}

func writeChartFile(path string, s *Summary) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	title := "kitshop load test " + s.RunID
	sub := fmt.Sprintf("%s. %d orders, %d errors in %.1f s (%.1f orders/s); latency %s.",
		s.describe(), s.Orders, s.Errors, s.Seconds, s.OrdersPerSecond, formatLatency(s.Latency))
	return errors.Join(writeChart(f, title, sub, s.Timeline), f.Close())
}

// setUp creates the samples, reads the catalogue, and signs up and logs in the users.
func setUp(ctx context.Context, c config, a *api, logger *slog.Logger) (*workload, error) {
	if c.createSamples {
		if err := a.createSamples(ctx); err != nil {
			return nil, fmt.Errorf("POST /product/sample at %s: %w", c.target, err)
		}
	}
	var products []product
	if c.catalogue != "" {
		products, _ = parseCatalogue(c.catalogue) // validated
	} else {
		all, err := a.listProducts(ctx)
		if err != nil {
			return nil, fmt.Errorf("GET /product at %s (give -catalogue for a target without it): %w", c.target, err)
		}
		var skipped string
		products, skipped = usable(all, c.minStock)
		if skipped != "" {
			logger.Warn("products left out: stock below -min-stock", "products", skipped, "min_stock", c.minStock)
		}
		if len(products) == 0 {
			return nil, fmt.Errorf("no product at %s has a stock of -min-stock %d or more: start cmd/shop with a larger -sample-stock, or lower -min-stock", c.target, c.minStock)
		}
	}

	start := time.Now()
	var warned atomic.Bool
	patiently := func(ctx context.Context, call func() error) error {
		return retryLimited(ctx, call, func(wait time.Duration) {
			if !warned.Swap(true) {
				logger.Warn("the target rate-limits sign-ups or logins from one address; waiting as told (start it with a higher limit for a faster set-up)", "retry_after", wait)
			}
		})
	}
	users := make([]*user, c.users)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.setupWorkers)
	password := "loadtest-" + c.runID
	for n := range users {
		g.Go(func() error {
			u := &user{email: fmt.Sprintf("lt-%s-%04d@example.com", c.runID, n), name: fmt.Sprintf("Load Tester %d", n), password: password}
			if err := patiently(gctx, func() error { return a.register(gctx, u.email, u.password, u.name) }); err != nil {
				return fmt.Errorf("sign up %s: %w", u.email, err)
			}
			err := patiently(gctx, func() (err error) {
				u.token, err = a.login(gctx, u.email, u.password)
				return err
			})
			if err != nil {
				return fmt.Errorf("log in %s: %w", u.email, err)
			}
			users[n] = u
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	logger.Info("set up", "users", len(users), "products", len(products), "took", time.Since(start).Round(time.Millisecond))
	return &workload{
		users: users, products: products, maxDistinct: c.maxProducts, maxQuantity: c.maxQuantity,
		payment: c.payment, seed: c.seed, keyPrefix: "lt-" + c.runID + "-" + randomID() + "-",
	}, nil
}

// retryLimited calls call until it succeeds or fails otherwise than with 429 Too Many Requests, waiting
// each time as long as the answer's Retry-After says (a second when it says nothing), and telling waiting
// about each wait.
func retryLimited(ctx context.Context, call func() error, waiting func(time.Duration)) error {
	for {
		err := call()
		var ae *apiError
		if !errors.As(err, &ae) || ae.status != http.StatusTooManyRequests {
			return err
		}
		wait := ae.retryAfter
		if wait < 0 {
			wait = time.Second
		}
		waiting(wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// randomID returns 8 random lower-case hex digits.
func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return strings.ToLower(hex.EncodeToString(b[:]))
}
