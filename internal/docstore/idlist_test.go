package docstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
)

// listOf returns an IDList in a fresh collection of an embedded store, its Updater in mode m, and the
// collection and Recorder of the client's commands.
func listOf(t *testing.T, m docstoretest.Mode) (*docstore.IDList, *mongo.Collection, *docstoretest.Recorder) {
	t.Helper()
	client, rec := docstoretest.Start(t)
	coll := client.Database("lists").Collection("lists")
	u, err := docstore.NewUpdater(t.Context(), coll.Database(), m.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	return docstore.NewIDList(u, coll), coll, rec
}

func ids(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%03d", prefix, i))
	}
	return out
}

// readAll pages through key's list, n ids a page, and returns what the pages held, in their order.
func readAll(t *testing.T, l *docstore.IDList, key string, n int, newestFirst bool) []string {
	t.Helper()
	var got []string
	from := int64(-1)
	for pages := 0; ; pages++ {
		page, next, err := l.Read(t.Context(), key, from, n, newestFirst)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > n {
			t.Fatalf("page of %d ids, asked for %d", len(page), n)
		}
		got = append(got, page...)
		if next < 0 {
			return got
		}
		if pages > 1000 {
			t.Fatal("the pages do not end")
		}
		from = next
	}
}

// TestIDListPages: ids appended one by one are read back in both directions, whatever the page size,
// across the sealed buckets and the head, in both modes; a repeat of an id the head holds is left out.
func TestIDListPages(t *testing.T) {
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		l, coll, _ := listOf(t, m)
		ctx := t.Context()
		want := ids("o", 0, 3*docstore.ListBucketSize+7)
		for i, id := range want {
			if err := l.Append(ctx, "alice", id); err != nil {
				t.Fatal(err)
			}
			if i%10 == 0 { // a repeat, as after a crash
				if err := l.Append(ctx, "alice", id); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := l.Append(ctx, "bob", "x", "y"); err != nil {
			t.Fatal(err)
		}
		// Many at once: sealed into as many buckets as they fill.
		many := ids("m", 0, 3*docstore.ListBucketSize+1)
		if err := l.Append(ctx, "carol", many...); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, l, "carol", 50, false); !slices.Equal(got, many) {
			t.Errorf("carol's list: %d ids, want %d", len(got), len(many))
		}
		reversed := slices.Clone(want)
		slices.Reverse(reversed)
		for _, n := range []int{1, 7, docstore.ListBucketSize, 100} {
			if got := readAll(t, l, "alice", n, false); !slices.Equal(got, want) {
				t.Errorf("oldest first, %d a page: %d ids %v..., want %d", n, len(got), head(got), len(want))
			}
			if got := readAll(t, l, "alice", n, true); !slices.Equal(got, reversed) {
				t.Errorf("newest first, %d a page: %d ids %v..., want %d", n, len(got), head(got), len(want))
			}
		}
		if got := readAll(t, l, "bob", 10, true); !slices.Equal(got, []string{"y", "x"}) {
			t.Errorf("bob's list %v, want [y x]", got)
		}
		if got := readAll(t, l, "nobody", 10, true); got != nil {
			t.Errorf("an unknown key's list %v, want none", got)
		}
		for key, want := range map[string]int64{"alice": int64(len(want)), "carol": int64(len(many)), "bob": 2, "nobody": 0} {
			if n, err := l.Len(ctx, key); err != nil || n != want {
				t.Errorf("Len(%s) = %d (%v), want %d", key, n, err, want)
			}
		}
		// A page from a position inside a sealed bucket, and one past the end.
		page, next, err := l.Read(ctx, "alice", 70, 3, true)
		if err != nil || !slices.Equal(page, []string{"o070", "o069", "o068"}) || next != 67 {
			t.Errorf("3 from 70 newest first: %v next %d (%v), want [o070 o069 o068] next 67", page, next, err)
		}
		if page, next, err := l.Read(ctx, "alice", int64(len(want)), 3, false); err != nil || page != nil || next != -1 {
			t.Errorf("past the end: %v next %d (%v), want nothing", page, next, err)
		}
		// Three sealed buckets and a head each for alice and carol, and bob's head.
		if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 9 {
			t.Errorf("%d documents (%v), want 9", n, err)
		}
	})
}

