package assembly

import (
	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/notification"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/payment"
	"github.com/kitshop/kitshop/product"
	"github.com/kitshop/kitshop/user"
)

// Specs returns the five services, in the order of config.ServiceNames:
// the user service first, whose verifier the others may need.
func Specs() []Spec {
	return []Spec{
		{Name: config.User, Policy: user.GRPCAccess, New: func() Settings { return new(User) }},
		{Name: config.Product, Policy: product.GRPCAccess, Verifies: true, New: func() Settings { return new(Product) }},
		{Name: config.Order, Policy: order.GRPCAccess, Verifies: true, New: func() Settings { return new(Order) },
			Peers: []string{config.User, config.Product, config.Payment, config.Notification}},
		{Name: config.Payment, Policy: payment.GRPCAccess, Verifies: true, New: func() Settings { return new(Payment) }},
		{Name: config.Notification, Policy: notification.GRPCAccess, Verifies: true, New: func() Settings { return new(Notification) }},
	}
}
