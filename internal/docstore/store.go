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

// Store is one service's client of the document store. Each service makes its own Store and is the only
// writer of its own database; with the embedded store, that is what makes its updates atomic
// (see the package documentation). Its methods are safe for concurrent use.
type Store struct {
	client *mongo.Client
	uri    string
	stop   func() error // run by Close after the client disconnects (see StopOnClose); nil: nothing
}

// Connect makes a client for the MongoDB URI. It does not wait for the server: a store that is not reachable
// yet shows in [Store.Ping] (readiness), and every call waits for it within its context's deadline.
// For the embedded store, use the URI it gives (or [SocketURI]) as it is: it carries the options the
// embedded store needs ([ClientURI]). Each command sent within a recording span is a span of its own
// (trace.go).
func Connect(ctx context.Context, uri string, logger *slog.Logger) (*Store, error) {
	return connect(ctx, uri, logger, 0)
}

// ReaderConnections is the least number of connections a [Store.Reader]'s client may open, so that
// concurrent reads through it (the listings of several customers) do not queue behind each other.
const ReaderConnections = 4

// connectOptions are the options of a client of uri allowed at least minPool connections where the URI
// allows fewer (0: as the URI says), with the command spans' monitor.
func connectOptions(uri string, minPool uint64) *options.ClientOptions {
	opts := options.Client().ApplyURI(uri).SetMonitor((&commandSpans{}).monitor())
	if opts.MaxPoolSize != nil && *opts.MaxPoolSize < minPool {
		opts.SetMaxPoolSize(minPool)
	}
	return opts
}

// connect is Connect with at least minPool connections allowed (0: as the URI says).
func connect(ctx context.Context, uri string, logger *slog.Logger, minPool uint64) (*Store, error) {
	if uri == "" {
		return nil, errors.New("docstore: connect: MongoDB URI is empty")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := connectOptions(uri, minPool)
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
// a Reader: a second writer of a database breaks rule 1. Its client may open [ReaderConnections] connections
// even where the URI allows one (the embedded store's): reads are atomic by themselves. Close it on its own;
// it never stops the embedded store.
func (s *Store) Reader(ctx context.Context, logger *slog.Logger) (*Store, error) {
	return connect(ctx, s.uri, logger, ReaderConnections)
}

// StopOnClose makes [Store.Close] call stop once the client has disconnected, and report its error: a host
// of the store (package embedded's Open) hands its store's stop to the one client it opened. Call it before
// the Store is shared; a second call replaces the first.
func (s *Store) StopOnClose(stop func() error) { s.stop = stop }

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

// Close disconnects the client, waiting within ctx for operations in progress, then runs the stop given to
// [Store.StopOnClose], if any. It is safe to call more than once (stop must be too).
func (s *Store) Close(ctx context.Context) error {
	var errs []error
	if err := s.client.Disconnect(ctx); err != nil && !errors.Is(err, mongo.ErrClientDisconnected) {
		errs = append(errs, fmt.Errorf("docstore: disconnect: %w", err))
	}
	if s.stop != nil {
		errs = append(errs, s.stop())
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