func head(s []string) []string { return s[:min(len(s), 3)] }

// TestIDListReadCost: a page of a long list costs its head and the buckets it spans, each read by _id
// alone, whatever the list's length; the Updater remembering nothing of it.
func TestIDListReadCost(t *testing.T) {
	client, rec := docstoretest.Start(t)
	coll := client.Database("lists").Collection("lists")
	ctx := t.Context()
	writer, err := docstore.NewUpdater(ctx, coll.Database())
	if err != nil {
		t.Fatal(err)
	}
	const n = 20 * docstore.ListBucketSize
	all := ids("p", 0, n)
	for i := 0; i < n; i += 32 {
		if err := docstore.NewIDList(writer, coll).Append(ctx, "k", all[i:i+32]...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		from      int64
		n         int
		wantReads int
	}{{-1, 20, 1}, {n - 20*10 - 1, 20, 2}, {100, 100, 3}} {
		reader, err := docstore.NewUpdater(ctx, coll.Database())
		if err != nil {
			t.Fatal(err)
		}
		rec.Reset()
		page, _, err := docstore.NewIDList(reader, coll).Read(ctx, "k", tc.from, tc.n, true)
		if err != nil || len(page) != tc.n {
			t.Fatalf("from %d: %d ids (%v)", tc.from, len(page), err)
		}
		if got := len(rec.Commands("lists", "lists")); got != tc.wantReads {
			t.Errorf("from %d, %d ids: %d commands, want %d", tc.from, tc.n, got, tc.wantReads)
		}
		rec.AssertIDOnly(t, "lists", "lists")
	}
}

// TestIDListConcurrentAppends: appends of many goroutines to one list, sealing as they go, keep every id
// once, on the embedded store.
func TestIDListConcurrentAppends(t *testing.T) {
	l, _, _ := listOf(t, docstoretest.Modes[0])
	ctx := t.Context()
	var wg sync.WaitGroup
	var want []string
	for g := range 8 {
		mine := ids(fmt.Sprintf("g%d-", g), 0, 50)
		want = append(want, mine...)
		wg.Go(func() {
			for _, id := range mine {
				if err := l.Append(ctx, "shared", id); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := readAll(t, l, "shared", 100, false)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%d ids read, want %d, each once", len(got), len(want))
	}
}

// TestIDListSealInterrupted: a seal cut short after its bucket's insert, or never done, leaves a list that
// reads right and is sealed by the next append, in both modes.
func TestIDListSealInterrupted(t *testing.T) {
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		l, coll, _ := listOf(t, m)
		ctx := t.Context()
		// A head past its size whose bucket 0 is stored: a process died between the seal's two writes.
		over := ids("s", 0, docstore.ListBucketSize+5)
		if _, err := coll.InsertMany(ctx, []any{
			bson.D{{Key: "_id", Value: "h:k"}, {Key: "sealed", Value: int64(0)}, {Key: "ids", Value: over}},
			bson.D{{Key: "_id", Value: "b:0:k"}, {Key: "ids", Value: over[:docstore.ListBucketSize]}},
		}); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, l, "k", 10, false); !slices.Equal(got, over) {
			t.Fatalf("before the next append: %d ids, want %d", len(got), len(over))
		}
		if err := l.Append(ctx, "k", "t"); err != nil {
			t.Fatal(err)
		}
		want := append(slices.Clone(over), "t")
		if got := readAll(t, l, "k", 10, false); !slices.Equal(got, want) {
			t.Errorf("after: %d ids %v, want %d", len(got), got, len(want))
		}
		var h bson.M
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "h:k"}}).Decode(&h); err != nil {
			t.Fatal(err)
		}
		if h["sealed"] != int64(1) || len(h["ids"].(bson.A)) != 6 {
			t.Errorf("head %v, want sealed 1 and 6 ids", h)
		}
	})
}

