package assembly

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"time"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/payment"
)

// Payment is the payment service's settings.
type Payment struct {
	// CardKeyFile is -card-key-file; empty: CardKeyFile in Prepare's dataDir.
	CardKeyFile      string
	ProcessorLatency time.Duration
	ProcessorTimeout time.Duration
	Recovery         payment.Recovery
	// Processor is the card network; nil: a payment.Simulator with
	// ProcessorLatency.
	Processor payment.Processor
}

// RegisterFlags defines the payment service's flags.
func (p *Payment) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&p.CardKeyFile, "card-key-file", "", "hex HMAC key that fingerprints card numbers (share it between replicas); empty: "+CardKeyFile+" in -data-dir, generated on first start")
	fs.DurationVar(&p.ProcessorLatency, "processor-latency", 0, "latency of the simulated card processor (1s reproduces the original system)")
	fs.DurationVar(&p.ProcessorTimeout, "processor-timeout", payment.DefaultProcessorTimeout, "time limit of each call to the card processor")
	p.Recovery.RegisterFlags(fs)
}

// Validate checks the processor's latency and timeout and the recovery.
func (p *Payment) Validate() error {
	var errs []error
	bad := config.FlagErrors(&errs)
	if p.ProcessorLatency < 0 {
		bad("processor-latency", "%s is negative", p.ProcessorLatency)
	}
	if p.ProcessorTimeout <= 0 {
		bad("processor-timeout", "%s must be positive", p.ProcessorTimeout)
	}
	p.Recovery.CheckFlags(bad)
	return errors.Join(errs...)
}

// Prepare loads (or creates) the card key.
func (p *Payment) Prepare(dataDir string) (Builder, error) {
	key, err := loadKey("card-key-file", p.CardKeyFile, dataDir, CardKeyFile, "card key", payment.LoadOrCreateCardKey, payment.LoadOrCreateCardKey)
	if err != nil {
		return nil, err
	}
	return paymentBuilder{Payment: p, cardKey: key}, nil
}

// paymentBuilder is the payment service prepared: its settings and card
// key.
type paymentBuilder struct {
	*Payment
	cardKey []byte
}

// Build assembles the payment service.
func (p paymentBuilder) Build(ctx context.Context, env Env) (*Part, error) {
	processor := p.Processor
	if processor == nil {
		processor = payment.NewSimulator(payment.SimulatorOptions{Latency: p.ProcessorLatency})
	}
	c, err := payment.Build(ctx, payment.Deps{DB: env.Store.Database(config.Payment), Logger: env.Logger,
		Registerer: env.Registerer, Verifier: env.Verifier, Processor: processor, CardKey: p.cardKey,
		ProcessorTimeout: p.ProcessorTimeout, Recovery: p.Recovery, Tracer: env.Tracer})
	if err != nil {
		return nil, err
	}
	return &Part{RegisterGRPC: c.RegisterGRPC, HTTPHandler: c.HTTPHandler, Background: c.Background,
		Attrs: []slog.Attr{slog.Duration("processor_latency", p.ProcessorLatency)}}, nil
}
