package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kitshop/kitshop/internal/docstore"
)

// Modes: how orders are placed.
const (
	modeHTTP = "http" // POST /order at -target
	modeGRPC = "grpc" // OrderService.CreateOrder at -grpc-addr
)

// Payment choices of -payment.
const (
	payCard  = "card"
	payKakao = "kakao"
	payMix   = "mix" // three card payments in four, one Kakao
)

// config is everything cmd/loadtest can be told.
type config struct {
	target   string // base URL of the HTTP API (edge or gateway)
	mode     string
	grpcAddr string

	users    int
	workers  int     // closed loop: concurrent workers
	rate     float64 // open loop: orders per second; 0 = closed loop
	inflight int     // open loop: most requests in flight at once
	duration time.Duration
	count    int64 // stop after this many orders; 0 = by duration only
	timeout  time.Duration

	maxProducts   int // distinct products per order, 1..maxProducts
	maxQuantity   int // units of each product, 1..maxQuantity
	minStock      int64
	catalogue     string // "id:price,..." instead of reading GET /product
	createSamples bool
	payment       string
	seed          uint64
	mix           string // -mix as given
	journeys      mix    // and parsed; nil: orders only
	runID         string
	setupWorkers  int

	jsonOut  bool
	chart    string
	progress bool
	cpuPids  string        // -cpu-pids as given
	cpuProcs []watchedProc // and parsed
	otlpSink string

	auditURI          string
	auditDataDir      string
	auditOnly         bool
	auditWait         time.Duration
	auditPendingLimit time.Duration
	auditMaxPrint     int
}