// TestIDListBackfill: a source stored before its lists is listed once, per key in the order asked, by the
// first Backfill; a later one, or one over lists that exist, changes nothing; an empty source makes no list.
func TestIDListBackfill(t *testing.T) {
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		l, coll, _ := listOf(t, m)
		ctx := t.Context()
		source := coll.Database().Collection("source")
		entry := func(raw bson.Raw) (string, string) {
			return raw.Lookup("k").StringValue(), raw.Lookup("_id").StringValue()
		}
		sortBy := bson.D{{Key: "n", Value: 1}}
		if err := l.Backfill(ctx, source, nil, sortBy, entry); err != nil {
			t.Fatal(err)
		}
		if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
			t.Fatalf("%d list documents (%v) for an empty source, want none", n, err)
		}
		var docs []any
		var wantA []string
		for i := range 150 {
			key := "a"
			if i%3 == 0 {
				key = "b"
			}
			id := fmt.Sprintf("d%03d", 149-i) // ids against the order of n
			if key == "a" {
				wantA = append(wantA, id)
			}
			docs = append(docs, bson.D{{Key: "_id", Value: id}, {Key: "k", Value: key}, {Key: "n", Value: i}})
		}
		if _, err := source.InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := l.Backfill(ctx, source, nil, sortBy, entry); err != nil {
				t.Fatal(err)
			}
		}
		if got := readAll(t, l, "a", 30, false); !slices.Equal(got, wantA) {
			t.Errorf("a's list: %d ids %v..., want %d in the order of n", len(got), head(got), len(wantA))
		}
		if got := readAll(t, l, "b", 100, false); len(got) != 50 {
			t.Errorf("b's list: %d ids, want 50", len(got))
		}
	})
}

// TestIDListAppendEach: ids appended to several lists at once, more than a bucket's worth each, are read
// back in their order, in both modes.
func TestIDListAppendEach(t *testing.T) {
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		l, _, _ := listOf(t, m)
		ctx := t.Context()
		lists := map[string][]string{}
		for k := range 12 {
			key := fmt.Sprintf("k%d", k)
			lists[key] = ids(key+"-", 0, k*docstore.ListBucketSize/3+1)
		}
		if err := l.AppendEach(ctx, lists); err != nil {
			t.Fatal(err)
		}
		for key, want := range lists {
			if got := readAll(t, l, key, 50, false); !slices.Equal(got, want) {
				t.Errorf("%s's list: %d ids %v..., want %d", key, len(got), head(got), len(want))
			}
		}
		if err := l.AppendEach(ctx, nil); err != nil {
			t.Errorf("AppendEach of nothing: %v", err)
		}
	})
}

// TestIDListClaim: of the calls claiming a task, concurrent or not, exactly one is told it has it; another
// task is claimed on its own.
func TestIDListClaim(t *testing.T) {
	l, coll, _ := listOf(t, docstoretest.Modes[0])
	ctx := t.Context()
	var claimed sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for range 8 {
		claimed.Go(func() {
			ok, err := l.Claim(ctx, "task")
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		})
	}
	claimed.Wait()
	if winners != 1 {
		t.Errorf("%d calls claimed the task, want 1", winners)
	}
	if ok, err := l.Claim(ctx, "task"); err != nil || ok {
		t.Errorf("a later claim = %v (%v), want false", ok, err)
	}
	if ok, err := l.Claim(ctx, "other"); err != nil || !ok {
		t.Errorf("another task's claim = %v (%v), want true", ok, err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: "m:task"}}); err != nil || n != 1 {
		t.Errorf("%d markers of the task (%v), want 1", n, err)
	}
}

