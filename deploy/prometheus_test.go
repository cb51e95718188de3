package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/serve/servetest"
)

// scrapeJobs are the jobs deploy/prometheus/prometheus.yml must have: one per
// kitshop process, named after it.
var scrapeJobs = append(config.ServiceNames(), "edge")

// alertNames are the alerts the issue asks for.
var alertNames = []string{"KitshopHighErrorRatio", "KitshopCircuitBreakerOpen", "KitshopOrderLatencyHigh",
	"KitshopOrdersStuckInPaymentProcessed", "KitshopTargetDown"}

func runTool(t *testing.T, dir, tool string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(tool), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolAcceptsConfigAndRules(t *testing.T) {
	t.Parallel()
	promtool := need(t, "promtool", "it checks the Prometheus config and alert rules")
	runTool(t, prometheusDir, promtool, "check", "config", "prometheus.yml")
	runTool(t, prometheusDir, promtool, "check", "rules", "alerts.yml")
	// Each alert fires on made-up series when it should, and not otherwise.
	runTool(t, prometheusDir, promtool, "test", "rules", "alerts_test.yml")
}

func TestAlertsAreTheOnesAsked(t *testing.T) {
	t.Parallel()
	var got []string
	for _, g := range readAlerts(t).Groups {
		for _, r := range g.Rules {
			got = append(got, r.Alert)
			if r.Annotations["reason"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s lacks a summary or a reason", r.Alert)
			}
			if r.Labels["severity"] == "" || r.For == "" {
				t.Errorf("alert %s has no severity or no `for`", r.Alert)
			}
		}
	}
	if !slices.Equal(got, alertNames) {
		t.Errorf("alerts %v, want %v", got, alertNames)
	}
	raw, err := os.ReadFile(filepath.Join(prometheusDir, "alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range alertNames {
		if !strings.Contains(string(raw), "alertname: "+name) {
			t.Errorf("alerts_test.yml does not test %s", name)
		}
	}
}

// TestMetricsPassPromtoolLint runs promtool check metrics on every /metrics
// of a running kitshop.
func TestMetricsPassPromtoolLint(t *testing.T) {
	t.Parallel()
	promtool := need(t, "promtool", "it lints the /metrics of a running kitshop")
	s := runningSystem(t)
	for where, u := range s.metricsEndpoints() {
		body := get(t, u)
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics on %s (%s): %v\n%s", where, u, err, out)
		}
	}
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return body
}

// scrapeConfig is the part of prometheus.yml the tests rewrite; the rest is
// kept as it is.
type scrapeConfig = map[string]any

// localConfig returns deploy/prometheus/prometheus.yml with each job's
// targets replaced by the address of that process in the running system, the
// rule files made absolute, and the intervals shortened for a test.
func localConfig(t *testing.T, s *system) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(prometheusDir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	global, _ := cfg["global"].(map[string]any)
	if global == nil {
		global = map[string]any{}
	}
	global["scrape_interval"], global["scrape_timeout"], global["evaluation_interval"] = "1s", "1s", "1s"
	cfg["global"] = global

	rules, _ := cfg["rule_files"].([]any)
	if len(rules) == 0 {
		t.Fatal("prometheus.yml loads no rule file")
	}
	for i, r := range rules {
		abs, err := filepath.Abs(filepath.Join(prometheusDir, r.(string)))
		if err != nil {
			t.Fatal(err)
		}
		rules[i] = abs
	}

	addr := map[string]string{"edge": s.edge}
	for name, a := range s.serviceHTTP {
		addr[name] = a
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	var names []string
	for _, j := range jobs {
		job := j.(scrapeConfig)
		name, _ := job["job_name"].(string)
		names = append(names, name)
		statics, _ := job["static_configs"].([]any)
		if addr[name] == "" || len(statics) != 1 {
			t.Fatalf("job %q: want one of %v with one static_configs entry", name, scrapeJobs)
		}
		statics[0].(map[string]any)["targets"] = []string{addr[name]}
	}
	sort.Strings(names)
	want := slices.Sorted(slices.Values(scrapeJobs))
	if !slices.Equal(names, want) {
		t.Fatalf("prometheus.yml scrapes jobs %v, want %v", names, want)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// prometheusAPI queries a Prometheus HTTP API.
type prometheusAPI struct {
	base string
	http *http.Client
}

// apiResponse is the envelope of every Prometheus API answer.
type apiResponse struct {
	Status    string
	Error     string
	ErrorType string
	Data      json.RawMessage
}

func (p prometheusAPI) get(path string, query url.Values) (json.RawMessage, error) {
	resp, err := p.http.Get(p.base + path + "?" + query.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r apiResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %d, %v", path, resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s %v: %s: %s", path, query, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

// sample is one series of an instant query's answer.
type sample struct {
	Metric map[string]string
	Value  [2]any
}

func (p prometheusAPI) query(expr string) ([]sample, error) {
	data, err := p.get("/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	var v struct {
		ResultType string
		Result     json.RawMessage
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	if v.ResultType != "vector" {
		return nil, fmt.Errorf("%s: a %s, want an instant vector", expr, v.ResultType)
	}
	var out []sample
	return out, json.Unmarshal(v.Result, &out)
}

// eventually retries check until it returns nil or timeout passes, and
// returns its last error.
func eventually(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestPrometheusScrapesKitshop runs a real Prometheus with the repository's
// scrape config and alert rules against a running kitshop (cmd/shop's five
// services and cmd/edge, some orders placed) and asks its HTTP API what it
// sees.
func TestPrometheusScrapesKitshop(t *testing.T) {
	t.Parallel()
	bin := need(t, "prometheus", "the test scrapes a running kitshop with a real Prometheus")
	s := runningSystem(t)

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, localConfig(t, s), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen, "--log.level=warn")
	var logs servetest.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})
	api := prometheusAPI{base: "http://" + listen, http: &http.Client{Timeout: 5 * time.Second}}

	if err := eventually(30*time.Second, func() error {
		resp, err := api.http.Get(api.base + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %d", resp.StatusCode)
		}
		return nil
	}); err != nil {
		t.Fatalf("prometheus is not ready: %v", err)
	}

	t.Run("every target is up", func(t *testing.T) {
		err := eventually(20*time.Second, func() error {
			up, err := api.query("up")
			if err != nil {
				return err
			}
			var jobs []string
			for _, u := range up {
				if u.Value[1] != "1" {
					return fmt.Errorf("up%v = %v", u.Metric, u.Value[1])
				}
				jobs = append(jobs, u.Metric["job"])
			}
			sort.Strings(jobs)
			if want := slices.Sorted(slices.Values(scrapeJobs)); !slices.Equal(jobs, want) {
				return fmt.Errorf("up for jobs %v, want %v", jobs, want)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})

	// Each series must be there with its own labels (service, not a
	// Prometheus-renamed exported_service) and the target's job and instance.
	for _, q := range []struct{ what, expr, value string }{
		{"server requests (service API)", `kitshop_order_requests_total{service="order",method="CreateOrder",outcome="ok",job="order"}`, ""},
		{"server requests (HTTP, behind cmd/edge)", `kitshop_http_requests_total{service="order",handler="POST /order",method="POST",code="201",job="order"}`, "2"},
		{"server requests (HTTP, refused)", `kitshop_http_requests_total{service="order",handler="POST /order",code="400",job="order"}`, "1"},
		{"server requests (cmd/edge)", `kitshop_http_requests_total{service="edge",handler="/order",method="POST",code="201",job="edge"}`, "2"},
		{"server requests (gRPC)", `grpc_server_handled_total{service="payment",grpc_service="kitshop.payment.v1.PaymentService",grpc_method="MakePayment",grpc_code="OK",job="payment"}`, ""},
		{"server latency", `kitshop_http_request_duration_seconds_count{service="order",handler="POST /order",job="order"}`, "4"},
		{"client requests", `kitshop_client_requests_total{service="order",dependency="payment",method="MakePayment",outcome="ok",job="order"}`, ""},
		{"client requests (order → notification)", `kitshop_client_requests_total{service="order",dependency="notification",method="SendPaymentNotification",outcome="ok",job="order"}`, ""},
		{"client latency", `kitshop_client_request_duration_seconds_count{service="order",dependency="product",method="ReserveStock",job="order"}`, ""},
		{"breaker state", `kitshop_circuit_breaker_state{service="order",dependency="payment",method="MakePayment",job="order"}`, "0"},
		{"orders paid", `kitshop_orders_total{service="order",status="PaymentProcessed",job="order"}`, "2"},
		{"orders declined", `kitshop_orders_total{service="order",status="PaymentFailed",job="order"}`, "1"},
		{"orders delivering", `kitshop_orders_total{service="order",status="DeliveryStarted",job="order"}`, "2"},
	} {
		t.Run(q.what, func(t *testing.T) {
			err := eventually(10*time.Second, func() error {
				got, err := api.query(q.expr)
				if err != nil {
					return err
				}
				if len(got) != 1 {
					return fmt.Errorf("%d series, want 1: %v", len(got), got)
				}
				if got[0].Metric["instance"] == "" || got[0].Metric["exported_service"] != "" {
					return fmt.Errorf("labels %v", got[0].Metric)
				}
				if q.value != "" && got[0].Value[1] != q.value {
					return fmt.Errorf("value %v, want %s", got[0].Value[1], q.value)
				}
				return nil
			})
			if err != nil {
				t.Errorf("%s: %v", q.expr, err)
			}
		})
	}

	t.Run("alert rules load and evaluate", func(t *testing.T) {
		err := eventually(15*time.Second, func() error {
			data, err := api.get("/api/v1/rules", nil)
			if err != nil {
				return err
			}
			var rules struct {
				Groups []struct {
					Rules []struct {
						Name, Health, LastError string
						LastEvaluation          time.Time
					}
				}
			}
			if err := json.Unmarshal(data, &rules); err != nil {
				return err
			}
			var names []string
			for _, g := range rules.Groups {
				for _, r := range g.Rules {
					names = append(names, r.Name)
					if r.Health != "ok" {
						return fmt.Errorf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
					}
				}
			}
			if !slices.Equal(names, alertNames) {
				return fmt.Errorf("rules %v, want %v", names, alertNames)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})

	t.Run("dashboard queries answer", func(t *testing.T) {
		for _, q := range dashboardExprs(t) {
			err := eventually(15*time.Second, func() error {
				got, err := api.query(q.expr)
				if err != nil {
					return err
				}
				if len(got) == 0 {
					return fmt.Errorf("no data")
				}
				return nil
			})
			if err != nil {
				t.Errorf("%s: %v\n  %s", q.where, err, q.expr)
			}
		}
	})
}
