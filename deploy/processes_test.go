package deploy

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/telemetry/telemetrytest"
)

// TestTraceAcrossServiceProcesses: kitshop in docker-compose's shape, each
// service its own process (cmd/user, cmd/product, cmd/order, cmd/payment,
// cmd/notification, on a store of their own process, cmd/docstore) behind
// cmd/edge, every one exporting over OTLP/gRPC to the test's receiver: a paid
// order's trace holds the same tree as in one process, each span from the
// process of its service.
func TestTraceAcrossServiceProcesses(t *testing.T) {
	bins := binaries(t, "docstore", "user", "product", "order", "payment", "notification", "edge")
	traces, err := telemetrytest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(traces.Close)
	dir := t.TempDir()
	var procs []*process
	t.Cleanup(func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
	})
	run := func(name string, args ...string) *process {
		t.Helper()
		p, err := start(name, bins[name], args...)
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
		return p
	}
	wait := func(p *process, re string) []string {
		t.Helper()
		m, err := p.waitFor(regexp.MustCompile(re), 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	store := run("docstore", "-data-dir", filepath.Join(dir, "store"))
	uri := wait(store, `^(mongodb://\S+)$`)[1]
	keyFile := filepath.Join(dir, "service-ed25519.pem")
	service := func(name string, extra ...string) (grpcAddr, httpAddr string) {
		t.Helper()
		args := append([]string{"-mongo-uri", uri, "-data-dir", filepath.Join(dir, name), "-service-key-file", keyFile,
			"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-log-format", "json",
			"-otel-endpoint", traces.GRPCEndpoint()}, extra...)
		m := wait(run(name, args...), `"msg":"`+name+` service started".*"grpc":"([^"]+)","http":"([^"]+)"`)
		return m[1], m[2]
	}
	grpcOf, httpOf := map[string]string{}, map[string]string{}
	// The user service first: it makes the shared service key and serves the JWKS the others fetch.
	grpcOf[config.User], httpOf[config.User] = service(config.User)
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatalf("the user service made no service key: %v", err)
	}
	jwks := "http://" + httpOf[config.User] + "/.well-known/jwks.json"
	for _, name := range []string{config.Product, config.Payment, config.Notification} {
		grpcOf[name], httpOf[name] = service(name, "-jwks-url", jwks)
	}
	grpcOf[config.Order], httpOf[config.Order] = service(config.Order, "-jwks-url", jwks,
		"-user-addr", grpcOf[config.User], "-product-addr", grpcOf[config.Product],
		"-payment-addr", grpcOf[config.Payment], "-notification-addr", grpcOf[config.Notification])
	edgeArgs := []string{"-http-addr", "127.0.0.1:0", "-log-format", "json", "-otel-endpoint", traces.GRPCEndpoint()}
	for _, name := range config.ServiceNames() {
		edgeArgs = append(edgeArgs, "-"+name+"-url", "http://"+httpOf[name])
	}
	edge := wait(run("edge", edgeArgs...), `"msg":"edge started".*"http":"([^"]+)"`)[1]

	s := &system{edge: edge}
	c := &client{base: "http://" + edge, http: &http.Client{Timeout: 30 * time.Second}}
	if code, body, err := c.do("POST", "/product/sample", "", "", ""); err != nil || code != http.StatusOK {
		t.Fatalf("POST /product/sample: %d %s %v", code, body, err)
	}
	if err := s.placeOrders(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := traces.Wait(ctx, func(all telemetrytest.Spans) error {
		return checkOrderTree(all.Trace(s.paidTrace))
	}); err != nil {
		t.Fatal(fmt.Errorf("trace %s: %w", s.paidTrace, err))
	}
}
