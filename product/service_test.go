package product

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewServiceOptions(t *testing.T) {
	t.Parallel()
	if _, err := NewService(nil, Options{}); err == nil {
		t.Error("NewService(nil store) succeeded")
	}
	for _, o := range []Options{{SampleStock: -1}, {SampleStock: MaxStock + 1}, {Lease: time.Millisecond}} {
		if _, err := NewService(newFakeStore(), o); err == nil {
			t.Errorf("NewService(%+v) succeeded", o)
		}
	}
}

func TestCreateSamples(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, h harness) {
		svc, err := NewService(h.store, Options{SampleStock: 7})
		if err != nil {
			t.Fatal(err)
		}
		// Concurrent calls create each sample once.
		var created atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				n, err := svc.CreateSamples(t.Context())
				if err != nil {
					t.Error(err)
				}
				created.Add(int64(n))
			})
		}
		wg.Wait()
		if created.Load() != 5 {
			t.Fatalf("concurrent CreateSamples created %d in all, want 5", created.Load())
		}
		if n, err := svc.CreateSamples(t.Context()); n != 0 || err != nil {
			t.Fatalf("CreateSamples again = %d, %v; want 0", n, err)
		}
		page, err := svc.ListProducts(t.Context(), "", 0, "")
		if err != nil {
			t.Fatal(err)
		}
		var prices []int64
		for _, p := range page.Products {
			prices = append(prices, p.Price)
			if p.Stock != 7 || p.Name == "" || p.Description == "" {
				t.Errorf("sample %+v: want stock 7, a name and a description", p)
			}
		}
		if fmt.Sprint(prices) != "[1000 2000 3000 2000 1500]" || page.NextPageToken != "" {
			t.Errorf("sample prices = %v (next %q), want [1000 2000 3000 2000 1500]", prices, page.NextPageToken)
		}
	})
}

