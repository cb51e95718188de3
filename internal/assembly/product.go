package assembly

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/product"
)

// Product is the product service's settings.
type Product struct {
	Options product.Options
}

// RegisterFlags defines -sample-stock and -reservation-lease.
func (p *Product) RegisterFlags(fs *flag.FlagSet) {
	fs.Int64Var(&p.Options.SampleStock, "sample-stock", product.DefaultSampleStock, "stock of each sample product (made on cmd/shop's first start, or by POST /product/sample)")
	fs.DurationVar(&p.Options.Lease, "reservation-lease", product.DefaultLease, "how long a reservation call may work on an order before another instance may take over")
}

// Validate checks that the sample stock is not negative; Build checks the
// rest (product.Build).
func (p *Product) Validate() error {
	if p.Options.SampleStock < 0 {
		return fmt.Errorf("invalid -sample-stock (%s): %d must not be negative", config.EnvVar("sample-stock"), p.Options.SampleStock)
	}
	return nil
}

// Prepare has nothing to load: the product service is its own Builder.
func (p *Product) Prepare(string) (Builder, error) { return p, nil }

// Build opens the product service's query client, assembles the service
// and, with env.Samples, creates the sample products.
func (p *Product) Build(ctx context.Context, env Env) (*Part, error) {
	// The catalogue's pages read through a client of their own, so that they
	// do not wait behind the stock's writes (product.Deps.QueryDB).
	queries, err := env.Store.Reader(ctx, env.Logger)
	if err != nil {
		return nil, err
	}
	env.Group.Cleanup("product-store-queries", queries.Close)
	c, err := product.Build(ctx, product.Deps{DB: env.Store.Database(config.Product), QueryDB: queries.Database(config.Product),
		Logger: env.Logger, Registerer: env.Registerer, Verifier: env.Verifier, Options: p.Options})
	if err != nil {
		return nil, fmt.Errorf("invalid settings (-sample-stock, -reservation-lease): %w", err)
	}
	if env.Samples {
		created, err := c.Service.CreateSamples(ctx)
		if err != nil {
			return nil, fmt.Errorf("creating the sample products: %w", err)
		}
		if created > 0 {
			env.Logger.Info("sample products created", slog.Int("count", created))
		}
	}
	return &Part{RegisterGRPC: c.RegisterGRPC, HTTPHandler: c.HTTPHandler, Background: c.Background}, nil
}
