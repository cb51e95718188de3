package main

import (
	"net/http"

	"github.com/kitshop/kitshop/internal/edge"
)

// newEdge routes every public HTTP path to its service's handler, in process,
// with the routing table cmd/edge uses in front of separate processes.
func newEdge(handlers map[string]http.Handler) http.Handler {
	return edge.New(handlers)
}
