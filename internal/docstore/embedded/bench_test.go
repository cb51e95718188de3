package embedded

import (
	"fmt"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/cputime"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The benchmarks below measure one command at a time through one Store on [Server.URI], as a service
// in the process of the embedded store sends them, on collections of 1k and 100k documents. Besides the
// time, they report cpu-ns/op: the CPU time of the whole process (driver, FerretDB, SQLite, garbage
// collector) per command, which is what a command costs the machine, and which the load of other processes
// distorts less than the time.

// BenchmarkGetByID measures FindOne({_id}) of a product.
func BenchmarkGetByID(b *testing.B) {
	benchOn(b, "products", productDoc, func(b *testing.B, c *mongo.Collection, ids []string, i int) {
		var doc struct {
			Stock int64 `bson:"stock"`
		}
		if err := c.FindOne(b.Context(), bson.M{"_id": scattered(ids, i)}).Decode(&doc); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkUpdateByID measures UpdateOne({_id}, {$inc}) of a product.
func BenchmarkUpdateByID(b *testing.B) {
	benchOn(b, "products", productDoc, func(b *testing.B, c *mongo.Collection, ids []string, i int) {
		res, err := c.UpdateOne(b.Context(), bson.M{"_id": scattered(ids, i)}, bson.M{"$inc": bson.M{"stock": 1}})
		if err != nil {
			b.Fatal(err)
		}
		if res.ModifiedCount != 1 {
			b.Fatalf("modified %d documents, want 1", res.ModifiedCount)
		}
	})
}

// BenchmarkInsert measures InsertOne of a new order of about 600 bytes.
func BenchmarkInsert(b *testing.B) {
	benchOn(b, "orders", orderDoc, func(b *testing.B, c *mongo.Collection, ids []string, i int) {
		if _, err := c.InsertOne(b.Context(), orderDoc(fmt.Sprintf("new-order-%07d", i), i)); err != nil {
			b.Fatal(err)
		}
	})
}

// benchOn runs op, the i-th time with i, on collection coll of a new embedded store seeded with 1k and with
// 100k documents made by doc; ids are theirs.
func benchOn(b *testing.B, coll string, doc func(id string, i int) bson.D,
	op func(b *testing.B, c *mongo.Collection, ids []string, i int),
) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("docs=%dk", n/1000), func(b *testing.B) {
			e := startServer(b, Options{})
			c := connect(b, e.URI()).Database("bench").Collection(coll)
			ids := seed(b, e, c, n, doc)
			cpu0, ok := cputime.Process()
			for i := 0; b.Loop(); i++ {
				op(b, c, ids, i)
			}
			if cpu1, _ := cputime.Process(); ok {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

// scattered returns the i-th of ids in an order that jumps around the collection.
func scattered(ids []string, i int) string { return ids[(i*7919)%len(ids)] }

// seed inserts n documents made by doc in batches, making sure the _id index exists first.
func seed(b *testing.B, e *Server, c *mongo.Collection, n int, doc func(id string, i int) bson.D) []string {
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
		ids[i] = fmt.Sprintf("%s-%07d", c.Name(), i)
		docs = append(docs, doc(ids[i], i))
		if len(docs) == batch || i == n-1 {
			if _, err := c.InsertMany(ctx, docs); err != nil {
				b.Fatal(err)
			}
			docs = docs[:0]
		}
	}
	return ids
}

// productDoc is a product of the product service's shape.
func productDoc(id string, i int) bson.D {
	return bson.D{
		{Key: "_id", Value: id},
		{Key: "name", Value: fmt.Sprintf("Product %d", i)},
		{Key: "description", Value: "A sample product used to measure the embedded document store."},
		{Key: "price", Value: int64(1000 + i%5000)},
		{Key: "stock", Value: int64(100)},
	}
}

// orderDoc is an order of the order service's shape, about 600 bytes of BSON.
func orderDoc(id string, i int) bson.D {
	item := func(n int) bson.D {
		return bson.D{
			{Key: "productId", Value: fmt.Sprintf("product-%07d", n)},
			{Key: "name", Value: fmt.Sprintf("Product %d", n)},
			{Key: "price", Value: int64(1000 + n%5000)},
		}
	}
	return bson.D{
		{Key: "_id", Value: id},
		{Key: "customer", Value: bson.D{
			{Key: "userId", Value: fmt.Sprintf("user-%07d", i%10_000)},
			{Key: "email", Value: fmt.Sprintf("customer%d@example.com", i%10_000)},
			{Key: "name", Value: "Kim Minsu"},
		}},
		{Key: "products", Value: bson.A{item(i % 97), item(i % 89), item(i % 83)}},
		{Key: "deliveryAddress", Value: bson.D{
			{Key: "name", Value: "Kim Minsu"},
			{Key: "street", Value: "123 Teheran-ro, Gangnam-gu"},
			{Key: "city", Value: "Seoul"},
			{Key: "postalCode", Value: "06236"},
			{Key: "country", Value: "KR"},
		}},
		{Key: "status", Value: "Pending"},
		{Key: "payment", Value: bson.D{
			{Key: "paymentId", Value: fmt.Sprintf("payment-%07d", i)},
			{Key: "paymentMethod", Value: "CreditCard"},
			{Key: "amount", Value: int64(6000)},
		}},
		{Key: "createdAt", Value: time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)},
	}
}

// BenchmarkUpdateBatch measures updates by _id of products ({$inc}) on 1k documents, one findAndModify each
// (statements=0) and as update commands of 1, 4 and 8 statements, which is how the Updater sends the updates
// waiting for the connection together (batcher). cpu-ns/doc is the process's CPU per document updated.
func BenchmarkUpdateBatch(b *testing.B) {
	for _, k := range []int{0, 1, 4, 8} {
		b.Run(fmt.Sprintf("statements=%d", k), func(b *testing.B) {
			e := startServer(b, Options{})
			c := connect(b, e.URI()).Database("bench").Collection("products")
			ids := seed(b, e, c, 1_000, productDoc)
			inc := bson.M{"$inc": bson.M{"stock": 1}}
			cpu0, ok := cputime.Process()
			docs := 0
			for i := 0; b.Loop(); i++ {
				if k == 0 {
					if err := c.FindOneAndUpdate(b.Context(), bson.M{"_id": scattered(ids, i)}, inc).Err(); err != nil {
						b.Fatal(err)
					}
					docs++
					continue
				}
				models := make([]mongo.WriteModel, k)
				for j := range models {
					models[j] = mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": scattered(ids, i*k+j)}).SetUpdate(inc)
				}
				res, err := c.BulkWrite(b.Context(), models, options.BulkWrite().SetOrdered(false))
				if err != nil {
					b.Fatal(err)
				}
				if res.MatchedCount != int64(k) {
					b.Fatalf("matched %d documents, want %d", res.MatchedCount, k)
				}
				docs += k
			}
			if cpu1, _ := cputime.Process(); ok {
				b.ReportMetric(float64(cpu1-cpu0)/float64(docs), "cpu-ns/doc")
			}
		})
	}
}
