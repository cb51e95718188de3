package deploy

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/serve/servetest"
	"github.com/kitshop/kitshop/internal/telemetry"
	"github.com/kitshop/kitshop/internal/telemetry/telemetrytest"
)

// system is a running kitshop in the multi-process shape the deployments
// have: cmd/shop's five services (each on its own loopback HTTP and gRPC
// port) behind a separate cmd/edge process, with a few orders placed through
// the edge. Both processes export their traces to a receiver of the test:
// cmd/shop over OTLP/gRPC, cmd/edge over OTLP/HTTP.
type system struct {
	// serviceHTTP is each service's HTTP listener (host:port), by name.
	serviceHTTP map[string]string
	// shopEdge is cmd/shop's own, in-process edge; edge is cmd/edge's.
	shopEdge, edge string

	dataDir string
	procs   []*process
	// traces receives both processes' spans; paidTrace is the trace id the
	// first paid order's response named (X-Trace-Id).
	traces    *telemetrytest.Receiver
	paidTrace string
}

// process is a started command whose output is kept for failure messages.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *servetest.SyncBuffer
	done chan struct{}
}

// start runs bin with args; its stdout and stderr go to one buffer.
func start(name, bin string, args ...string) (*process, error) {
	p := &process{name: name, cmd: exec.Command(bin, args...), out: &servetest.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// Spans leave a tenth of a second after they end (the SDK's default: 5 s).
	p.cmd.Env = append(os.Environ(), "OTEL_BSP_SCHEDULE_DELAY=100")
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitFor polls the process's output for a line matching re, for at most
// timeout, and returns the line's submatches.
func (p *process) waitFor(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		sc := bufio.NewScanner(strings.NewReader(p.out.String()))
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				return m, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited (%v) before printing %q:\n%s", p.name, p.cmd.ProcessState, re, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not print %q within %s:\n%s", p.name, re, timeout, p.out.String())
		}
	}
}

// stop interrupts the process (a graceful stop) and kills it if it is still
// there after a few seconds.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// runningSystem returns the kitshop shared by the tests of this package,
// starting it on first use. TestMain stops it.
func runningSystem(t *testing.T) *system {
	t.Helper()
	bins := binaries(t, "shop", "edge")
	shop, edge, shopFlags := bins["shop"], bins["edge"], usage(t, "shop")
	shared.systemOnce.Do(func() {
		shared.system, shared.systemErr = startSystem(shop, edge, shopFlags)
	})
	if shared.systemErr != nil {
		t.Fatal(shared.systemErr)
	}
	return shared.system
}

// shopEdgeLine is the line of cmd/shop's start banner telling where its edge
// listens; the lines of the services follow it.
var shopEdgeLine = regexp.MustCompile(`^\s+edge .*http://(\S+)$`)

func startSystem(shopBin, edgeBin string, shopFlags []flagInfo) (_ *system, err error) {
	s := &system{serviceHTTP: make(map[string]string)}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	if s.dataDir, err = os.MkdirTemp("", "kitshop-deploy-data-"); err != nil {
		return nil, err
	}
	if s.traces, err = telemetrytest.New(); err != nil {
		return nil, err
	}
	// Every listener cmd/shop has (its edge, each service's gRPC and HTTP,
	// the embedded store...) on a free loopback port; optional ones, off by
	// default, stay off.
	args := []string{"-data-dir", s.dataDir, "-log-level", "warn", "-otel-endpoint", s.traces.GRPCEndpoint()}
	for _, f := range shopFlags {
		if strings.HasSuffix(f.name, "-addr") && f.def != "" {
			args = append(args, "-"+f.name, "127.0.0.1:0")
		}
	}
	shop, err := start("shop", shopBin, args...)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, shop)
	m, err := shop.waitFor(shopEdgeLine, 60*time.Second)
	if err != nil {
		return nil, err
	}
	s.shopEdge = m[1]
	for _, name := range config.ServiceNames() {
		m, err := shop.waitFor(regexp.MustCompile(`^\s+`+name+`\s+gRPC \S+\s+HTTP http://(\S+)$`), time.Second)
		if err != nil {
			return nil, err
		}
		s.serviceHTTP[name] = m[1]
	}

	edgeArgs := []string{"-http-addr", "127.0.0.1:0", "-log-format", "json",
		"-otel-endpoint", s.traces.HTTPEndpoint(), "-otel-protocol", "http/protobuf"}
	for _, name := range config.ServiceNames() {
		edgeArgs = append(edgeArgs, "-"+name+"-url", "http://"+s.serviceHTTP[name])
	}
	edge, err := start("edge", edgeBin, edgeArgs...)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, edge)
	m, err = edge.waitFor(regexp.MustCompile(`"msg":"edge started".*"http":"([^"]+)"`), 10*time.Second)
	if err != nil {
		return nil, err
	}
	s.edge = m[1]
	if err := s.placeOrders(); err != nil {
		return nil, err
	}
	return s, nil
}

