package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.opentelemetry.io/otel/trace"
	"sigs.k8s.io/yaml"

	"github.com/kitshop/kitshop/internal/callmetrics"
)

// The PromQL of the alerts and of the Grafana dashboard is parsed with
// Prometheus's own parser (github.com/prometheus/prometheus/promql/parser) at
// the Prometheus 3.5 LTS module, v0.305.0: later ones upgrade modules kitshop
// builds with (OpenTelemetry, grpc-gateway, and from v0.316 prometheus/common
// and x/net); this one only moves golang/snappy to v1.0.0 and go-difflib to a
// later commit. The real
// Prometheus run by prometheus_test.go then evaluates the same expressions.

var (
	prometheusDir = filepath.Join(repoRoot, "deploy", "prometheus")
	alertsFile    = filepath.Join(prometheusDir, "alerts.yml")
	dashboardFile = filepath.Join(repoRoot, "deploy", "grafana", "dashboards", "kitshop.json")
	datasources   = filepath.Join(repoRoot, "deploy", "grafana", "provisioning", "datasources")
)

// grafanaVariables stand in for the variables Grafana fills in an expression.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "1h")

// promQL is one expression, with where it comes from.
type promQL struct{ where, expr string }

// alertRules reads alerts.yml.
type alertRules struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert       string
			Expr        string
			For         string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
}

func readAlerts(t *testing.T) alertRules {
	t.Helper()
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	if err := yaml.UnmarshalStrict(raw, &rules); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	return rules
}

func alertExprs(t *testing.T) []promQL {
	t.Helper()
	var out []promQL
	for _, g := range readAlerts(t).Groups {
		for _, r := range g.Rules {
			out = append(out, promQL{where: "alert " + r.Alert, expr: r.Expr})
		}
	}
	return out
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID    string
	Panels []panel
}

type panel struct {
	Type       string
	Title      string
	Datasource *datasourceRef
	Targets    []struct {
		Expr       string
		RefID      string `json:"refId"`
		Datasource *datasourceRef
		Exemplar   bool // Grafana also asks for the series' exemplars
	}
	Panels []panel // a collapsed row's panels
}

type datasourceRef struct{ Type, UID string }

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// dashboardExprs returns every query of the dashboard, Grafana's variables
// replaced.
func dashboardExprs(t *testing.T) []promQL {
	t.Helper()
	var out []promQL
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, target := range p.Targets {
				out = append(out, promQL{where: fmt.Sprintf("panel %q query %s", p.Title, target.RefID),
					expr: grafanaVariables.Replace(target.Expr)})
			}
		}
	}
	walk(readDashboard(t).Panels)
	return out
}

// datasource is the part of a provisioned Grafana data source the tests read.
type datasource struct {
	Name, UID, Type, URL string
	JSONData             struct {
		ExemplarTraceIDDestinations []struct {
			Name          string
			DatasourceUID string `json:"datasourceUid"`
		} `json:"exemplarTraceIdDestinations"`
	} `json:"jsonData"`
}

// readDatasources returns the data sources of every provisioning file, by
// uid.
func readDatasources(t *testing.T) map[string]datasource {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(datasources, "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no data source files in %s: %v", datasources, err)
	}
	out := map[string]datasource{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var provisioned struct{ Datasources []datasource }
		if err := yaml.Unmarshal(raw, &provisioned); err != nil || len(provisioned.Datasources) == 0 {
			t.Fatalf("%s: %v, want a data source", f, err)
		}
		for _, ds := range provisioned.Datasources {
			if _, dup := out[ds.UID]; dup || ds.UID == "" {
				t.Errorf("%s: data source %s has uid %q, empty or another's", f, ds.Name, ds.UID)
			}
			out[ds.UID] = ds
		}
	}
	return out
}

// prometheusDatasource returns the one provisioned Prometheus data source.
func prometheusDatasource(t *testing.T, all map[string]datasource) datasource {
	t.Helper()
	var found []datasource
	for _, ds := range all {
		if ds.Type == "prometheus" {
			found = append(found, ds)
		}
	}
	if len(found) != 1 {
		t.Fatalf("provisioned Prometheus data sources %v, want one", found)
	}
	return found[0]
}

