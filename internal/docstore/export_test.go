package docstore

// ApplyUpdate is applyUpdate, for the tests of package docstore_test, which start embedded stores (package
// embedded imports this one).
var ApplyUpdate = applyUpdate
