package docstore

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// BenchmarkGetByID measures FindOne({_id}) through one Store on the embedded store.
func BenchmarkGetByID(b *testing.B) {
	benchByID(b, func(b *testing.B, c *mongo.Collection, id string) {
		var doc struct {
			Stock int64 `bson:"stock"`
		}
		if err := c.FindOne(b.Context(), bson.M{"_id": id}).Decode(&doc); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkUpdateByID measures UpdateOne({_id}, {$inc}) through one Store on the embedded store.
func BenchmarkUpdateByID(b *testing.B) {
	benchByID(b, func(b *testing.B, c *mongo.Collection, id string) {
		res, err := c.UpdateOne(b.Context(), bson.M{"_id": id}, bson.M{"$inc": bson.M{"stock": 1}})
		if err != nil {
			b.Fatal(err)
		}
		if res.ModifiedCount != 1 {
			b.Fatalf("modified %d documents, want 1", res.ModifiedCount)
		}
	})
}

// benchByID runs op on a collection of 1k and of 100k documents, visiting the ids in a scattered order.
func benchByID(b *testing.B, op func(b *testing.B, c *mongo.Collection, id string)) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("docs=%dk", n/1000), func(b *testing.B) {
			e := startEmbedded(b, EmbeddedOptions{})
			c := connect(b, e.URI()).Database("bench").Collection("products")
			ids := seed(b, e, c, n)
			for i := 0; b.Loop(); i++ {
				op(b, c, ids[(i*7919)%n])
			}
		})
	}
}

// seed inserts n product-like documents in batches, making sure the _id index exists first.
func seed(b *testing.B, e *Embedded, c *mongo.Collection, n int) []string {
	b.Helper()
	ctx := b.Context()
	if err := c.Database().CreateCollection(ctx, c.Name()); err != nil {
		b.Fatal(err)
	}
	if err := e.EnsureIndexes(ctx); err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	ids := make([]string, n)
	docs := make([]any, 0, batch)
	for i := range n {
		ids[i] = fmt.Sprintf("product-%07d", i)
		docs = append(docs, bson.M{
			"_id":         ids[i],
			"name":        fmt.Sprintf("Product %d", i),
			"description": "A sample product used to measure the embedded document store.",
			"price":       int64(1000 + i%5000),
			"stock":       int64(100),
		})
		if len(docs) == batch || i == n-1 {
			if _, err := c.InsertMany(ctx, docs); err != nil {
				b.Fatal(err)
			}
			docs = docs[:0]
		}
	}
	return ids
}