func TestDashboardShowsWhatTheIssueAsks(t *testing.T) {
	t.Parallel()
	d := readDashboard(t)
	ds := prometheusDatasource(t, readDatasources(t))
	if ds.URL != "http://prometheus:9090" {
		t.Errorf("provisioned data source %+v, want the compose Prometheus", ds)
	}

	var titles []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			titles = append(titles, p.Title)
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			if p.Datasource == nil || p.Datasource.UID != ds.UID {
				t.Errorf("panel %q uses data source %+v, want the provisioned uid %q", p.Title, p.Datasource, ds.UID)
			}
			for _, target := range p.Targets {
				if target.Datasource != nil && target.Datasource.UID != ds.UID {
					t.Errorf("panel %q query %s uses data source %+v", p.Title, target.RefID, target.Datasource)
				}
			}
		}
	}
	walk(d.Panels)

	// What the issue asks the dashboard to show, by the metric each needs.
	exprs := dashboardExprs(t)
	for what, needle := range map[string]string{
		"request rate per service":    `sum by (service) (rate({__name__=~"kitshop_(user|product|order|payment|notification)_requests_total"}`,
		"error ratio per service":     `outcome=~"error|unavailable|deadline_exceeded"`,
		"duration per service":        `_request_duration_seconds_bucket"}`,
		"request rate per dependency": `sum by (service, dependency) (rate(kitshop_client_requests_total`,
		"error ratio per dependency":  `kitshop_client_requests_total{outcome=~"breaker_open`,
		"duration per dependency":     `kitshop_client_request_duration_seconds_bucket`,
		"breaker states":              `kitshop_circuit_breaker_state`,
		"orders by status":            `sum by (status) (rate(kitshop_orders_total`,
		"p50 order latency":           `histogram_quantile(0.5, sum by (le) (rate(kitshop_http_request_duration_seconds_bucket{handler="POST /order"}`,
		"p99 order latency":           `histogram_quantile(0.99, sum by (le) (rate(kitshop_http_request_duration_seconds_bucket{handler="POST /order"}`,
	} {
		if !slices.ContainsFunc(exprs, func(q promQL) bool { return strings.Contains(q.expr, needle) }) {
			t.Errorf("the dashboard has no query for %s (containing %s)", what, needle)
		}
	}
	if len(titles) < 10 {
		t.Errorf("the dashboard has %d panels: %v", len(titles), titles)
	}
}

// isLatency reports whether a dashboard query is a latency quantile of a
// kitshop duration histogram, whose buckets carry the exemplars.
func isLatency(expr string) bool {
	return strings.HasPrefix(expr, "histogram_quantile(") && strings.Contains(expr, "_duration_seconds_bucket")
}

// TestGrafanaLinksExemplarsToTraces checks the path from a latency panel to a
// trace: the latency queries ask for exemplars, the Prometheus data source
// turns the exemplar label kitshop sets into a link to a provisioned Jaeger
// data source, and that one reads the compose Jaeger's query API.
func TestGrafanaLinksExemplarsToTraces(t *testing.T) {
	t.Parallel()
	all := readDatasources(t)
	prom := prometheusDatasource(t, all)

	// The label callmetrics puts on an exemplar of a sampled request.
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	exemplar := callmetrics.Exemplar(trace.ContextWithSpanContext(context.Background(), sc))
	if len(exemplar) != 1 {
		t.Fatalf("callmetrics.Exemplar = %v, want one label", exemplar)
	}
	label := slices.Collect(maps.Keys(exemplar))[0]

	dests := prom.JSONData.ExemplarTraceIDDestinations
	if len(dests) == 0 {
		t.Errorf("data source %s has no exemplarTraceIdDestinations: exemplars link nowhere", prom.UID)
	}
	for _, dest := range dests {
		if dest.Name != label {
			t.Errorf("exemplar destination reads label %q; kitshop's exemplars carry %q", dest.Name, label)
		}
		if to, ok := all[dest.DatasourceUID]; !ok || to.Type != "jaeger" {
			t.Errorf("exemplar destination names data source uid %q, not a provisioned Jaeger one (%v)", dest.DatasourceUID, slices.Sorted(maps.Keys(all)))
		}
	}
	for _, ds := range all {
		if ds.Type != "jaeger" {
			continue
		}
		if u, err := url.Parse(ds.URL); err != nil || u.Scheme != "http" || u.Hostname() != "jaeger" || u.Port() != jaegerUI {
			t.Errorf("Jaeger data source %s reads %q, want the compose Jaeger's query API http://jaeger:%s", ds.UID, ds.URL, jaegerUI)
		}
	}

	var latency int
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, target := range p.Targets {
				if !isLatency(target.Expr) {
					continue
				}
				latency++
				if !target.Exemplar {
					t.Errorf("panel %q query %s is a latency quantile without exemplars", p.Title, target.RefID)
				}
			}
		}
	}
	walk(readDashboard(t).Panels)
	if latency < 6 {
		t.Errorf("the dashboard has %d latency quantile queries, want p50 and p99 of services, dependencies and orders", latency)
	}
}

// metricLabels maps each metric name a running kitshop exports to the label
// names its series carry (the target labels job and instance included).
type metricLabels map[string]map[string]bool

