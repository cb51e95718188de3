package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/kitshop/kitshop/internal/audit"
)

// Summary is the outcome of a run: what was run, what it measured, the audit, and whether it was clean.
// -json writes it as it is.
type Summary struct {
	RunID       string   `json:"runId"`
	Target      string   `json:"target"`
	Mode        string   `json:"mode"`
	Loop        string   `json:"loop"` // "closed" or "open"
	Workers     int      `json:"workers,omitempty"`
	Rate        float64  `json:"rate,omitempty"`
	MaxInflight int      `json:"maxInflight,omitempty"`
	Users       int      `json:"users"`
	Products    []string `json:"products"`
	Seed        uint64   `json:"seed"`
	// Mix is -mix, each journey's share; empty without it (orders only).
	Mix string `json:"mix,omitempty"`
	// AuditOnly is set when no order was placed (-audit-only): only Audit means anything.
	AuditOnly bool `json:"auditOnly,omitempty"`
	Stats
	// SpansReceived is what the target exported to -otlp-sink by the end of the run, the set-up's included.
	SpansReceived int64 `json:"spansReceived,omitempty"`
	// Audit is the final audit, nil when none was asked for (-audit-mongo-uri) or it could not run
	// (AuditError says why).
	Audit      *AuditResult `json:"audit,omitempty"`
	AuditError string       `json:"auditError,omitempty"`
	// Clean is true when something was done, every order and every journey of -mix came out as expected,
	// and the audit, if any, ran and found nothing.
	Clean bool `json:"clean"`
}

// clean decides Summary.Clean.
func (s *Summary) clean(auditWanted bool) bool {
	if s.AuditOnly {
		return s.Audit != nil && s.Audit.Report.Clean()
	}
	ok, failed := s.Orders, s.Errors
	if s.Journeys != nil { // the order journey's among them
		ok, failed = 0, 0
		for _, j := range s.Journeys {
			ok, failed = ok+j.OK, failed+j.Failed
		}
	}
	if failed > 0 || ok == 0 {
		return false
	}
	if !auditWanted {
		return true
	}
	return s.AuditError == "" && s.Audit != nil && s.Audit.Report.Clean()
}

// describe is the one-line description of the run's set-up.
func (s *Summary) describe() string {
	unit, mix := "orders", ""
	if s.Mix != "" {
		unit, mix = "steps", ", mix "+s.Mix
	}
	loop := fmt.Sprintf("closed loop, %d workers", s.Workers)
	if s.Loop == "open" {
		loop = fmt.Sprintf("open loop, %g %s/s (at most %d in flight)", s.Rate, unit, s.MaxInflight)
	}
	return fmt.Sprintf("run %s: %s over %s, %s, %d users, %d products, seed %d%s",
		s.RunID, s.Target, s.Mode, loop, s.Users, len(s.Products), s.Seed, mix)
}

