package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestChartIsSelfContained(t *testing.T) {
	timeline := []Second{
		{At: 0, Orders: 300, Errors: 0, P50: 20, P99: 80, Max: 120},
		{At: 1, Orders: 0, Errors: 5}, // no successful order: a gap in the latency lines
		{At: 2, Orders: 350, Errors: 1, P50: 18, P99: 70, Max: 95},
		{At: 3, Orders: 340, Errors: 0, P50: 19, P99: 75, Max: 101},
	}
	var b strings.Builder
	if err := writeChart(&b, `run <x> & "y"`, "closed loop, 64 workers", timeline); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.HasSuffix(out, "</html>\n") {
		t.Error("not a whole HTML document")
	}
	// Offline: nothing to load from elsewhere. The only URL is the SVG namespace, which is a name, not a fetch.
	for _, banned := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(strings.ToLower(out), banned) {
			t.Errorf("the chart contains %q", banned)
		}
	}
	if urls := regexp.MustCompile(`https?://[^"\s]+`).FindAllString(out, -1); len(urls) != 2 || urls[0] != "http://www.w3.org/2000/svg" || urls[1] != urls[0] {
		t.Errorf("URLs in the chart: %q, want the SVG namespace of the two charts only", urls)
	}
	if strings.Contains(out, "<x>") || !strings.Contains(out, "run &lt;x&gt; &amp; &#34;y&#34;") {
		t.Error("the title is not escaped")
	}
	if n := strings.Count(out, "<svg "); n != 2 {
		t.Errorf("%d SVG charts, want 2 (throughput, latency)", n)
	}
	paths := regexp.MustCompile(`<path d="([^"]*)"[^>]*><title>([^<]*)</title>`).FindAllStringSubmatch(out, -1)
	points := map[string]string{}
	for _, p := range paths {
		points[p[2]] = p[1]
	}
	// Throughput lines have a point every second; latency lines skip the second without successes, so
	// they are drawn in two pieces (two M commands).
	for name, want := range map[string][2]int{
		"orders/s": {4, 1}, "errors/s": {4, 1}, "p50": {3, 2}, "p99": {3, 2}, "max": {3, 2},
	} {
		d, ok := points[name]
		if !ok {
			t.Errorf("no line for %s", name)
			continue
		}
		if got := strings.Count(d, "M") + strings.Count(d, "L"); got != want[0] {
			t.Errorf("%s: %d points, want %d", name, got, want[0])
		}
		if got := strings.Count(d, "M"); got != want[1] {
			t.Errorf("%s: %d pieces, want %d", name, got, want[1])
		}
	}
}

// TestChartShowsTheCPUPerOrder: with -cpu-pids the chart has a third panel, the CPU per successful order of
// each second (cores used over orders), with a gap where no order succeeded.
func TestChartShowsTheCPUPerOrder(t *testing.T) {
	timeline := []Second{
		{At: 0, Orders: 200, P50: 20, P99: 80, Max: 120, CPUCores: 1.6},
		{At: 1, Orders: 0, Errors: 3, CPUCores: 1.2},
		{At: 2, Orders: 160, P50: 25, P99: 90, Max: 130, CPUCores: 1.6},
	}
	var b strings.Builder
	if err := writeChart(&b, "run", "closed loop", timeline); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, "<svg "); n != 3 {
		t.Fatalf("%d SVG charts, want 3 (throughput, latency, CPU)", n)
	}
	m := regexp.MustCompile(`<path d="([^"]*)"[^>]*><title>CPU ms/order</title>`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no CPU per order line")
	}
	if strings.Count(m[1], "M") != 2 || strings.Count(m[1], "L") != 0 {
		t.Errorf("CPU line %q: want two single points around the second without orders", m[1])
	}
	// 8 ms an order (1.6 cores, 200 orders) and 10 ms (1.6 cores, 160): ticks 0, 2, ... 10.
	cpuChart := out[strings.LastIndex(out, "<svg "):]
	for _, tick := range []string{">8</text>", ">10</text>"} {
		if !strings.Contains(cpuChart, tick) {
			t.Errorf("the CPU chart has no tick %s: its scale is not milliseconds per order", tick)
		}
	}
	if strings.Contains(cpuChart, ">12</text>") {
		t.Error("the CPU chart's scale goes past 10 ms")
	}
}

func TestChartOfNothing(t *testing.T) {
	var b strings.Builder
	if err := writeChart(&b, "empty", "", nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "NaN") || strings.Contains(b.String(), "Inf") {
		t.Error("an empty chart has NaN or Inf coordinates")
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tt := range []struct {
		hi, top float64
		ticks   int
	}{
		{437, 500, 6}, {1, 1, 2}, {0, 1, 2}, {12, 15, 4}, {0.3, 1, 2},
	} {
		top, ticks := niceTicks(tt.hi)
		if top != tt.top || len(ticks) != tt.ticks || ticks[0] != 0 || ticks[len(ticks)-1] != top {
			t.Errorf("niceTicks(%g) = %g, %v; want top %g with %d ticks from 0", tt.hi, top, ticks, tt.top, tt.ticks)
		}
	}
}
