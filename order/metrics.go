package order

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/internal/callmetrics"
)

// NewStatusCounter returns the Options.RecordStatus that counts orders
// reaching each status in kitshop_orders_total{status} on reg (nil: not
// registered), every status's series existing from the start. (The calls'
// metrics are the endpoints', NewSet.)
func NewStatusCounter(reg prometheus.Registerer) func(Status) {
	orders := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kitshop_orders_total",
		Help: "Orders that reached a status (Pending when stored, then the statuses they moved to).",
	}, []string{"status"})
	if reg != nil {
		orders = callmetrics.Register(reg, orders)
	}
	for _, s := range Statuses() {
		orders.WithLabelValues(string(s))
	}
	return func(s Status) { orders.WithLabelValues(string(s)).Inc() }
}
