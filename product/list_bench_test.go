package product

import (
	"fmt"
	"log/slog"
	"strings"
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

// BenchmarkSearchProducts measures GET /product?q='s work on the embedded
// store holding products=N products whose names are an adjective, a colour of
// four, a noun of five and a number: each query's first page and the next (20
// products each), read by a store that remembers nothing. q=mug is one word
// whose list holds only matches (a fifth of the products); q=red+mug two
// words (a twentieth), the shorter list read and its products filtered;
// q=teapot a word longer than a list's prefix, whose list ("tea") holds the
// teacups too. The cost must not follow the products stored (BENCHMARKS.md
// has the figures).
func BenchmarkSearchProducts(b *testing.B) {
	adjectives := []string{"Small", "Large", "Classic", "Modern", "Rustic"}
	colours := []string{"Red", "Blue", "Green", "Black"}
	nouns := []string{"Mug", "Teapot", "Teacup", "Bowl", "Plate"}
	for _, stored := range []int{1000, 10_000} {
		b.Run(fmt.Sprintf("products=%d", stored), func(b *testing.B) {
			if stored > 1000 && testing.Short() {
				b.Skip("-short: storing 10k products and their word lists takes some seconds on the embedded store")
			}
			db := newTestDB(b)
			setup, err := NewMongoStore(b.Context(), db)
			if err != nil {
				b.Fatal(err)
			}
			var ps []Product
			for i := range stored {
				name := fmt.Sprintf("%s %s %s %05d", adjectives[i/20%len(adjectives)],
					colours[i/len(nouns)%len(colours)], nouns[i%len(nouns)], i)
				ps = append(ps, Product{ID: fmt.Sprintf("p-%05d", i), Name: name, Price: 1000, Stock: 10})
				if len(ps) == 500 || i == stored-1 {
					if _, err := setup.InsertProducts(b.Context(), ps); err != nil {
						b.Fatal(err)
					}
					ps = ps[:0]
				}
			}
			for _, q := range []string{"mug", "red mug", "teapot"} {
				b.Run("q="+strings.ReplaceAll(q, " ", "+"), func(b *testing.B) {
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
						tok := ""
						for range 2 {
							page, err := svc.ListProducts(b.Context(), q, 20, tok)
							if err != nil || len(page.Products) != 20 || page.NextPageToken == "" {
								b.Fatalf("q %q, token %q: %d products, next %q (%v)", q, tok, len(page.Products), page.NextPageToken, err)
							}
							tok = page.NextPageToken
						}
					}
				})
			}
		})
	}
}
