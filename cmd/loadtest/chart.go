package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// The chart is one self-contained HTML file: inline SVG drawn here, no script, no style sheet or font from
// elsewhere, so it opens offline and can be attached to a report as it is. (Chart libraries such as
// go-echarts load their JavaScript from a CDN.)

// Geometry of a chart, in SVG user units.
const (
	chartWidth  = 960
	chartHeight = 320
	padLeft     = 70
	padRight    = 150 // room for the legend
	padTop      = 30
	padBottom   = 40
)

// series is one line of a chart: a value per second; NaN leaves a gap.
type series struct {
	name, color string
	values      []float64
}

// writeChart writes the HTML chart of a run: throughput (orders and errors per second) and latency (p50,
// p99 and max per second, on a log scale) over time, and, when the timeline has the CPU of the processes
// under test (-cpu-pids), their CPU per successful order each second.
func writeChart(w io.Writer, title, subtitle string, timeline []Second) error {
	n := len(timeline)
	okRate := make([]float64, n)
	errRate := make([]float64, n)
	p50 := make([]float64, n)
	p99 := make([]float64, n)
	maxLat := make([]float64, n)
	cpuPerOrder := make([]float64, n)
	watched := false
	for i, s := range timeline {
		watched = watched || s.CPUCores > 0
		cpuPerOrder[i] = math.NaN()
		if s.Orders > 0 {
			cpuPerOrder[i] = 1000 * s.CPUCores / float64(s.Orders)
		}
		okRate[i], errRate[i] = float64(s.Orders), float64(s.Errors)
		p50[i], p99[i], maxLat[i] = math.NaN(), math.NaN(), math.NaN()
		if s.Orders > 0 {
			p50[i], p99[i], maxLat[i] = s.P50, s.P99, s.Max
		}
	}
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	fmt.Fprintf(&b, "<title>%s</title>\n", html.EscapeString(title))
	b.WriteString("<style>body{font-family:sans-serif;margin:2em;color:#222}svg{display:block;margin:1em 0}" +
		"text{font-size:12px;fill:#333}.axis{stroke:#888}.grid{stroke:#e4e4e4}</style>\n</head>\n<body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p>%s</p>\n", html.EscapeString(title), html.EscapeString(subtitle))
	lineChart(&b, "Throughput", "per second", false, []series{
		{name: "orders/s", color: "#1f77b4", values: okRate},
		{name: "errors/s", color: "#d62728", values: errRate},
	})
	lineChart(&b, "Latency", "ms, log scale", true, []series{
		{name: "p50", color: "#2ca02c", values: p50},
		{name: "p99", color: "#ff7f0e", values: p99},
		{name: "max", color: "#9467bd", values: maxLat},
	})
	if watched {
		lineChart(&b, "CPU of the processes under test", "ms per successful order", false, []series{
			{name: "CPU ms/order", color: "#8c564b", values: cpuPerOrder},
		})
	}
	b.WriteString("<p>Each point is one second of the run, placed at the second's end; the last second may be partial.</p>\n</body>\n</html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// lineChart draws one chart as an inline SVG element.
func lineChart(b *strings.Builder, title, unit string, logY bool, ss []series) {
	n := 0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		n = max(n, len(s.values))
		for _, v := range s.values {
			if math.IsNaN(v) || (logY && v <= 0) {
				continue
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) { // no data: an empty frame
		lo, hi = 1, 10
		if !logY {
			lo = 0
		}
	}
	var ticks []float64
	var ymin, ymax float64
	if logY {
		ymin = math.Pow(10, math.Floor(math.Log10(lo)))
		ymax = math.Pow(10, math.Ceil(math.Log10(hi)))
		if ymax <= ymin {
			ymax = ymin * 10
		}
		for t := ymin; t <= ymax*1.0001; t *= 10 {
			ticks = append(ticks, t)
		}
	} else {
		ymin = 0
		ymax, ticks = niceTicks(hi)
	}
	plotW := float64(chartWidth - padLeft - padRight)
	plotH := float64(chartHeight - padTop - padBottom)
	x := func(i int) float64 { return padLeft + plotW*float64(i+1)/float64(max(n, 1)) }
	y := func(v float64) float64 {
		f := (v - ymin) / (ymax - ymin)
		if logY {
			f = (math.Log10(v) - math.Log10(ymin)) / (math.Log10(ymax) - math.Log10(ymin))
		}
		return padTop + plotH*(1-f)
	}

	fmt.Fprintf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">\n",
		chartWidth, chartHeight, chartWidth, chartHeight, html.EscapeString(title))
	fmt.Fprintf(b, "<text x=\"%d\" y=\"18\" style=\"font-size:15px;font-weight:bold\">%s <tspan style=\"font-weight:normal\">(%s)</tspan></text>\n",
		padLeft, html.EscapeString(title), html.EscapeString(unit))
	for _, t := range ticks {
		fmt.Fprintf(b, "<line class=\"grid\" x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", padLeft, padLeft+plotW, y(t), y(t))
		fmt.Fprintf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", padLeft-6, y(t)+4, formatTick(t))
	}
	step := niceStep(float64(n) / 10)
	for s := step; s <= float64(n); s += step {
		xi := padLeft + plotW*s/float64(n)
		fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%ss</text>", xi, chartHeight-padBottom+16, formatTick(s))
	}
	fmt.Fprintf(b, "\n<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>", padLeft, padLeft, padTop, chartHeight-padBottom)
	fmt.Fprintf(b, "<line class=\"axis\" x1=\"%d\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>\n", padLeft, padLeft+plotW, chartHeight-padBottom, chartHeight-padBottom)
	fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">seconds since the start</text>\n", padLeft+plotW/2, chartHeight-6)

	for k, s := range ss {
		var d strings.Builder
		pen := false
		for i, v := range s.values {
			if math.IsNaN(v) || (logY && v <= 0) {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x(i), y(v))
			pen = true
		}
		if d.Len() > 0 {
			fmt.Fprintf(b, "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"><title>%s</title></path>\n",
				strings.TrimSpace(d.String()), s.color, html.EscapeString(s.name))
		}
		ly := padTop + 10 + 20*k
		fmt.Fprintf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>", chartWidth-padRight+15, chartWidth-padRight+35, ly, ly, s.color)
		fmt.Fprintf(b, "<text x=\"%d\" y=\"%d\">%s</text>\n", chartWidth-padRight+40, ly+4, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
}

// niceTicks returns a round upper bound at or above hi and the ticks from 0 to it.
func niceTicks(hi float64) (top float64, ticks []float64) {
	if hi <= 0 {
		hi = 1
	}
	step := niceStep(hi / 5)
	top = math.Ceil(hi/step) * step
	for t := 0.0; t <= top*1.0001; t += step {
		ticks = append(ticks, t)
	}
	return top, ticks
}

// niceStep returns the smallest of 1, 2 or 5 times a power of ten at or above v (at least 1).
func niceStep(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// formatTick formats a tick value without needless digits.
func formatTick(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