// exportedMetrics reads every /metrics of the running system.
func exportedMetrics(t *testing.T, s *system) metricLabels {
	t.Helper()
	known := metricLabels{"up": {"job": true, "instance": true}}
	add := func(name string, lbls []string) {
		if known[name] == nil {
			known[name] = map[string]bool{"job": true, "instance": true}
		}
		for _, l := range lbls {
			known[name][l] = true
		}
	}
	for where, url := range s.metricsEndpoints() {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		parser := expfmt.NewTextParser(model.LegacyValidation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for name, f := range families {
			for _, m := range f.GetMetric() {
				var lbls []string
				for _, lp := range m.GetLabel() {
					lbls = append(lbls, lp.GetName())
				}
				switch f.GetType().String() {
				case "HISTOGRAM":
					add(name+"_bucket", append(lbls, "le"))
					add(name+"_sum", lbls)
					add(name+"_count", lbls)
				case "SUMMARY":
					add(name, append(lbls, "quantile"))
					add(name+"_sum", lbls)
					add(name+"_count", lbls)
				default:
					add(name, lbls)
				}
			}
		}
	}
	return known
}

// checkNames returns what is wrong with expr: it does not parse, or it names
// a metric, or a label of a metric, that known does not have.
func checkNames(known metricLabels, expr string) []string {
	e, err := parser.ParseExpr(expr)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	// selected returns the metric names a selector can select.
	selected := func(vs *parser.VectorSelector) []string {
		var names []string
		for name := range known {
			ok := true
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && !m.Matches(name) {
					ok = false
				}
			}
			if ok {
				names = append(names, name)
			}
		}
		return names
	}
	// labelsUnder returns the labels of every series the selectors under n
	// can select.
	labelsUnder := func(n parser.Node) map[string]bool {
		out := map[string]bool{}
		parser.Inspect(n, func(c parser.Node, _ []parser.Node) error {
			if vs, ok := c.(*parser.VectorSelector); ok {
				for _, name := range selected(vs) {
					for l := range known[name] {
						out[l] = true
					}
				}
			}
			return nil
		})
		return out
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			names := selected(n)
			if len(names) == 0 {
				problems = append(problems, fmt.Sprintf("%s selects no metric kitshop exports", n))
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name == labels.MetricName {
					continue
				}
				if !slices.ContainsFunc(names, func(name string) bool { return known[name][m.Name] }) {
					problems = append(problems, fmt.Sprintf("%s: no such label %q on %v", n, m.Name, names))
				}
			}
		case *parser.AggregateExpr:
			have := labelsUnder(n.Expr)
			for _, l := range n.Grouping {
				if !have[l] {
					problems = append(problems, fmt.Sprintf("%s: grouping by %q, which its series do not have", n, l))
				}
			}
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				have := labelsUnder(n)
				for _, l := range append(slices.Clone(n.VectorMatching.MatchingLabels), n.VectorMatching.Include...) {
					if !have[l] {
						problems = append(problems, fmt.Sprintf("%s: matching on %q, which its series do not have", n, l))
					}
				}
			}
		}
		return nil
	})
	return problems
}

// TestQueriesNameExportedMetrics parses every PromQL expression of the alerts
// and the dashboard and checks each metric, label matcher and grouping label
// against what a running kitshop exports.
func TestQueriesNameExportedMetrics(t *testing.T) {
	t.Parallel()
	known := exportedMetrics(t, runningSystem(t))
	queries := append(alertExprs(t), dashboardExprs(t)...)
	if len(queries) < 15 {
		t.Fatalf("found only %d expressions in the alerts and the dashboard", len(queries))
	}
	for _, q := range queries {
		for _, p := range checkNames(known, q.expr) {
			t.Errorf("%s: %s\n  in %s", q.where, p, q.expr)
		}
	}
}

// TestCheckNamesFindsMistakes makes sure the check above can fail.
func TestCheckNamesFindsMistakes(t *testing.T) {
	t.Parallel()
	known := metricLabels{
		"kitshop_orders_total":         {"status": true, "service": true, "job": true, "instance": true},
		"kitshop_order_requests_total": {"method": true, "outcome": true, "service": true, "job": true, "instance": true},
	}
	for expr, want := range map[string]string{
		`sum(rate(kitshop_order_total[5m]))`:                                        "selects no metric",
		`kitshop_orders_total{state="Pending"}`:                                     `no such label "state"`,
		`sum by (statuss) (kitshop_orders_total)`:                                   `grouping by "statuss"`,
		`sum(rate({__name__=~"kitshop_(cart|basket)_requests_total"}[5m]))`:         "selects no metric",
		`kitshop_orders_total / on (method) kitshop_order_requests_total`:           "",
		`kitshop_orders_total / on (methd) group_left kitshop_order_requests_total`: `matching on "methd"`,
		`sum by (service) (rate({__name__=~"kitshop_(order|user)_requests_total"}[`: "unexpected",
	} {
		problems := strings.Join(checkNames(known, expr), "; ")
		if want == "" && problems != "" || !strings.Contains(problems, want) {
			t.Errorf("checkNames(%s) = %q, want a problem containing %q", expr, problems, want)
		}
	}
}