// stop stops the processes, the edge first, and removes the data directory.
func (s *system) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop()
	}
	if s.dataDir != "" {
		os.RemoveAll(s.dataDir)
	}
	if s.traces != nil {
		s.traces.Close()
	}
}

// placeOrders signs a buyer up and places orders through cmd/edge, as the
// README walkthrough does: two paid, one declined, one refused for a wrong
// amount; then waits for the paid ones to reach DeliveryStarted, so that
// every kitshop series (client calls both ways, breakers, order statuses)
// exists.
func (s *system) placeOrders() error {
	c := &client{base: "http://" + s.edge, http: &http.Client{Timeout: 30 * time.Second}}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("kim@example.com:correct horse"))
	if code, body, err := c.do("POST", "/auth/register", basic, "", `{"name":"Kim","age":30,"profile":"buyer"}`); err != nil || code != http.StatusCreated {
		return fmt.Errorf("register: %d %s %v", code, body, err)
	}
	code, body, err := c.do("POST", "/auth/login", basic, "", "")
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("login: %d %s %v", code, body, err)
	}
	var tokens struct{ AccessToken string }
	if err := json.Unmarshal(body, &tokens); err != nil || tokens.AccessToken == "" {
		return fmt.Errorf("login answered %s", body)
	}
	bearer := "Bearer " + tokens.AccessToken

	order := func(key, card string, amount int) (int, string, error) {
		code, body, err := c.do("POST", "/order", bearer, key, fmt.Sprintf(`{
			"productIds": ["sample-1", "sample-1", "sample-3"],
			"address": {"name": "Kim", "street": "1 Sejong-daero", "city": "Seoul", "postalCode": "04524", "country": "KR"},
			"payment": {"paymentMethod": "CreditCard", "paymentName": "Kim", "cardNumber": %q, "expiryYear": "2030",
			            "expiryMonth": "12", "birthOrRegistration": "900101", "passwordTwoDigits": "12", "amount": %d}}`, card, amount))
		var o struct{ ID string }
		_ = json.Unmarshal(body, &o)
		if err == nil && o.ID == "" && code < 300 {
			err = fmt.Errorf("no order id in %s", body)
		}
		return code, o.ID, err
	}
	var paid []string
	for _, key := range []string{"deploy-test-1", "deploy-test-2"} {
		code, id, err := order(key, "4242424242424242", 5000)
		if err != nil || code != http.StatusCreated {
			return fmt.Errorf("order %s: %d %v", key, code, err)
		}
		paid = append(paid, id)
		if s.paidTrace == "" {
			s.paidTrace = c.lastTrace
		}
	}
	if code, _, err := order("deploy-test-declined", "4000000000009995", 5000); err != nil || code != http.StatusPaymentRequired {
		return fmt.Errorf("declined order: %d %v, want 402", code, err)
	}
	if code, _, err := order("deploy-test-wrong-amount", "4242424242424242", 4999); err != nil || code != http.StatusBadRequest {
		return fmt.Errorf("order with a wrong amount: %d %v, want 400", code, err)
	}

	deadline := time.Now().Add(20 * time.Second)
	for _, id := range paid {
		for {
			code, body, err := c.do("GET", "/order/"+id, bearer, "", "")
			if err != nil {
				return err
			}
			var o struct{ Status string }
			_ = json.Unmarshal(body, &o)
			if code == http.StatusOK && o.Status == "DeliveryStarted" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("order %s did not reach DeliveryStarted: %d %s", id, code, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// client calls kitshop's HTTP API.
type client struct {
	base string
	http *http.Client
	// lastTrace is the X-Trace-Id of the last response.
	lastTrace string
}

func (c *client) do(method, path, auth, idempotencyKey, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	c.lastTrace = resp.Header.Get(telemetry.TraceIDHeader)
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// metricsEndpoints are every /metrics of the running system, by a name for
// messages.
func (s *system) metricsEndpoints() map[string]string {
	eps := map[string]string{"shop edge": "http://" + s.shopEdge + "/metrics", "cmd/edge": "http://" + s.edge + "/metrics"}
	for name, addr := range s.serviceHTTP {
		eps[name] = "http://" + addr + "/metrics"
	}
	return eps
}
