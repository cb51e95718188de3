// Package embedded is the embedded document store: a FerretDB v1.24.2 server with its SQLite handler running
// inside the process ([Start], [Server]), for kitshop without MongoDB. Only what hosts a store imports it:
// cmd/shop, cmd/docstore, a service run without a MongoDB URI ([Open]), and tests. Services reach the store
// with the MongoDB driver through package docstore, which states the two rules every client keeps
// (docs/docstore.md explains them and the measurements behind the settings here).
//
// A Server stores one SQLite file per database, <DataDir>/<database>.sqlite, and:
//   - listens on the Unix domain socket <DataDir>/docstore.sock ([docstore.SocketURI]), mode 0600 in a
//     directory created 0700, and on a loopback TCP address only when [Options].Addr asks (the store has no
//     authentication: any local user can reach TCP);
//   - holds an exclusive lock on its data directory, so that no second server writes the same files;
//   - gives every collection table the index on the expression FerretDB's _id lookups use, at start, on demand
//     ([Server.EnsureIndexes]) and at every maintenance tick, which also checkpoints the write-ahead logs;
//   - sets FerretDB's SQLite connections to synchronous(normal) (a crash of the process loses nothing, a
//     power loss may lose the last commits), temp_store(memory) and checkpoints left to the maintenance;
//   - passes on FerretDB's Warn and Error records, without its dumps of failed commands, tagged
//     component=ferretdb;
//   - sets the process's garbage collection target and soft memory limit ([GCPercent], [MemoryLimit]) unless
//     GOGC or GOMEMLIMIT is set.
package embedded
