// Package docstore is the document store plumbing of every kitshop service: a MongoDB client per service
// ([Store]), and, when no MongoDB URI is configured, an embedded FerretDB v1.24.2 server with its SQLite
// handler ([Embedded]) that services reach with the same driver, in the same process or in others.
//
// Production uses MongoDB ([Config].URI, KITSHOP_MONGO_URI). Without a URI, [Open] starts the embedded store
// on a data directory (one SQLite file per database, <DataDir>/<database>.sqlite) listening on a Unix domain
// socket in the data directory (and on loopback TCP only if asked), and connects to it through the socket.
// Each service uses
// a database of its own (user, product, order, payment, notification) through a Store of its own.
//
// FerretDB v1 with SQLite differs from MongoDB in two ways that matter to kitshop. This package deals with
// both, here and once, so that services need not, provided they keep the two rules below.
//
// # 1. Updates are not atomic; one command at a time per service makes them so
//
// FerretDB runs an update (update, findAndModify) as a read of the matching documents (SELECT, on one SQLite
// connection), the update applied in Go, and a write of the result (UPDATE ... WHERE _id = ?, in another
// transaction). Nothing spans the read and the write, so concurrent commands read the same document and
// overwrite each other: 200 concurrent findOneAndUpdate({_id, stock: {$gte: 1}}, {$inc: {stock: -1}}) on a
// stock of 20 all "succeeded" and left 10 (FerretDB issue #3040).
//
// FerretDB serves the commands of one connection one after the other. [Embedded.URI] and [Embedded.TCPURI]
// carry maxPoolSize=1, so a client made from either, in any process, has one connection and sends one command
// at a time; the same 200 decrements then sell exactly 20 and leave 0 (TestConditionalDecrementIsAtomic).
// Inserts against a unique index (of _id or declared with createIndexes) are atomic anyway, since SQLite
// enforces the constraint: of concurrent inserts of one key exactly one succeeds and the others fail with
// [IsDuplicateKey]. The URI also carries retryWrites=false: FerretDB advertises sessions but ignores
// transaction numbers, so the driver's retry of a write whose answer was lost would apply it twice.
//
// Rule 1: a service is the only writer of its database, through one Store, made from a URI of the embedded
// store as it is. Two processes writing one database, or one process with two clients writing it, are not
// atomic; a second client that only reads ([Store.Reader]) is harmless. A
// read-then-write done by the service itself (read a document, decide, write it) is not one command and needs
// a lock of its own in the service; [Updater] does that for guarded updates by _id. The price of one
// connection per service: its commands queue, so a slow command (see rule 2) delays every other command of
// that service.
//
// # 2. Only {_id: <string or ObjectID>} is an indexed lookup
//
// What FerretDB's SQLite handler (internal/backends/sqlite) does with a filter: it pushes a filter down to SQL
// only when the filter is exactly one key, _id, with a string or ObjectID value. Then it runs
//
//	SELECT _ferretdb_sjson FROM "<table>" WHERE _ferretdb_sjson->'$._id' = ?
//
// and updates and deletes by _id with the same WHERE. Any other filter is not pushed down: FerretDB reads the
// whole table (SELECT without WHERE), decodes every document and filters in Go. That includes a lookup on
// another field ({email: x}, {orderId: x}), {_id: {$eq: x}}, {_id: {$in: [...]}}, an integer _id, and an _id
// together with any other condition ({_id: x, status: "Pending"}, {_id: x, stock: {$gte: 1}}). A findOne stops
// at the first match in table order; a miss, a find or a count reads everything. A sort (other than
// $natural on a capped collection) is done in memory, and a limit reaches SQL only without filter, sort or
// skip. The filterPushdown field of FerretDB's explain answer tells which case a query is
// (TestIDIndexOnCollectionCreatedByClient checks each case above).
//
// Secondary indexes (createIndexes) do not help reads on SQLite: FerretDB makes a SQLite index on
// _ferretdb_sjson->"field", and no query it runs uses one. They cost every write. Declare one only to enforce
// uniqueness (unique: true), which works and is atomic.
//
// Even the _id lookup scanned the table: FerretDB's own unique _id index is on _ferretdb_sjson->"_id", while
// its statements filter on _ferretdb_sjson->'$._id'. Both extract the same value, but SQLite uses an expression
// index only for the same expression, so every lookup, update and delete by _id read the whole table (an update
// by _id fell from 177/s at 500 documents to 32/s at 5,000). This package gives every collection table an
// index on exactly the expression FerretDB queries:
//
//	CREATE INDEX "kitshop_id_<table>" ON "<table>" (_ferretdb_sjson->'$._id')
//
// It finds the tables in FerretDB's metadata table (_ferretdb_collections: name, table_name, settings) of
// each database file. FerretDB offers no hook on collection creation, and collections appear whenever any
// client first writes to one, so [Embedded], which owns the files, keeps them indexed: at start, on demand
// ([Embedded.EnsureIndexes]) and at every maintenance tick ([EmbeddedOptions].MaintenanceInterval, a quarter
// second by default), which costs one small query per database file. A collection created by a client in
// another process is indexed within a tick, while it is still small. With the index, a lookup, an update by
// _id or an insert costs the same at 1,000 and at 100,000 documents (BenchmarkGetByID, BenchmarkUpdateByID,
// BenchmarkInsert).
// TestIDIndexOnCollectionCreatedByClient and its neighbours check SQLite's plan for FerretDB's statements.
//
// Rule 2: every lookup on a hot path filters on _id alone, with a string or ObjectID value. Design keys for it:
// make the natural key the _id (an idempotency key, an order id for its payment, an e-mail address in a small
// collection of its own that maps it to the user id), and keep secondary fields for data, not for finding.
//
// # SQLite settings
//
// FerretDB opens its SQLite files with busy_timeout(10000), journal_mode(wal) and auto_vacuum(none), and leaves
// synchronous at SQLite's default, FULL: every commit waits for the disk. Its SQLite URI passes _pragma
// parameters to every connection it opens (FerretDB adds its own only when not given), and this package sets:
//
//   - synchronous(normal): in WAL mode a commit no longer waits for the disk; it survives a crash of the
//     process, while a power loss may lose the last commits (never the database). An update by _id took
//     2 ms with FULL and 1 ms with NORMAL here. Production's durability comes from MongoDB.
//   - wal_autocheckpoint(0) and journal_size_limit(64 MiB): the write-ahead log is checkpointed by the
//     maintenance ticker instead of at commit. At commit, on a busy database, the checkpoint could never
//     finish (an update writes while its own read is still open), so every later commit tried again and the
//     log grew without end; see the checkpoint function for how the ticker brings the log back to its start.
//   - temp_store(memory): FerretDB's UPDATE runs in a transaction and may, as far as SQLite knows, change
//     several rows and break a unique index, so it keeps a statement journal. With the default temp_store
//     that journal starts as a 64 KiB block, which modernc.org/sqlite (the SQLite FerretDB uses) maps from
//     the OS and unmaps again for every update (one mmap, three munmap); in memory without limit it grows
//     from the heap in 1 KiB pieces. An update by _id took 0.88–0.93 ms instead of 1.13–1.17 ms (600-byte
//     documents, one client) and 0.2–0.4 ms less CPU of the process, and FerretDB's UPDATE statement run on
//     SQLite directly about a third of the time. Inserts, which keep no statement journal, are unchanged.
//     Tried and left out: mmap_size (256 MiB made an update slower, 1.66 ms) and cache_size (32 MB changed
//     nothing).
//
// # Connections: a Unix domain socket, and TCP only if asked
//
// The embedded store has no authentication. It listens on the Unix domain socket <DataDir>/docstore.sock
// ([Embedded.URI], [SocketURI]; for clients in this process, in other processes of the same user, and tools),
// with mode 0600 in a data directory created 0700, so that only the user running it can connect; and, only
// when [EmbeddedOptions.Addr] is given, on that loopback TCP address ([Embedded.TCPURI]), which every local
// user can reach (logged at Warn). A command's round trip through the socket skips the kernel's TCP stack on both sides. Measured with one
// client, 600-byte orders: an insert took 406 µs instead of 460 µs; with commands alternating between a TCP
// and a socket client of one store, an insert took 20–35 µs less and a ping (almost nothing but the round
// trip, 65–80 µs) 7–10 µs less, and as much less CPU. The socket is a file in the data directory, so file
// permissions decide who may connect through it.
//
// A socket address holds a path of at most 107 bytes on Linux and 103 on macOS and the BSDs, and the driver
// cannot read a path holding a colon from a URI; with such a data directory, or a file system that refuses a
// socket, the start fails, unless Addr is given: then the store listens on TCP only (logged at Info) and URI
// is TCPURI. A store killed without [Embedded.Close] leaves the socket file behind;
// the next start on the directory, which holds the directory's lock, replaces it.
//
// # Garbage collection
//
// FerretDB allocates a great deal for every command (it decodes each document it reads from SQLite through
// encoding/json into its own types, and builds each answer anew), while the live heap of a whole kitshop
// stays small (~15 MB with the Updaters' document caches full). With Go's default target (GOGC=100) the
// collector then runs many times a second: its mark workers took 10-11 % of cmd/shop's CPU at full load, plus
// 1-2 % of assists. [StartEmbedded] therefore sets, in the process that hosts the store, a target of
// [EmbeddedGCPercent] (GOGC=300) and a soft limit of [EmbeddedMemoryLimit] (96 MiB) on the memory the Go
// runtime manages. Measured with GODEBUG=gctrace=1 over 45 s loads of cmd/shop: the collector's CPU was
// 0.55-0.60 ms an order at GOGC=200 and 0.36-0.37 at 300 (0.33-0.36 at 400, where the limit already bounds
// the heap), and cmd/shop's peak resident memory 117-120 MB at 200, 138-142 MB at 300 (139.8 MB under an
// open loop of 200 orders/s, over capacity, with hundreds of requests waiting for a turn), 141-145 MB at 400.
// Without the limit a target this high would let an overload grow the heap with the requests in flight (at
// GOGC=200 and a heap twice today's, resident memory reached 172 MB); near the limit the collector runs as
// often as needed to stay under it, so a small heap is collected rarely and a large one as before. GOGC and
// GOMEMLIMIT, when set, win; a process that set a higher target or a lower limit itself keeps it.
//
// # Logs
//
// FerretDB logs a great deal below Warn, and dumps every failed command's answer (a duplicate key, the driver's
// endSessions at disconnect) as two multi-line Warn records; [Embedded] passes on its Warn and Error records
// without those dumps, tagged component=ferretdb.
package docstore
