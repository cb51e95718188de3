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

	"github.com/kitshop/kitshop/internal/docstore"
)

// TestServesUntilStopped checks the default: the store serves its Unix socket only, and prints its URI, which
// docstore.SocketURI of the data directory also gives.
func TestServesUntilStopped(t *testing.T) {
	dir := t.TempDir()
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-data-dir", dir, "-log-level", "warn"}, w, io.Discard)
		w.Close()
	}()
	lines := bufio.NewReader(out)
	uri, err := lines.ReadString('\n')
	if err != nil {
		t.Fatalf("no URI printed: %v (run: %v)", err, <-done)
	}
	uri = strings.TrimSpace(uri)
	if want, err := docstore.SocketURI(dir); err != nil || uri != want {
		t.Fatalf("printed %q, want the socket's URI %q (%v)", uri, want, err)
	}
	go io.Copy(io.Discard, lines)

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

// TestTCPOnRequest checks -addr: the socket's URI first, then a loopback TCP URI that works.
func TestTCPOnRequest(t *testing.T) {
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-data-dir", t.TempDir(), "-log-level", "error"}, w, io.Discard)
		w.Close()
	}()
	lines := bufio.NewReader(out)
	var uris []string
	for range 2 {
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("printed %q, then %v (run: %v)", uris, err, <-done)
		}
		uris = append(uris, strings.TrimSpace(line))
	}
	go io.Copy(io.Discard, lines)
	if !strings.Contains(uris[0], "docstore.sock") || !strings.HasPrefix(uris[1], "mongodb://127.0.0.1:") {
		t.Fatalf("printed %q, want the socket's URI, then a loopback TCP URI", uris)
	}
	c, err := mongo.Connect(options.Client().ApplyURI(uris[1]))
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err = c.Ping(pctx, nil); err != nil {
		t.Errorf("ping through TCP: %v", err)
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
		{"-addr", "127.0.0.1", "-data-dir", t.TempDir()},     // no port
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
