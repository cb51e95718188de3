package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// StoreCommands counts the commands the target's store served for a run, from the store's own serverStatus
// (metrics.commands.<name>.total, kept by MongoDB and by FerretDB alike), less the commands the audit sent
// itself: what is left is the target's work, services and background workers together.
type StoreCommands struct {
	// ByCommand is the number of each command served between the start of the run and the end of the wait
	// for deliveries, the audit's own excepted.
	ByCommand map[string]int64 `json:"byCommand"`
	// DataPerOrder is the data commands (dataCommands) per order placed, successful or not.
	DataPerOrder float64 `json:"dataPerOrder"`
	// WritesPerOrder is the write commands (insert, update, delete, findAndModify) per order placed.
	WritesPerOrder float64 `json:"writesPerOrder"`
}

// dataCommands are the commands that read or write documents; the rest (hello, ping, endSessions, ...) are
// the drivers' housekeeping.
var dataCommands = []string{"find", "getMore", "aggregate", "count", "insert", "update", "delete", "findAndModify"}

// writeCommands are the data commands that write.
var writeCommands = []string{"insert", "update", "delete", "findAndModify"}

// commandCounter counts the commands a client sends, by name (a mongo-driver command monitor).
type commandCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func newCommandCounter() *commandCounter { return &commandCounter{n: make(map[string]int64)} }

// monitor returns the command monitor to give the client.
func (c *commandCounter) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		c.mu.Lock()
		c.n[e.CommandName]++
		c.mu.Unlock()
	}}
}

// since returns the commands sent since the counts of earlier.
func (c *commandCounter) since(earlier map[string]int64) map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := make(map[string]int64, len(c.n))
	for k, v := range c.n {
		d[k] = v - earlier[k]
	}
	return d
}

// counts returns the commands sent so far.
func (c *commandCounter) counts() map[string]int64 { return c.since(nil) }

// storeCommandCounts reads the store's command counters.
func storeCommandCounts(ctx context.Context, c *mongo.Client) (map[string]int64, error) {
	var status bson.Raw
	if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "serverStatus", Value: 1}}).Decode(&status); err != nil {
		return nil, fmt.Errorf("store command counts: serverStatus: %w", err)
	}
	cmds, ok := status.Lookup("metrics", "commands").DocumentOK()
	if !ok {
		return nil, errors.New("store command counts: serverStatus has no metrics.commands")
	}
	elems, err := cmds.Elements()
	if err != nil {
		return nil, fmt.Errorf("store command counts: %w", err)
	}
	counts := make(map[string]int64, len(elems))
	for _, e := range elems {
		doc, ok := e.Value().DocumentOK()
		if !ok {
			continue // MongoDB nests some counters differently; only {total, failed} entries are commands
		}
		if total, ok := doc.Lookup("total").AsInt64OK(); ok {
			counts[e.Key()] = total
		}
	}
	return counts, nil
}

// storeCommandsBetween returns the commands the store served between two counts, less those the audit
// sent meanwhile (own, counted by its client), for orders orders placed.
func storeCommandsBetween(before, after, own map[string]int64, orders int64) StoreCommands {
	sc := StoreCommands{ByCommand: make(map[string]int64)}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if d := after[k] - before[k] - own[k]; d > 0 {
			sc.ByCommand[k] = d
		}
	}
	if orders > 0 {
		var data, writes int64
		for _, k := range dataCommands {
			data += sc.ByCommand[k]
		}
		for _, k := range writeCommands {
			writes += sc.ByCommand[k]
		}
		sc.DataPerOrder = float64(data) / float64(orders)
		sc.WritesPerOrder = float64(writes) / float64(orders)
	}
	return sc
}
