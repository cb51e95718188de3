package payment

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/internal/token"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
)

// Deps is what Build needs.
type Deps struct {
	// DB is the payment service's own database.
	DB *mongo.Database
	// Logger receives one line per call of an endpoint (NewSet). Nil discards.
	Logger *slog.Logger
	// Registerer receives the service metrics, already wrapped with a "service" label by the caller. Nil
	// leaves them unregistered.
	Registerer prometheus.Registerer
	// Verifier checks the admin tokens of the HTTP route (the user service's public key).
	Verifier *token.Verifier
	// Processor is the card network. Nil means a Simulator without latency.
	Processor Processor
	// CardKey is the HMAC key of card fingerprints (LoadOrCreateCardKey), at least MinCardKeyBytes bytes.
	CardKey []byte
	// ProcessorTimeout bounds each processor call; zero means DefaultProcessorTimeout.
	ProcessorTimeout time.Duration
	// Recovery tunes the voiding of charges the processor never received; zero fields take the defaults.
	Recovery Recovery
	// Tracer is the service's tracer provider, for the Reconciler's spans (Options.Tracer). Nil means
	// telemetry.Disabled.
	Tracer trace.TracerProvider
}

// Recovery is how the payment service finishes payments whose charge never reached the processor
// (Options.VoidAfter, Options.ReconcileInterval), as flags of cmd/payment and cmd/shop.
type Recovery struct {
	VoidAfter         time.Duration
	ReconcileInterval time.Duration
}

// RegisterFlags registers -void-after and -reconcile-interval on fs.
func (r *Recovery) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&r.VoidAfter, "void-after", DefaultVoidAfter, "age after which a pending payment whose charge the processor never received is voided (keep it below the order service's hold, -order-timeout + 5s + -sweep-grace)")
	fs.DurationVar(&r.ReconcileInterval, "reconcile-interval", DefaultReconcileInterval, "how often the payment service finishes the pending payments nobody asks about")
}

// CheckFlags reports, through bad, each flag of RegisterFlags set to a value the service refuses.
func (r Recovery) CheckFlags(bad func(name, format string, args ...any)) {
	if r.VoidAfter <= 0 {
		bad("void-after", "%s: must be positive", r.VoidAfter)
	}
	if r.ReconcileInterval <= 0 {
		bad("reconcile-interval", "%s: must be positive", r.ReconcileInterval)
	}
}

// Component is the assembled payment service.
type Component struct {
	// Service is the service itself, undecorated: calls made on it are neither logged nor counted (the
	// endpoints are, see NewSet).
	Service Service
	// Endpoints are the endpoints the transports serve.
	Endpoints Set
	// HTTPHandler serves the public routes (see NewHTTPHandler); wrap it with httpserver.New for health and
	// metrics.
	HTTPHandler http.Handler
	// Background is the Reconciler (Run), which finishes the payments nobody asks about, and, when the
	// process stops, the run of the marks' deletes still queued (Options.CleanupDelay).
	Background []func(context.Context) error

	grpc paymentv1.PaymentServiceServer
}

// RegisterGRPC registers PaymentService on r.
func (c *Component) RegisterGRPC(r grpc.ServiceRegistrar) {
	paymentv1.RegisterPaymentServiceServer(r, c.grpc)
}

// Build assembles store → service → observed endpoints → transports. ctx bounds the store set-up.
func Build(ctx context.Context, d Deps) (*Component, error) {
	if d.DB == nil || d.Verifier == nil {
		return nil, errors.New("payment: Build needs a database and a token verifier")
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With(slog.String("service", "payment"))
	processor := d.Processor
	if processor == nil {
		processor = NewSimulator(SimulatorOptions{})
	}
	store, err := NewMongoStore(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	opts := Options{
		CardKey:           d.CardKey,
		ProcessorTimeout:  d.ProcessorTimeout,
		VoidAfter:         d.Recovery.VoidAfter,
		ReconcileInterval: d.Recovery.ReconcileInterval,
		CleanupDelay:      DefaultCleanupDelay,
		Logger:            logger,
		Tracer:            d.Tracer,
	}
	svc, err := newService(store, processor, opts)
	if err != nil {
		return nil, err
	}
	reconciler := NewReconciler(store, processor, svc, opts)
	set := NewSet(svc, d.Verifier, logger, d.Registerer)
	return &Component{
		Service:     svc,
		Endpoints:   set,
		HTTPHandler: NewHTTPHandler(set),
		Background: []func(context.Context) error{reconciler.Run, func(ctx context.Context) error {
			<-ctx.Done()
			svc.cleanup.Flush() // the marks' deletes queued, before the store closes
			return nil
		}},
		grpc: NewGRPCServer(set),
	}, nil
}
