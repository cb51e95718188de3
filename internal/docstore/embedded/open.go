package embedded

import (
	"context"
	"errors"
	"log/slog"

	"github.com/kitshop/kitshop/internal/docstore"
)

// Config says which document store a service uses.
type Config struct {
	// URI of a MongoDB deployment (KITSHOP_MONGO_URI). Empty means: start an embedded store on DataDir.
	URI string

	// DataDir is the data directory of the embedded store; required when URI is empty, unused otherwise.
	DataDir string
}

// Open returns a Store for cfg: a client of cfg.URI ([docstore.Connect]), or, when cfg.URI is empty, a client
// of an embedded store it starts on cfg.DataDir (FerretDB's logs go to logger at Warn level and above),
// connected through [Server.URI]. In that case it waits until the store answers a ping, and [docstore.Store.Close]
// stops the embedded store too (through [docstore.Store.StopOnClose]).
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*docstore.Store, error) {
	if cfg.URI != "" {
		return docstore.Connect(ctx, cfg.URI, logger)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("docstore: open: either a MongoDB URI or a data directory for the embedded store is required")
	}
	e, err := Start(ctx, Options{DataDir: cfg.DataDir, Logger: logger})
	if err != nil {
		return nil, err
	}
	s, err := docstore.Connect(ctx, e.URI(), logger)
	if err != nil {
		return nil, errors.Join(err, e.Close())
	}
	s.StopOnClose(e.Close)
	if err = s.Ping(ctx); err != nil {
		return nil, errors.Join(err, s.Close(ctx))
	}
	return s, nil
}
