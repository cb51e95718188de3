package docstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Config says which document store a service uses.
type Config struct {
	// URI of a MongoDB deployment (KITSHOP_MONGO_URI). Empty means: start an embedded store on DataDir.
	URI string

	// DataDir is the data directory of the embedded store; required when URI is empty, unused otherwise.
	DataDir string
}

// Store is one service's client of the document store. Each service makes its own Store and is the only
// writer of its own database; with the embedded store, that is what makes its updates atomic
// (see the package documentation). Its methods are safe for concurrent use.
type Store struct {
	client   *mongo.Client
	uri      string
	embedded *Embedded // started by Open, stopped by Close; nil otherwise
}

// Connect makes a client for the MongoDB URI. It does not wait for the server: a store that is not reachable
// yet shows in [Store.Ping] (readiness), and every call waits for it within its context's deadline.
// Use [Embedded.URI] or [Embedded.TCPURI] as it is: it carries the options the embedded store
// needs.
func Connect(ctx context.Context, uri string, logger *slog.Logger) (*Store, error) {
	if uri == "" {
		return nil, errors.New("docstore: connect: MongoDB URI is empty")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := options.Client().ApplyURI(uri)
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("docstore: connect: %w", err)
	}
	logger.InfoContext(ctx, "document store client created", slog.Any("hosts", opts.Hosts))
	return &Store{client: client, uri: uri}, nil
}

// Reader returns a second client of the same store, for the queries of a service that must not wait behind its
// writes. On the embedded store a Store sends one command at a time (rule 1 of the package documentation) and
// a query on anything but _id reads the whole collection (rule 2): through the Store itself, a listing or a
// start-up scan of a large collection would hold up every write of the service for as long. Only read through
// a Reader: a second writer of a database breaks rule 1. Close it on its own; it never stops the embedded store.
func (s *Store) Reader(ctx context.Context, logger *slog.Logger) (*Store, error) {
	return Connect(ctx, s.uri, logger)
}

// Open returns a Store for cfg: a client of cfg.URI, or, when cfg.URI is empty, a client of an embedded store
// it starts on cfg.DataDir (FerretDB's logs go to logger at Warn level and above), connected through
// [Embedded.URI]. In that case it waits until the store answers a ping, and [Store.Close] stops the
// embedded store too.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	if cfg.URI != "" {
		return Connect(ctx, cfg.URI, logger)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("docstore: open: either a MongoDB URI or a data directory for the embedded store is required")
	}
	e, err := StartEmbedded(ctx, EmbeddedOptions{DataDir: cfg.DataDir, Logger: logger})
	if err != nil {
		return nil, err
	}
	s, err := Connect(ctx, e.URI(), logger)
	if err != nil {
		return nil, errors.Join(err, e.Close())
	}
	s.embedded = e
	if err = s.Ping(ctx); err != nil {
		return nil, errors.Join(err, s.Close(ctx))
	}
	return s, nil
}

// Database returns the named database. Services use one database each: user, product, order, payment,
// notification.
func (s *Store) Database(name string) *mongo.Database {
	return s.client.Database(name)
}

// Ping checks that the store answers, within ctx; it is what /readyz reports.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("docstore: ping: %w", err)
	}
	return nil
}

// Close disconnects the client, waiting within ctx for operations in progress, then stops the embedded store
// if Open started one. It is safe to call more than once.
func (s *Store) Close(ctx context.Context) error {
	var errs []error
	if err := s.client.Disconnect(ctx); err != nil && !errors.Is(err, mongo.ErrClientDisconnected) {
		errs = append(errs, fmt.Errorf("docstore: disconnect: %w", err))
	}
	if s.embedded != nil {
		errs = append(errs, s.embedded.Close())
	}
	return errors.Join(errs...)
}

// IsDuplicateKey reports whether err is a unique-key violation, of _id or of a unique index: MongoDB's code
// 11000 (E11000) from an insert, an upsert, an update or a bulk write. FerretDB v1 answers the same, except
// for an update (not an upsert) that breaks a unique index, which it reports as InternalError (code 1) with
// SQLite's "UNIQUE constraint failed" message; that is recognized too.
func IsDuplicateKey(err error) bool {
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCodeWithMessage(ferretdbInternalError, sqliteUniqueViolation)
}

// How FerretDB v1.24.2 with SQLite reports a unique-index violation by an update.
const (
	ferretdbInternalError = 1
	sqliteUniqueViolation = "UNIQUE constraint failed"
)
