package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/internal/docstore"
)

// parsed returns the configuration args give, as run would parse it.
func parsed(t *testing.T, args ...string) config {
	t.Helper()
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c config
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return c
}

func TestDefaultsAreValid(t *testing.T) {
	c := parsed(t)
	if err := c.validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.journeys != nil {
		t.Errorf("default mix %v, want none: orders only", c.journeys)
	}
	if !c.closedLoop() || c.workers != 64 || c.duration.Seconds() != 60 {
		t.Errorf("defaults are not a 60 s closed loop at 64 workers: %+v", c)
	}
	c = parsed(t, "-rate", "200", "-mode", "grpc", "-count", "10", "-duration", "0", "-catalogue", "a:1000,b:2500",
		"-payment", "card", "-run-id", "bench-1", "-audit-mongo-uri", "mongodb://127.0.0.1:27017/", "-mix", "browse=3,order=1")
	if err := c.validate(); err != nil {
		t.Fatalf("valid open loop: %v", err)
	}
	if c.journeys.String() != "browse=3,order=1" {
		t.Errorf("-mix browse=3,order=1 parsed as %v", c.journeys)
	}
	if c.closedLoop() {
		t.Error("-rate 200 is not an open loop")
	}
}

func TestValidateNamesEveryBadFlag(t *testing.T) {
	tests := []struct {
		args []string
		flag string // named in the error
	}{
		{[]string{"-target", "localhost:8080"}, "-target"},
		{[]string{"-target", "ftp://x"}, "-target"},
		{[]string{"-target", "http://"}, "-target"},
		{[]string{"-mode", "carrier-pigeon"}, "-mode"},
		{[]string{"-mode", "grpc", "-grpc-addr", "50053"}, "-grpc-addr"},
		{[]string{"-users", "0"}, "-users"},
		{[]string{"-workers", "0"}, "-workers"},
		{[]string{"-rate", "-1"}, "-rate"},
		{[]string{"-rate", "10", "-max-inflight", "0"}, "-max-inflight"},
		{[]string{"-duration", "-1s"}, "-duration"},
		{[]string{"-duration", "0", "-count", "0"}, "-duration"},
		{[]string{"-count", "-5"}, "-count"},
		{[]string{"-timeout", "0s"}, "-timeout"},
		{[]string{"-max-products", "0"}, "-max-products"},
		{[]string{"-max-quantity", "0"}, "-max-quantity"},
		{[]string{"-min-stock", "-1"}, "-min-stock"},
		{[]string{"-catalogue", "sample-1"}, "-catalogue"},
		{[]string{"-catalogue", "sample-1:free"}, "-catalogue"},
		{[]string{"-catalogue", "sample-1:0"}, "-catalogue"},
		{[]string{"-catalogue", "a:1,a:2"}, "-catalogue"},
		{[]string{"-payment", "cash"}, "-payment"},
		{[]string{"-run-id", "Has Space"}, "-run-id"},
		{[]string{"-setup-workers", "0"}, "-setup-workers"},
		{[]string{"-audit-mongo-uri", "http://127.0.0.1:27017"}, "-audit-mongo-uri"},
		{[]string{"-audit-only"}, "-audit-only"},
		{[]string{"-audit-data-dir", "/tmp/" + strings.Repeat("d", 200)}, "-audit-data-dir"},
		{[]string{"-audit-data-dir", "/tmp/x", "-audit-mongo-uri", "mongodb://x"}, "-audit-data-dir"},
		{[]string{"-audit-wait", "-1s"}, "-audit-wait"},
		{[]string{"-audit-pending-limit", "0s"}, "-audit-pending-limit"},
		{[]string{"-audit-max-print", "-1"}, "-audit-max-print"},
		{[]string{"-cpu-pids", "shop"}, "-cpu-pids"},
		{[]string{"-cpu-pids", "1,1"}, "-cpu-pids"},
		{[]string{"-cpu-pids", "1", "-audit-only", "-audit-mongo-uri", "mongodb://x"}, "-cpu-pids"},
		{[]string{"-mix", "search=1"}, "-mix"},
		{[]string{"-mix", "browse=-5"}, "-mix"},
		{[]string{"-mix", "browse=0.5"}, "-mix"},
		{[]string{"-mix", "browse=0,order=0"}, "-mix"},
		{[]string{"-mix", "order=1,order=1"}, "-mix"},
		{[]string{"-mix", "order=1", "-audit-only", "-audit-mongo-uri", "mongodb://x"}, "-mix"},
	}
	for _, tt := range tests {
		c := parsed(t, tt.args...)
		err := c.validate()
		if err == nil {
			t.Errorf("%q: valid", tt.args)
			continue
		}
		if !strings.Contains(err.Error(), "invalid "+tt.flag+":") {
			t.Errorf("%q: error %q does not name %s", tt.args, err, tt.flag)
		}
	}
}

// TestAuditDataDir checks that -audit-data-dir audits the embedded store's socket in that directory, the URI
// cmd/shop and cmd/docstore print.
func TestAuditDataDir(t *testing.T) {
	dir := t.TempDir()
	c := parsed(t, "-audit-only", "-audit-data-dir", dir)
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if want, err := docstore.SocketURI(dir); err != nil || c.auditURI != want {
		t.Errorf("audit URI %q, want the socket's %q (%v)", c.auditURI, want, err)
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	c := parsed(t, "-users", "0", "-payment", "cash", "-timeout", "0s")
	err := c.validate()
	for _, name := range []string{"-users", "-payment", "-timeout"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestParseCatalogue(t *testing.T) {
	ps, err := parseCatalogue("sample-1:1000, sample-3:3000")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0] != (product{ID: "sample-1", Price: 1000, Stock: -1}) || ps[1].ID != "sample-3" || ps[1].Price != 3000 {
		t.Errorf("parsed %+v", ps)
	}
}
