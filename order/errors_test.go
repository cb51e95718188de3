package order

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/errtable/errtabletest"
	productv1 "github.com/kitshop/kitshop/pb/kitshop/product/v1"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// sentinels are the texts of the errors a message may carry: the service's
// and its dependencies' own.
var sentinels = []error{ErrInvalidArgument, ErrNotFound, ErrUserNotFound, ErrProductNotFound, ErrOutOfStock,
	ErrPaymentDeclined, ErrIdempotencyKeyReused, ErrIllegalTransition, ErrUnavailable}

// saidOnce fails t when msg says a part twice (errtabletest.SaidOnce) or
// says the text of one of the sentinels twice, even inside a part.
func saidOnce(t *testing.T, msg string) {
	t.Helper()
	errtabletest.SaidOnce(t, "error", msg)
	for _, s := range sentinels {
		if n := strings.Count(msg, s.Error()); n > 1 {
			t.Errorf("message %q says %q %d times", msg, s.Error(), n)
		}
	}
}

// realWording answers as the user and product services word their errors:
// a NotFound's message starts with the same text as the order service's
// sentinel for it.
type realWording struct{ *depServers }

func (s realWording) GetUserInfo(ctx context.Context, r *userv1.GetUserInfoRequest) (*userv1.GetUserInfoResponse, error) {
	if r.GetUserId() != alice {
		return nil, status.Error(codes.NotFound, "user not found")
	}
	return s.depServers.GetUserInfo(ctx, r)
}

func (s realWording) GetProductsInfo(ctx context.Context, r *productv1.GetProductsInfoRequest) (*productv1.GetProductsInfoResponse, error) {
	for _, id := range r.GetProductIds() {
		if id != "p1" && id != "p2" {
			return nil, status.Errorf(codes.NotFound, "product not found: %s", id)
		}
	}
	return s.depServers.GetProductsInfo(ctx, r)
}

func (s realWording) ReserveStock(_ context.Context, r *productv1.ReserveStockRequest) (*productv1.ReserveStockResponse, error) {
	return nil, status.Error(codes.InvalidArgument, "invalid argument: orderId is not a valid id")
}

func TestWithMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ msg, want string }{
		{"product not found: nope-9", "product not found: nope-9"},
		{"product not found", "product not found"},
		{"", "product not found"},
		{"products nope-9 and nope-8 are unknown", "product not found: products nope-9 and nope-8 are unknown"},
		{"product not foundry: x", "product not found: product not foundry: x"},
	} {
		err := withMessage(ErrProductNotFound, tc.msg)
		if !errors.Is(err, ErrProductNotFound) || err.Error() != tc.want {
			t.Errorf("withMessage(%q) = %q, want %q matching ErrProductNotFound", tc.msg, err, tc.want)
		}
	}
}

// TestMessagesSaidOnce runs the service on its real gRPC clients of
// dependencies that word their errors as the user and product services do,
// and checks that the HTTP and gRPC answers say each part once.
func TestMessagesSaidOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	deps := serveDeps(t, realWording{&depServers{}}, nil, CacheOptions{})
	svc, err := NewService(e.store, deps, Options{Now: e.clock.Now, NotifyWithin: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTransportOf(t, e, svc)
	for _, tc := range []struct {
		name     string
		user     string
		body     string
		httpCode string
		grpcCode codes.Code
		want     string
	}{
		{"unknown product", alice, strings.Replace(orderBody, `"p2"`, `"nope-9"`, 1), "product_not_found", codes.NotFound,
			"product not found: nope-9"},
		{"unknown user", bob, orderBody, "user_not_found", codes.NotFound, "user not found"},
		{"refused reservation", alice, orderBody, "invalid_argument", codes.InvalidArgument,
			"invalid argument: orderId is not a valid id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tr.do(t, http.MethodPost, "/order", tr.tokens[tc.user], tc.body, nil)
			if errorCode(t, a.body) != tc.httpCode || !strings.Contains(a.body, `"message":"`+tc.want) {
				t.Errorf("HTTP %d %s, want %s with a message starting %q", a.status, a.body, tc.httpCode, tc.want)
			}
			saidOnce(t, a.body)
			req := validProto()
			if tc.name == "unknown product" {
				req.ProductIds = []string{"nope-9"}
				req.Items, req.Payment.Amount = nil, 1000
			}
			_, err := tr.client.CreateOrder(tr.grpcCtx(t, tc.user), req)
			st := wantCode(t, err, tc.grpcCode)
			if !strings.HasPrefix(st.Message(), tc.want) {
				t.Errorf("gRPC message %q, want it to start with %q", st.Message(), tc.want)
			}
			saidOnce(t, st.Message())
		})
	}
}
