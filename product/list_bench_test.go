package product

import (
	"fmt"
	"log/slog"
	"testing"
)

// BenchmarkListProducts measures GET /product's work on the embedded store
// holding products=N products: the catalogue's first page and its tenth (20
// products each), read by a store that remembers nothing. The cost must not
// follow the products stored (BENCHMARKS.md has the figures).
func BenchmarkListProducts(b *testing.B) {
	for _, stored := range []int{1000, 10_000} {
		b.Run(fmt.Sprintf("products=%d", stored), func(b *testing.B) {
			db := newTestDB(b)
			setup, err := NewMongoStore(b.Context(), db)
			if err != nil {
				b.Fatal(err)
			}
			var ps []Product
			for i := range stored {
				ps = append(ps, Product{ID: fmt.Sprintf("p-%05d", i), Name: "Product", Price: 1000, Stock: 10})
				if len(ps) == 500 || i == stored-1 {
					if _, err := setup.InsertProducts(b.Context(), ps); err != nil {
						b.Fatal(err)
					}
					ps = ps[:0]
				}
			}
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				s, err := NewMongoStore(b.Context(), db)
				if err != nil {
					b.Fatal(err)
				}
				svc, err := NewService(s, Options{Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for _, tok := range []string{"", encodePageToken(9 * 20)} {
					page, err := svc.ListProducts(b.Context(), "", 20, tok)
					if err != nil || len(page.Products) != 20 {
						b.Fatalf("page %q: %d products (%v)", tok, len(page.Products), err)
					}
				}
			}
		})
	}
}
