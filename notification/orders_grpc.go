package notification

import (
	"context"
	"fmt"

	"github.com/go-kit/kit/endpoint"
	"google.golang.org/grpc/codes"

	"github.com/kitshop/kitshop/internal/grpcclient"
	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
)

// grpcOrders is Orders over the order service's gRPC API (kitshop.order.v1).
type grpcOrders struct {
	deliveryStarted endpoint.Endpoint
}

// NewGRPCOrders returns Orders calling the order service through c, whose
// endpoint chain (instrumenting, retry, breaker, deadline) applies to every
// call. DeliveryStarted is marked idempotent: the order service treats a
// repeat as a no-op, so the client may retry it.
func NewGRPCOrders(c *grpcclient.Client) Orders {
	return &grpcOrders{deliveryStarted: c.Endpoint(grpcclient.Method{
		Service:    orderv1.OrderService_ServiceDesc.ServiceName,
		Name:       "DeliveryStarted",
		Idempotent: true,
		Reply:      &orderv1.DeliveryStartedResponse{},
	})}
}

// DeliveryStarted implements Orders. NotFound, InvalidArgument and
// FailedPrecondition answers are ErrOrderRejected; every other failure,
// including an open breaker, is left retryable.
func (o *grpcOrders) DeliveryStarted(ctx context.Context, orderID string) error {
	_, err := o.deliveryStarted(ctx, &orderv1.DeliveryStartedRequest{Id: orderID})
	switch grpcclient.Code(err) {
	case codes.OK:
		return nil
	case codes.NotFound, codes.InvalidArgument, codes.FailedPrecondition:
		return fmt.Errorf("%w: %w", ErrOrderRejected, err)
	default:
		return fmt.Errorf("order service DeliveryStarted: %w", err)
	}
}
