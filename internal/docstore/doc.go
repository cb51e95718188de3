// Package docstore is the document store plumbing of every kitshop service: a MongoDB client per service
// ([Store]) and the [Updater], through which a service reads and writes its documents by _id with the same
// meaning on MongoDB and on the embedded store (FerretDB v1.24.2 on SQLite, started by package
// internal/docstore/embedded when no MongoDB URI is configured). Each service uses a database of its own
// (user, product, order, payment, notification) through a Store of its own.
//
// The embedded store differs from MongoDB in two ways. This package deals with both, provided every service
// keeps two rules; docs/docstore.md explains them and holds the measurements behind the choices here.
//
// Rule 1: a service is the only writer of its database, through one Store made from the embedded store's URI
// as it is, and one Updater per database in the process. FerretDB v1 does not apply an update atomically
// (FerretDB issue #3040); a client of that URI has one connection (maxPoolSize=1) and sends one command at a
// time, which makes each command atomic, and the Updater makes its read-check-writes atomic. A second client
// that only reads ([Store.Reader]) is harmless. Inserts against a unique index are atomic anyway.
//
// Rule 2: only a filter that is exactly {_id: <string or ObjectID>} is an indexed lookup on the embedded
// store; any other filter, {_id: x, status: y} or {_id: {$in: [...]}} included, reads the whole collection.
// Every lookup on a hot path filters on _id alone: make the natural key the _id. Secondary indexes serve no
// query there; only a unique one is worth having, for its constraint.
//
// What differs between the backends is the Updater's business, not the services': on MongoDB it sends guards
// in the filters, in one command; on the embedded store (its serial mode) it evaluates them in the process,
// sends commands that filter on _id alone, remembers the documents it wrote or read and batches the writes
// waiting for the connection. It detects the backend ([NewUpdater]); [WithBackend] chooses it.
package docstore