func (c *config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.target, "target", "http://localhost:8080", "base URL of the HTTP API: kitshop's edge, or the original's gateway (same routes)")
	fs.StringVar(&c.mode, "mode", modeHTTP, "how orders are placed: http (POST /order at -target) or grpc (OrderService.CreateOrder at -grpc-addr); users always sign up over HTTP")
	fs.StringVar(&c.grpcAddr, "grpc-addr", "127.0.0.1:50053", "order service gRPC address, host:port (-mode grpc)")
	fs.IntVar(&c.users, "users", 100, "distinct users to register, log in and spread the orders across")
	fs.IntVar(&c.workers, "workers", 64, "closed loop: workers, each placing one order after another")
	fs.Float64Var(&c.rate, "rate", 0, "open loop: orders per second on a fixed schedule (0: closed loop with -workers); latency counts from each order's scheduled time, so a slow system is not let off (coordinated omission)")
	fs.IntVar(&c.inflight, "max-inflight", 1024, "open loop: most orders in flight at once; orders past it wait, and their wait counts in their latency")
	fs.DurationVar(&c.duration, "duration", 60*time.Second, "how long to place orders (0: until -count)")
	fs.Int64Var(&c.count, "count", 0, "stop after this many orders (0: after -duration)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "time limit of each request")
	fs.IntVar(&c.maxProducts, "max-products", 3, "each order has 1 to this many distinct products")
	fs.IntVar(&c.maxQuantity, "max-quantity", 2, "each product of an order comes 1 to this many times")
	fs.Int64Var(&c.minStock, "min-stock", 100_000, "use only products with at least this stock, so that out-of-stock stays rare (raise stock with cmd/shop -sample-stock)")
	fs.StringVar(&c.catalogue, "catalogue", "", "products to order as id:price,id:price,... instead of reading GET /product (the original gateway has no such route); stock is then not checked")
	fs.BoolVar(&c.createSamples, "create-samples", true, "call POST /product/sample first")
	fs.StringVar(&c.payment, "payment", payMix, "payment method: card (4242 4242 4242 4242), kakao, or mix (one order in four with Kakao)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the choice of users and products; the same seed places the same orders")
	fs.StringVar(&c.mix, "mix", "", "journeys to run instead of orders alone, as journey=share,... (e.g. browse=50,product=20,orders=15,login=5,order=10): each step draws one by the shares, from -seed and the step's number. browse: GET /product, the first page (one time in "+strconv.Itoa(browseMore)+" the next one too); product: GET /product/{id} of a random product; orders: GET /order of the user; login: POST /auth/login of the user (the target's login limit applies: cmd/shop -login-rate-per-ip -1); order: an order as without -mix. -workers, -rate, -max-inflight and -count then count steps of every journey; the orders' figures and the audit stay the order journey's (CPU and store commands per order: every journey's over the orders alone), and the summary adds each journey's and the CPU per request. Empty: orders only")
	fs.StringVar(&c.runID, "run-id", "", "names this run's users (lt-<run-id>-NNNN@example.com); empty: random. Reuse it to log the same users in again (orders are always new)")
	fs.IntVar(&c.setupWorkers, "setup-workers", 8, "concurrent sign-ups and logins during set-up")
	fs.BoolVar(&c.jsonOut, "json", false, "write the summary as JSON on stdout instead of text")
	fs.StringVar(&c.chart, "chart", "", "write a self-contained HTML chart of throughput and latency over time to this file")
	fs.BoolVar(&c.progress, "progress", true, "show a live progress bar on stderr (only when stderr is a terminal)")
	fs.StringVar(&c.cpuPids, "cpu-pids", "", "Linux: process ids of the target on this machine, as pid or name=pid separated by commas (e.g. shop=1234 or services=1234,store=5678): report their CPU per order, each and together, per second and in the steadiness windows, and their peak resident memory")
	fs.StringVar(&c.otlpSink, "otlp-sink", "", "listen address (e.g. 127.0.0.1:4317) of an OTLP/gRPC trace receiver that counts and drops the spans the target exports (start the target with -otel-endpoint http://<it>): tracing's cost measured with its export, no collector needed; empty: none")
	fs.StringVar(&c.auditURI, "audit-mongo-uri", "", "MongoDB URI of the target's store (the one cmd/shop or cmd/docstore prints, or MongoDB's); when set, the run ends with the invariant audit of internal/audit")
	fs.StringVar(&c.auditDataDir, "audit-data-dir", "", "data directory of the target's embedded store (cmd/shop's or cmd/docstore's -data-dir), audited through its Unix socket there instead of -audit-mongo-uri; the same user must run both")
	fs.BoolVar(&c.auditOnly, "audit-only", false, "place no orders: only check the invariants of the store at -audit-mongo-uri, e.g. after another scenario (stock conservation needs the starting stock of a run, so it is not checked)")
	fs.DurationVar(&c.auditWait, "audit-wait", 60*time.Second, "audit: longest wait for every created order to reach DeliveryStarted")
	fs.DurationVar(&c.auditPendingLimit, "audit-pending-limit", 2*time.Minute, "audit: longest an order may stay Pending")
	fs.IntVar(&c.auditMaxPrint, "audit-max-print", 50, "audit: most violations printed in the text summary (JSON has them all)")
}

// closedLoop reports whether the run is closed loop (workers) rather than open loop (a rate).
func (c *config) closedLoop() bool { return c.rate == 0 }

