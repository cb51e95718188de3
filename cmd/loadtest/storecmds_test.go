package main

import (
	"context"
	"maps"
	"testing"

	"go.mongodb.org/mongo-driver/v2/event"
)

func TestStoreCommandsLeaveTheAuditOut(t *testing.T) {
	before := map[string]int64{"find": 100, "insert": 10, "hello": 5}
	after := map[string]int64{"find": 400, "insert": 50, "update": 40, "findAndModify": 60, "hello": 9, "getMore": 2}
	own := map[string]int64{"find": 100, "getMore": 2} // the audit's polls
	sc := storeCommandsBetween(before, after, own, 20)
	want := map[string]int64{"find": 200, "insert": 40, "update": 40, "findAndModify": 60, "hello": 4}
	if !maps.Equal(sc.ByCommand, want) {
		t.Errorf("by command %v, want %v", sc.ByCommand, want)
	}
	if sc.DataPerOrder != 17 || sc.WritesPerOrder != 7 { // (200+40+40+60)/20, (40+40+60)/20
		t.Errorf("per order: %g data, %g writes; want 17, 7", sc.DataPerOrder, sc.WritesPerOrder)
	}
	if z := storeCommandsBetween(before, after, own, 0); z.DataPerOrder != 0 {
		t.Errorf("per order without orders: %g", z.DataPerOrder)
	}
}

func TestCommandCounter(t *testing.T) {
	c := newCommandCounter()
	m := c.monitor()
	started := func(name string) { m.Started(context.Background(), &event.CommandStartedEvent{CommandName: name}) }
	started("find")
	mark := c.counts()
	started("find")
	started("find")
	started("serverStatus")
	if got := c.since(mark); got["find"] != 2 || got["serverStatus"] != 1 {
		t.Errorf("since the mark: %v, want 2 finds and a serverStatus", got)
	}
}
