package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestServesUntilStopped(t *testing.T) {
	dir := t.TempDir()
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-data-dir", dir, "-log-level", "warn"}, w, io.Discard)
		w.Close()
	}()
	uri, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no URI printed: %v (run: %v)", err, <-done)
	}
	uri = strings.TrimSpace(uri)
	if !strings.HasPrefix(uri, "mongodb://127.0.0.1:") || !strings.Contains(uri, "maxPoolSize=1") {
		t.Fatalf("printed %q, want the embedded store's URI on loopback with its client options", uri)
	}
	go io.Copy(io.Discard, out)

	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err = c.Database("probe").Collection("things").InsertOne(pctx, bson.D{{Key: "_id", Value: "one"}}); err != nil {
		t.Fatalf("insert through the printed URI: %v", err)
	}

	if err = c.Disconnect(pctx); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run after stop: %v", err)
	}
}

func TestRefusesBadSettings(t *testing.T) {
	for _, args := range [][]string{
		{"-addr", "0.0.0.0:27017", "-data-dir", t.TempDir()}, // not loopback
		{"-addr", "", "-data-dir", t.TempDir()},
		{"-data-dir", ""},
		{"-maintenance-interval", "0s", "-data-dir", t.TempDir()},
		{"-log-level", "loud", "-data-dir", t.TempDir()},
		{"stray-argument"},
	} {
		if err := run(t.Context(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %q succeeded", args)
		}
	}
}