func writeJSON(w io.Writer, s *Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// writeText writes the summary for people; at most maxPrint violations are listed.
func writeText(w io.Writer, s *Summary, maxPrint int) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-11s %s\n", label, fmt.Sprintf(format, args...))
	}
	if s.AuditOnly {
		writeReport(&b, line, s.Audit.Report, maxPrint)
		return writeResult(w, &b, line, s.Clean)
	}
	line("kitshop", "load test %s", s.describe())
	alone, overOrders := "", ""
	if s.Journeys != nil {
		alone = " (the order journey alone, as are latency, steadiness, errors and audit)"
		overOrders = " (every journey's, over the orders alone)"
	}
	line("orders", "%d placed, %d errors in %.2f s: %.1f orders/s%s", s.Orders, s.Errors, s.Seconds, s.OrdersPerSecond, alone)
	from := "from the start of each request"
	if s.Loop == "open" {
		from = "from each order's scheduled time"
	}
	line("latency", "%s (%s)", formatLatency(s.Latency), from)
	if s.Loop == "open" {
		line("service", "%s (from the actual start)", formatLatency(s.ServiceTime))
		line("late", "%d orders started more than 10 ms behind their schedule", s.Late)
	}
	label := "journeys"
	for _, name := range journeyNames {
		j, ok := s.Journeys[name]
		if !ok {
			continue
		}
		errs := ""
		for _, c := range byCount(j.ErrorsByClass) {
			errs += fmt.Sprintf("; %d %s", j.ErrorsByClass[c], c)
		}
		line(label, "%-8s %7d ok %6d failed %8.1f/s  %s%s", name, j.OK, j.Failed, j.PerSecond, formatLatency(j.Latency), errs)
		label = ""
	}
	if st := s.Steadiness; st != nil {
		cpu := ""
		if s.CPU != nil {
			cpu = fmt.Sprintf(" (CPU %.2f → %.2f ms per order)", st.FirstCPUMsPerOrder, st.LastCPUMsPerOrder)
		}
		line("steadiness", "first %d s %.1f orders/s, last %d s %.1f orders/s: %.2f×%s",
			steadyWindow, st.FirstOrdersPerSecond, steadyWindow, st.LastOrdersPerSecond, st.Ratio, cpu)
	}
	if c := s.CPU; c != nil {
		for i, p := range c.Processes {
			label := ""
			if i == 0 {
				label = "cpu"
			}
			gone := ""
			if p.Gone {
				gone = " (gone before the end: up to its last reading)"
			}
			rss := "not read"
			if p.PeakRSSBytes > 0 {
				rss = fmt.Sprintf("%.1f MB", float64(p.PeakRSSBytes)/1e6)
			}
			line(label, "%-14s pid %-7d %6.2f ms per order, %.2f cores, %4.1f %%, peak RSS %s%s",
				p.Name, p.PID, p.MsPerOrder, p.Cores, 100*p.Share, rss, gone)
		}
		line("", "together %.2f ms per order; this load tester %.2f ms per order", c.MsPerOrder, c.LoadTesterMsPerOrder)
		if s.Journeys != nil {
			line("", "together %.2f ms per request of any journey (per order: every journey's CPU over the orders alone)", c.MsPerRequest)
		}
	}
	if s.SpansReceived > 0 {
		line("traces", "%d spans received by -otlp-sink (set-up included): %.1f per order%s", s.SpansReceived, float64(s.SpansReceived)/float64(max(s.Orders, 1)), overOrders)
	}
	if len(s.ErrorsByClass) == 0 {
		line("errors", "none")
	} else {
		for i, c := range byCount(s.ErrorsByClass) {
			label := ""
			if i == 0 {
				label = "errors"
			}
			line(label, "%8d  %s", s.ErrorsByClass[c], c)
		}
	}
	switch {
	case s.AuditError != "":
		line("audit", "FAILED: %s", s.AuditError)
	case s.Audit != nil:
		a := s.Audit
		if a.Undelivered == 0 {
			line("audit", "%d orders awaited: all DeliveryStarted after %.1f s", a.Awaited, a.WaitedSeconds)
		} else {
			line("audit", "%d orders awaited: %d not DeliveryStarted after %.1f s", a.Awaited, a.Undelivered, a.WaitedSeconds)
		}
		if sc := a.StoreCommands; sc != nil {
			line("store", "%.1f data commands per order (%.1f writes)%s: %s", sc.DataPerOrder, sc.WritesPerOrder, overOrders, formatCommands(sc.ByCommand))
		}
		writeReport(&b, line, a.Report, maxPrint)
	default:
		line("audit", "none (no -audit-mongo-uri)")
	}
	return writeResult(w, &b, line, s.Clean)
}

// byCount returns the error classes of counts, the most frequent first.
func byCount(counts map[string]int64) []string {
	classes := slices.Collect(maps.Keys(counts))
	slices.SortFunc(classes, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	return classes
}

// writeResult ends the text summary with the verdict and writes it.
func writeResult(w io.Writer, b *strings.Builder, line func(label, format string, args ...any), clean bool) error {
	if clean {
		line("result", "CLEAN")
	} else {
		line("result", "NOT CLEAN")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeReport(b *strings.Builder, line func(label, format string, args ...any), r audit.Report, maxPrint int) {
	statuses := make([]string, 0, len(r.OrdersByStatus))
	for st, n := range r.OrdersByStatus {
		statuses = append(statuses, fmt.Sprintf("%s %d", st, n))
	}
	slices.Sort(statuses)
	read := fmt.Sprintf("%d orders (%s), %d payments, %d products, %d reservations, %d notifications, %d users",
		r.Orders, strings.Join(statuses, ", "), r.Payments, r.Products, r.Reservations, r.Notifications, r.Users)
	stock := ""
	if !r.StockChecked {
		stock = "; stock conservation not checked"
	}
	if r.Clean() {
		line("invariants", "all hold over %s%s", read, stock)
		return
	}
	counts := r.Count()
	var parts []string
	for _, inv := range audit.Invariants() {
		if n := counts[inv]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", inv, n))
		}
	}
	line("invariants", "%d VIOLATIONS (%s) over %s%s", len(r.Violations), strings.Join(parts, ", "), read, stock)
	for i, v := range r.Violations {
		if i == maxPrint {
			line("", "... and %d more (-json lists them all)", len(r.Violations)-maxPrint)
			break
		}
		line("", "%s", v)
	}
}

// formatCommands lists the data commands that were served, with their counts.
func formatCommands(byCommand map[string]int64) string {
	var parts []string
	for _, k := range dataCommands {
		if n := byCommand[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}

func formatLatency(l Latency) string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s",
		ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), ms(l.Mean))
}

// ms formats milliseconds with three significant digits or more.
func ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}
