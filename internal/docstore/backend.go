package docstore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Backend is the kind of server an [Updater] works with, which decides how it keeps its promises (see
// [Updater]).
type Backend int

// The backends of an Updater.
const (
	// Detect asks the server once, with buildInfo: FerretDB (its answer has a ferretdbVersion field) is
	// Embedded, anything else MongoDB. It is the default.
	Detect Backend = iota

	// MongoDB sends every condition to the server in the command's filter, and remembers nothing.
	MongoDB

	// Embedded is the embedded store's serial mode: guards are evaluated in the process, under a lock per
	// document, every command filters on _id alone, documents are remembered and writes batched.
	Embedded
)

// String returns "detect", "mongodb" or "embedded".
func (b Backend) String() string {
	switch b {
	case Detect:
		return "detect"
	case MongoDB:
		return "mongodb"
	case Embedded:
		return "embedded"
	}
	return fmt.Sprintf("Backend(%d)", int(b))
}

// An UpdaterOption configures [NewUpdater].
type UpdaterOption func(*updaterConfig)

// updaterConfig is what the options of NewUpdater set.
type updaterConfig struct {
	backend Backend
}

// WithBackend makes the Updater work as for backend instead of asking the server (Detect). The tests use it
// to run a store's code for MongoDB on the embedded store, one command at a time: there FerretDB evaluates the
// filters itself (slowly, and not atomically under concurrent commands, FerretDB issue #3040), with the same
// answers as MongoDB. In production, leave the default.
func WithBackend(b Backend) UpdaterOption {
	return func(c *updaterConfig) { c.backend = b }
}

// NewUpdater returns an Updater for the collections of db. Unless an option says otherwise it asks the
// server once, with buildInfo, whether it is FerretDB.
func NewUpdater(ctx context.Context, db *mongo.Database, opts ...UpdaterOption) (*Updater, error) {
	var cfg updaterConfig
	for _, o := range opts {
		o(&cfg)
	}
	switch cfg.backend {
	case MongoDB:
		return newUpdater(false), nil
	case Embedded:
		return newUpdater(true), nil
	case Detect:
	default:
		return nil, fmt.Errorf("docstore: updater: unknown backend %v", cfg.backend)
	}
	info, err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Raw()
	if err != nil {
		return nil, fmt.Errorf("docstore: updater: buildInfo: %w", err)
	}
	_, err = info.LookupErr("ferretdbVersion")
	return newUpdater(err == nil), nil
}