// validate checks every setting and reports all problems at once.
func (c *config) validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("invalid -%s: %s", name, fmt.Sprintf(format, args...)))
	}
	u, err := url.Parse(c.target)
	switch {
	case err != nil:
		bad("target", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		bad("target", "%q must be an http:// or https:// URL", c.target)
	case u.Host == "":
		bad("target", "%q has no host", c.target)
	}
	switch c.mode {
	case modeHTTP:
	case modeGRPC:
		if _, _, err := net.SplitHostPort(c.grpcAddr); err != nil {
			bad("grpc-addr", "%v", err)
		}
	default:
		bad("mode", "%q is neither %s nor %s", c.mode, modeHTTP, modeGRPC)
	}
	if c.users < 1 {
		bad("users", "must be at least 1, got %d", c.users)
	}
	if c.closedLoop() && c.workers < 1 {
		bad("workers", "must be at least 1, got %d", c.workers)
	}
	if c.rate < 0 {
		bad("rate", "must not be negative, got %g", c.rate)
	}
	if !c.closedLoop() && c.inflight < 1 {
		bad("max-inflight", "must be at least 1, got %d", c.inflight)
	}
	if c.duration < 0 {
		bad("duration", "must not be negative, got %s", c.duration)
	}
	if c.count < 0 {
		bad("count", "must not be negative, got %d", c.count)
	}
	if c.duration == 0 && c.count == 0 {
		bad("duration", "-duration and -count are both 0: the run would never end")
	}
	if c.timeout <= 0 {
		bad("timeout", "must be positive, got %s", c.timeout)
	}
	if c.maxProducts < 1 {
		bad("max-products", "must be at least 1, got %d", c.maxProducts)
	}
	if c.maxQuantity < 1 {
		bad("max-quantity", "must be at least 1, got %d", c.maxQuantity)
	}
	if c.minStock < 0 {
		bad("min-stock", "must not be negative, got %d", c.minStock)
	}
	if c.catalogue != "" {
		if _, err := parseCatalogue(c.catalogue); err != nil {
			bad("catalogue", "%v", err)
		}
	}
	if c.payment != payCard && c.payment != payKakao && c.payment != payMix {
		bad("payment", "%q is none of %s, %s, %s", c.payment, payCard, payKakao, payMix)
	}
	if c.mix != "" {
		var err error
		if c.journeys, err = parseMix(c.mix); err != nil {
			bad("mix", "%v", err)
		}
		if c.auditOnly {
			bad("mix", "-audit-only runs nothing: there is no workload to mix")
		}
	}
	if strings.ContainsFunc(c.runID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}) {
		bad("run-id", "%q may hold only a-z, 0-9 and '-' (it goes into e-mail addresses)", c.runID)
	}
	if c.cpuPids != "" {
		var err error
		if c.cpuProcs, err = parseCPUPids(c.cpuPids); err != nil {
			bad("cpu-pids", "%v", err)
		}
		if c.auditOnly {
			bad("cpu-pids", "-audit-only places no orders: there is no CPU per order to measure")
		}
	}
	if c.setupWorkers < 1 {
		bad("setup-workers", "must be at least 1, got %d", c.setupWorkers)
	}
	if c.auditURI != "" && !strings.HasPrefix(c.auditURI, "mongodb://") && !strings.HasPrefix(c.auditURI, "mongodb+srv://") {
		bad("audit-mongo-uri", "%q is not a mongodb:// or mongodb+srv:// URI", c.auditURI)
	}
	if c.auditDataDir != "" {
		uri, err := docstore.SocketURI(c.auditDataDir)
		switch {
		case c.auditURI != "":
			bad("audit-data-dir", "give it or -audit-mongo-uri, not both")
		case err != nil:
			bad("audit-data-dir", "%v", err)
		default:
			c.auditURI = uri
		}
	}
	if c.auditOnly && c.auditURI == "" && c.auditDataDir == "" {
		bad("audit-only", "needs -audit-mongo-uri or -audit-data-dir")
	}
	if c.auditWait < 0 {
		bad("audit-wait", "must not be negative, got %s", c.auditWait)
	}
	if c.auditPendingLimit <= 0 {
		bad("audit-pending-limit", "must be positive, got %s", c.auditPendingLimit)
	}
	if c.auditMaxPrint < 0 {
		bad("audit-max-print", "must not be negative, got %d", c.auditMaxPrint)
	}
	return errors.Join(errs...)
}

// parseCatalogue reads -catalogue: id:price pairs separated by commas.
func parseCatalogue(s string) ([]product, error) {
	var ps []product
	seen := make(map[string]bool)
	for _, pair := range strings.Split(s, ",") {
		id, price, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok || id == "" {
			return nil, fmt.Errorf("%q is not id:price", pair)
		}
		p, err := strconv.ParseInt(price, 10, 64)
		if err != nil || p <= 0 {
			return nil, fmt.Errorf("price of %s must be a positive whole number (won), got %q", id, price)
		}
		if seen[id] {
			return nil, fmt.Errorf("product %s is listed twice", id)
		}
		seen[id] = true
		ps = append(ps, product{ID: id, Price: p, Stock: -1})
	}
	return ps, nil
}
