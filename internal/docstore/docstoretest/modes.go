package docstoretest

import (
	"testing"

	"github.com/kitshop/kitshop/internal/docstore"
)

// A Mode is a way of an Updater that a store's contract suite runs in, on the embedded store.
type Mode struct {
	// Name names the subtest: "embedded" or "mongodb".
	Name string
	// Backend is what the Updater is told: Detect in the embedded mode, so that the detection is tested
	// too, MongoDB in the other.
	Backend docstore.Backend
}

// Modes are the two modes of a store's contract suite:
//
//   - "embedded": the Updater as it detects the embedded store (serial: guards evaluated in the process,
//     commands filtering on _id alone, documents remembered, writes batched);
//   - "mongodb": the Updater forced to its MongoDB way (docstore.WithBackend(docstore.MongoDB)): guards in
//     the filters, unordered bulk writes, every secondary index created. FerretDB answers those commands as
//     MongoDB does when they come one at a time, so every line that only runs on MongoDB in production runs
//     in a test.
//
// Only single-threaded tests may run in the mongodb mode: there, FerretDB applies an update as a read and a
// later write, so concurrent guarded updates of one document are not atomic (FerretDB issue #3040). Tests of
// concurrency run in the embedded mode alone.
var Modes = []Mode{{Name: "embedded", Backend: docstore.Detect}, {Name: "mongodb", Backend: docstore.MongoDB}}

// Options are the Updater options of the mode, to pass to a store's constructor.
func (m Mode) Options() []docstore.UpdaterOption {
	return []docstore.UpdaterOption{docstore.WithBackend(m.Backend)}
}

// Serial reports whether the mode is the embedded store's own, where every command filters on _id alone:
// the checks of commands (Recorder.AssertIDOnly, command counts) hold in that mode only.
func (m Mode) Serial() bool { return m.Backend != docstore.MongoDB }

// EachMode runs f in a subtest per mode of [Modes], one after the other.
func EachMode(t *testing.T, f func(t *testing.T, m Mode)) {
	t.Helper()
	for _, m := range Modes {
		t.Run(m.Name, func(t *testing.T) { f(t, m) })
	}
}
