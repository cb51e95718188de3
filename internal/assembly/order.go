package assembly

import (
	"context"
	"errors"
	"flag"
	"time"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/grpcclient"
	"github.com/kitshop/kitshop/order"
)

// Order is the order service's settings.
type Order struct {
	Client  grpcclient.Config
	Cache   order.CacheOptions
	Options order.Options
}

// RegisterFlags defines the order service's flags: its clients' resilience
// and caches, the recovery bound, admission and the outbox.
func (o *Order) RegisterFlags(fs *flag.FlagSet) {
	o.Client.RegisterFlags(fs)
	o.Cache.RegisterFlags(fs)
	o.Options.RegisterFlags(fs)
	fs.IntVar(&o.Options.DispatchConcurrency, "dispatch-concurrency", order.DefaultDispatchConcurrency, "orders whose side effects the dispatcher runs at once")
	fs.DurationVar(&o.Options.OutboxBackoff, "outbox-backoff", order.DefaultOutboxBackoff, "first wait before retrying a failed side effect (doubles up to -outbox-backoff-max)")
	fs.DurationVar(&o.Options.OutboxBackoffMax, "outbox-backoff-max", order.DefaultOutboxBackoffMax, "longest wait between retries of a failed side effect")
}

// Validate checks every order flag.
func (o *Order) Validate() error {
	var errs []error
	bad := config.FlagErrors(&errs)
	o.Options.CheckFlags(bad)
	for name, d := range map[string]time.Duration{"outbox-backoff": o.Options.OutboxBackoff, "outbox-backoff-max": o.Options.OutboxBackoffMax} {
		if d <= 0 {
			bad(name, "%s: must be positive", d)
		}
	}
	if o.Options.DispatchConcurrency < 1 {
		bad("dispatch-concurrency", "%d: must be at least 1", o.Options.DispatchConcurrency)
	}
	return errors.Join(append(errs, o.Client.Validate())...)
}

// Prepare has nothing to load: the order service is its own Builder.
func (o *Order) Prepare(string) (Builder, error) { return o, nil }

// Build opens the order service's query client and its clients of the
// other services, and assembles it; Drain runs as the stop begins.
func (o *Order) Build(ctx context.Context, env Env) (*Part, error) {
	// Listings and start-up scans read through a client of their own, so
	// that they never hold up the writes (order.Deps.QueryDB).
	queries, err := env.Store.Reader(ctx, env.Logger)
	if err != nil {
		return nil, err
	}
	env.Group.Cleanup("order-store-queries", queries.Close)
	dial, err := credentials(config.Order, env)
	if err != nil {
		return nil, err
	}
	deps, conns, err := order.Dial(order.Addrs{User: env.Peers[config.User], Product: env.Peers[config.Product],
		Payment: env.Peers[config.Payment], Notification: env.Peers[config.Notification]},
		o.Client, o.Cache, env.Registerer, env.Logger, dial...)
	if err != nil {
		return nil, err
	}
	env.Group.Cleanup("order-clients", func(context.Context) error { return conns.Close() })
	opts := o.Options
	opts.Tracer = env.Tracer // the worker's spans (order.Options.Tracer)
	c, err := order.Build(ctx, order.Deps{DB: env.Store.Database(config.Order), QueryDB: queries.Database(config.Order),
		Logger: env.Logger, Registerer: env.Registerer, Verifier: env.Verifier, Dependencies: deps, Options: opts})
	if err != nil {
		return nil, err
	}
	env.Group.Stopping(c.Orders.Drain) // no new orders while those in flight finish
	return &Part{RegisterGRPC: c.RegisterGRPC, HTTPHandler: c.HTTPHandler, Background: c.Background}, nil
}
