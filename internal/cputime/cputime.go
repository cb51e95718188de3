// Package cputime reads the CPU time of the process, for benchmarks that report CPU per operation beside wall
// time (a request's CPU is spread over the goroutines of a client, a server and, on the embedded store, the
// store itself, all in one process).
package cputime