func TestGetProductsInfo(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	seed(t, store, 1, 2, 3)
	svc := newTestService(t, store, newClock())
	ctx := t.Context()

	ps, err := svc.GetProductsInfo(ctx, []string{"p3", "p1", "p3", "p2", "p1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(productIDsOf(ps)); got != "[p3 p1 p2]" {
		t.Errorf("ids = %s, want [p3 p1 p2] (request order, once each)", got)
	}

	_, err = svc.GetProductsInfo(ctx, []string{"x", "p1", "y", "x"})
	var pe *ProductsError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &pe) || fmt.Sprint(pe.ProductIDs) != "[x y]" {
		t.Errorf("missing: err = %v, want ErrNotFound naming x, y", err)
	}

	ids := make([]string, MaxIDs)
	for i := range ids {
		ids[i] = "p1"
	}
	if ps, err = svc.GetProductsInfo(ctx, ids); err != nil || len(ps) != 1 {
		t.Errorf("%d ids = %d products, %v", MaxIDs, len(ps), err)
	}
	for name, ids := range map[string][]string{
		"empty list":    nil,
		"empty id":      {"p1", ""},
		"too many ids":  append(ids, "p1"),
		"control chars": {"p\n1"},
	} {
		if _, err := svc.GetProductsInfo(ctx, ids); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
}

func productIDsOf(ps []Product) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

func TestListProducts(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	var ps []Product
	for i := range 120 {
		ps = append(ps, Product{ID: fmt.Sprintf("id-%03d", i), Name: "n", Price: 1})
	}
	if _, err := store.InsertProducts(t.Context(), ps); err != nil {
		t.Fatal(err)
	}
	svc := newTestService(t, store, newClock())
	ctx := t.Context()

	var all []string
	tok, pages := "", 0
	for {
		page, err := svc.ListProducts(ctx, "", 50, tok)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, productIDsOf(page.Products)...)
		if tok = page.NextPageToken; tok == "" {
			break
		}
		if pages > 3 {
			t.Fatal("too many pages")
		}
	}
	if pages != 3 || len(all) != 120 || !slices.IsSorted(all) || all[0] != "id-000" {
		t.Errorf("paged %d products in %d pages, want 120 in order in 3", len(all), pages)
	}

	page, err := svc.ListProducts(ctx, "", 0, "")
	if err != nil || len(page.Products) != DefaultPageSize || page.NextPageToken == "" {
		t.Errorf("default page = %d products, %q, %v", len(page.Products), page.NextPageToken, err)
	}
	if page, err = svc.ListProducts(ctx, "", 1000, ""); err != nil || len(page.Products) != MaxPageSize {
		t.Errorf("page of 1000 = %d products, %v; want %d", len(page.Products), err, MaxPageSize)
	}
	// An exactly full last page has no next token.
	if page, err = svc.ListProducts(ctx, "", 20, encodePageToken(100)); err != nil || len(page.Products) != 20 || page.NextPageToken != "" {
		t.Errorf("last page = %d products, %q, %v", len(page.Products), page.NextPageToken, err)
	}

	bad := map[string]struct {
		size int
		tok  string
	}{
		"negative size":      {-1, ""},
		"not base64":         {0, "***"},
		"foreign token":      {0, base64.RawURLEncoding.EncodeToString([]byte("id-001"))},
		"negative position":  {0, encodePageToken(-1)},
		"the old form":       {0, base64.RawURLEncoding.EncodeToString([]byte("p1:id-001"))},
		"not a number":       {0, base64.RawURLEncoding.EncodeToString([]byte("p2:x1"))},
		"leading zero":       {0, base64.RawURLEncoding.EncodeToString([]byte("p2:01"))},
		"padded base64 form": {0, base64.URLEncoding.EncodeToString([]byte("p2:1"))},
	}
	for name, c := range bad {
		if _, err := svc.ListProducts(ctx, "", c.size, c.tok); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
}

func TestGetProduct(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	seed(t, store, 3)
	svc := newTestService(t, store, newClock())
	if p, err := svc.GetProduct(t.Context(), "p1"); err != nil || p.Stock != 3 {
		t.Errorf("GetProduct = %+v, %v", p, err)
	}
	if _, err := svc.GetProduct(t.Context(), "p9"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "p9") {
		t.Errorf("unknown: err = %v, want ErrNotFound naming p9", err)
	}
	if _, err := svc.GetProduct(t.Context(), ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty id: err = %v, want ErrInvalidArgument", err)
	}
}

func TestCreateProduct(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	svc := newTestService(t, store, newClock())
	ctx := t.Context()

	p, err := svc.CreateProduct(ctx, NewProduct{Name: "  Tea  ", Description: "Green.", Price: 2500, Stock: 0})
	if err != nil || p.ID == "" || p.Name != "Tea" || p.Price != 2500 {
		t.Fatalf("CreateProduct = %+v, %v", p, err)
	}
	if got, err := svc.GetProduct(ctx, p.ID); err != nil || got != p {
		t.Errorf("GetProduct(new) = %+v, %v; want %+v", got, err, p)
	}
	q, err := svc.CreateProduct(ctx, NewProduct{Name: "Tea", Price: 1})
	if err != nil || q.ID == p.ID {
		t.Errorf("second product = %+v, %v; want another id", q, err)
	}

	for name, np := range map[string]NewProduct{
		"empty name":       {Name: " ", Price: 1},
		"long name":        {Name: strings.Repeat("가", MaxNameLen+1), Price: 1},
		"bad UTF-8":        {Name: "\xff", Price: 1},
		"long description": {Name: "x", Description: strings.Repeat("d", MaxDescriptionLen+1), Price: 1},
		"zero price":       {Name: "x"},
		"negative price":   {Name: "x", Price: -5},
		"huge price":       {Name: "x", Price: MaxPrice + 1},
		"negative stock":   {Name: "x", Price: 1, Stock: -1},
		"huge stock":       {Name: "x", Price: 1, Stock: MaxStock + 1},
	} {
		if _, err := svc.CreateProduct(ctx, np); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
	if _, err := svc.CreateProduct(ctx, NewProduct{Name: strings.Repeat("가", MaxNameLen), Price: 1}); err != nil {
		t.Errorf("name of %d runes: %v", MaxNameLen, err)
	}
}

func TestAdjustStock(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	seed(t, store, 5)
	svc := newTestService(t, store, newClock())
	ctx := t.Context()

	if p, err := svc.AdjustStock(ctx, "p1", 10); err != nil || p.Stock != 15 {
		t.Errorf("AdjustStock(+10) = %+v, %v", p, err)
	}
	if p, err := svc.AdjustStock(ctx, "p1", -15); err != nil || p.Stock != 0 {
		t.Errorf("AdjustStock(-15) = %+v, %v", p, err)
	}
	_, err := svc.AdjustStock(ctx, "p1", -1)
	var pe *ProductsError
	if !errors.Is(err, ErrInsufficientStock) || !errors.As(err, &pe) || pe.ProductIDs[0] != "p1" {
		t.Errorf("below zero: err = %v, want ErrInsufficientStock naming p1", err)
	}
	if _, err = svc.AdjustStock(ctx, "p9", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: err = %v, want ErrNotFound", err)
	}
	if _, err = svc.AdjustStock(ctx, "p1", MaxStock); err != nil {
		t.Errorf("to the maximum: %v", err)
	}
	if _, err = svc.AdjustStock(ctx, "p1", 1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("above the maximum: err = %v, want ErrInvalidArgument", err)
	}
	for _, d := range []int64{0, MaxStock + 1, -MaxStock - 1} {
		if _, err = svc.AdjustStock(ctx, "p1", d); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("delta %d: err = %v, want ErrInvalidArgument", d, err)
		}
	}
}

func TestStoreFailureIsNotABusinessError(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	seed(t, store, 5)
	store.err = errors.New("store down")
	svc := newTestService(t, store, newClock())
	ctx := t.Context()
	calls := map[string]error{}
	_, calls["CreateSamples"] = svc.CreateSamples(ctx)
	_, calls["GetProductsInfo"] = svc.GetProductsInfo(ctx, []string{"p1"})
	_, calls["ListProducts"] = svc.ListProducts(ctx, "", 0, "")
	_, calls["ListProducts with q"] = svc.ListProducts(ctx, "product", 0, "")
	_, calls["GetProduct"] = svc.GetProduct(ctx, "p1")
	_, calls["CreateProduct"] = svc.CreateProduct(ctx, NewProduct{Name: "x", Price: 1})
	_, calls["AdjustStock"] = svc.AdjustStock(ctx, "p1", 1)
	_, calls["ReserveStock"] = svc.ReserveStock(ctx, "o1", []Item{{"p1", 1}})
	_, calls["ReleaseStock"] = svc.ReleaseStock(ctx, "o1")
	for name, err := range calls {
		if business, infra := errorTable.Split(err); business != nil || !errors.Is(infra, store.err) {
			t.Errorf("%s: err = %v, want the store's error as an infrastructure failure", name, err)
		}
	}
}

func TestProductsErrorMessage(t *testing.T) {
	t.Parallel()
	ids := make([]string, 25)
	for i := range ids {
		ids[i] = fmt.Sprintf("p%d", i)
	}
	msg := (&ProductsError{Err: ErrNotFound, ProductIDs: ids}).Error()
	if !strings.HasPrefix(msg, "product not found: p0, p1,") || !strings.HasSuffix(msg, "p19 and 5 more") {
		t.Errorf("message = %q", msg)
	}
}

func TestOrderLocksHonourContext(t *testing.T) {
	t.Parallel()
	l := orderLocks{m: map[string]*orderLock{}}
	unlock, err := l.lock(t.Context(), "o1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.lock(ctx, "o1"); !errors.Is(err, ctx.Err()) {
		t.Errorf("lock with a canceled context: err = %v", err)
	}
	// Another order is not blocked.
	unlock2, err := l.lock(t.Context(), "o2")
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
	unlock()
	if len(l.m) != 0 {
		t.Errorf("%d lock entries left, want 0", len(l.m))
	}
}