// TestIDListAppendsGoTogether: appends to one list that arrive while one is under way go together in the
// next update, so that many appenders cost fewer updates than appends, and none is lost.
func TestIDListAppendsGoTogether(t *testing.T) {
	l, _, rec := listOf(t, docstoretest.Modes[0])
	ctx := t.Context()
	if err := l.Append(ctx, "shared", "first"); err != nil { // the head exists
		t.Fatal(err)
	}
	rec.Reset()
	const goroutines, each = 8, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for _, id := range ids(fmt.Sprintf("g%d-", g), 0, each) {
				if err := l.Append(ctx, "shared", id); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	updates := 0
	for _, c := range rec.Commands("lists", "lists") {
		if c.Name == "update" || c.Name == "findAndModify" {
			updates++
		}
	}
	if appends := goroutines * each; updates > appends/2 {
		t.Errorf("%d appends from %d goroutines took %d updates, want at most %d: they did not go together", appends, goroutines, updates, appends/2)
	}
	if got := readAll(t, l, "shared", 100, false); len(got) != goroutines*each+1 {
		t.Errorf("%d ids read, want %d", len(got), goroutines*each+1)
	}
}

// TestIDListAppendOfAGoneCaller: an append whose caller has given up already (ctx done) is refused with
// ctx's error and writes nothing, so that AppendEach, whose errgroup still starts the lists after one
// failed, stops writing them.
func TestIDListAppendOfAGoneCaller(t *testing.T) {
	l, _, _ := listOf(t, docstoretest.Modes[0])
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if err := l.Append(gone, "k", "gone"); !errors.Is(err, context.Canceled) {
		t.Errorf("Append of a gone caller: %v, want context.Canceled", err)
	}
	if err := l.AppendEach(gone, map[string][]string{"k": {"gone too"}, "other": {"x"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("AppendEach of a gone caller: %v, want context.Canceled", err)
	}
	// This append runs after any that the gone caller would have queued.
	if err := l.Append(t.Context(), "k", "kept"); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, l, "k", 10, false); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("the list holds %v, want [kept]", got)
	}
	if n, err := l.Len(t.Context(), "other"); err != nil || n != 0 {
		t.Errorf("the other list holds %d ids (%v), want none", n, err)
	}
}

// TestIDListAppendsGoTogetherPastABucket: appends of a bucket's worth of ids each, made at once to one list,
// go together in updates of more than a bucket, which are sealed into whole buckets: every id is read back
// once, each appender's in its order, oldest first and newest first.
func TestIDListAppendsGoTogetherPastABucket(t *testing.T) {
	l, _, _ := listOf(t, docstoretest.Modes[0])
	ctx := t.Context()
	const goroutines, rounds = 6, 4
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				from := r * docstore.ListBucketSize
				if err := l.Append(ctx, "shared", ids(fmt.Sprintf("g%d-", g), from, from+docstore.ListBucketSize)...); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := readAll(t, l, "shared", 50, false)
	if want := goroutines * rounds * docstore.ListBucketSize; len(got) != want {
		t.Fatalf("%d ids read, want %d", len(got), want)
	}
	for g := range goroutines {
		mine := slices.DeleteFunc(slices.Clone(got), func(id string) bool { return !strings.HasPrefix(id, fmt.Sprintf("g%d-", g)) })
		if want := ids(fmt.Sprintf("g%d-", g), 0, rounds*docstore.ListBucketSize); !slices.Equal(mine, want) {
			t.Errorf("goroutine %d's ids read as %v..., want its %d in order", g, head(mine), len(want))
		}
	}
	newest := readAll(t, l, "shared", 70, true)
	slices.Reverse(newest)
	if !slices.Equal(newest, got) {
		t.Error("the list read newest first is not the list read oldest first, reversed")
	}
}

// TestIDListAppendErrorReachesEveryWaiter: when the update of a round fails, every append that went in it
// gets the error, and none waits for ever.
func TestIDListAppendErrorReachesEveryWaiter(t *testing.T) {
	l, coll, _ := listOf(t, docstoretest.Modes[0])
	ctx := t.Context()
	// A head whose ids are not an array: no $push to it succeeds.
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "h:broken"}, {Key: "sealed", Value: 0}, {Key: "ids", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	const appenders = 16
	for i := range appenders {
		wg.Go(func() {
			if err := l.Append(ctx, "broken", fmt.Sprint(i)); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed != appenders {
		t.Errorf("%d of %d appends to a broken list failed, want all", failed, appenders)
	}
	if err := l.Append(ctx, "sound", "a"); err != nil {
		t.Errorf("an append to another list: %v", err)
	}
}
