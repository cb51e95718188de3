package order

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The status lists: for each status an order may stay in (not atWork), a
// list of the orders that entered it,
// newest last (MongoStore keeps them in order_status_lists, a docstore.IDList
// keyed by the status). An entry is "<ms> <order id>", ms the time the order
// entered the status in Unix milliseconds: its UpdatedAt for as long as it
// stays there, since only a transition sets UpdatedAt. An entry is current
// when its order is in the list's status with that UpdatedAt, and a listing
// (Store.ListByStatus) shows only current entries. An order leaves entries
// behind that are not current: in the statuses it moved on from, and for a
// transition whose update failed or lost to another (a race, a repeat of an
// operator's move); none of them shows, and an order in a status has exactly
// one current entry in that status's list.
//
// Store.Transition appends the entry before the write that puts the order in
// the status: an order is never in a status without its entry, whatever
// crashes where, and a crash between the two leaves an entry that is not
// current.
//
// The status atWork, Pending, has no list: an order in it has a work entry
// until it leaves it, so its orders are those of the work entries
// (atWorkPage), and an order's insert, the hot path, appends nothing.
// PaymentProcessed is listed: an order whose notification the notification
// service refused as invalid stays there with nothing due and no work entry
// (runOutbox drops the notification and starts no delivery), waiting for an
// operator's DeliveryStarted.

// atWork says that an order in st has its work entry (worker.go) for as long
// as it stays: Pending, until its creation is settled.
func (st Status) atWork() bool { return st == StatusPending }

// atWorkPage returns up to limit of the orders now in st, a status atWork,
// newest first by the time they entered it, from offset from (the first when
// negative), and the offset of the next page, -1 when none follows. It reads
// every work entry (listWork) and their orders by id (get): its cost follows
// the work at hand, which the worker keeps small, not the orders stored.
// Offsets count the orders in st when the page is read: orders arriving or
// leaving meanwhile shift them.
func atWorkPage(ctx context.Context, st Status, from int64, limit int,
	listWork func(ctx context.Context) ([]Work, error),
	get func(ctx context.Context, ids []string) (map[string]Order, error),
) ([]Order, int64, error) {
	work, err := listWork(ctx)
	if err != nil {
		return nil, -1, err
	}
	ids := make([]string, len(work))
	for i, w := range work {
		ids[i] = w.OrderID
	}
	byID, err := get(ctx, ids)
	if err != nil {
		return nil, -1, err
	}
	var in []Order
	for _, o := range byID {
		if o.Status == st {
			in = append(in, o)
		}
	}
	slices.SortFunc(in, func(a, b Order) int { return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), strings.Compare(b.ID, a.ID)) })
	lo := min(max(from, 0), int64(len(in)))
	hi := min(lo+int64(limit), int64(len(in)))
	next := hi
	if hi == int64(len(in)) {
		next = -1
	}
	return in[lo:hi], next, nil
}

// maxStatusScan is the most entries of a status list one page reads
// (statusPage): a list may be mostly entries that are no longer current (nearly
// every order entered DeliveryStarted once), so a page of a status few orders are in
// stops there, short, with the position to go on from.
const maxStatusScan = 10 * MaxPageSize

// statusEntry is the entry of order id, which entered a status at at.
func statusEntry(id string, at time.Time) string {
	return strconv.FormatInt(at.UnixMilli(), 10) + " " + id
}

// parseStatusEntry returns the order id and time of an entry; ok is false
// for one that is not statusEntry's.
func parseStatusEntry(e string) (id string, ms int64, ok bool) {
	t, id, found := strings.Cut(e, " ")
	ms, err := strconv.ParseInt(t, 10, 64)
	return id, ms, found && err == nil && id != ""
}

// statusPage returns up to limit orders of the current entries of status
// st's list, newest first from position from (the newest when negative), and
// the position of the first entry it did not look at, -1 when none is left.
// read returns up to n entries of the list newest first from a position,
// with the position after them (docstore.IDList.Read); get returns the
// orders of ids that exist, by id. It reads on, in rounds that double, until
// the page is full, the list ends or it has read maxStatusScan entries.
func statusPage(ctx context.Context, st Status, from int64, limit int,
	read func(ctx context.Context, from int64, n int) ([]string, int64, error),
	get func(ctx context.Context, ids []string) (map[string]Order, error),
) ([]Order, int64, error) {
	out := make([]Order, 0, limit)
	n, scanned := 0, 0
	for len(out) < limit && scanned < maxStatusScan {
		n = min(max(2*n, limit-len(out)), maxStatusScan-scanned)
		entries, next, err := read(ctx, from, n)
		if err != nil {
			return nil, -1, err
		}
		if len(entries) == 0 {
			return out, -1, nil
		}
		ids := make([]string, 0, len(entries))
		for _, e := range entries {
			if id, _, ok := parseStatusEntry(e); ok {
				ids = append(ids, id)
			}
		}
		byID, err := get(ctx, ids)
		if err != nil {
			return nil, -1, err
		}
		for k, e := range entries {
			if len(out) == limit {
				return out, next + int64(len(entries)-k), nil // entries[k]'s position
			}
			id, ms, ok := parseStatusEntry(e)
			if o, found := byID[id]; ok && found && o.Status == st && o.UpdatedAt.UnixMilli() == ms {
				out = append(out, o)
			}
		}
		scanned += len(entries)
		if next < 0 {
			return out, -1, nil
		}
		from = next
	}
	return out, from, nil
}
