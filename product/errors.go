package product

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/protoadapt"

	"github.com/kitshop/kitshop/internal/errtable"
	"github.com/kitshop/kitshop/internal/token"
)

// Business errors. Every error the service returns for a client mistake or a
// refused operation matches one of them under errors.Is; anything else is an
// infrastructure failure. errorTable says what each means to the transports
// and the metrics.
var (
	// ErrInvalidArgument: malformed input.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: an unknown product.
	ErrNotFound = errors.New("product not found")
	// ErrInsufficientStock: not enough stock for a reservation or a stock
	// removal.
	ErrInsufficientStock = errors.New("insufficient stock")
	// ErrOrderMismatch: the order already has a reservation with other items.
	ErrOrderMismatch = errors.New("order already has a different reservation")
	// ErrReservationReleased: the order's reservation was released, or a
	// release came first; it can no longer be reserved.
	ErrReservationReleased = errors.New("reservation released")
	// ErrReservationBusy: another instance of the service is working on the
	// same order right now; retry later.
	ErrReservationBusy = errors.New("reservation busy")
)

// errorTable is the product service's error table (internal/errtable), read
// by the endpoints (Table.Split), the observing middleware (outcomes) and
// both transports. An error it does not list is an infrastructure failure
// (Internal / 500, outcome "error").
var errorTable = errtable.New(
	errtable.Entry{Err: ErrInvalidArgument, GRPC: codes.InvalidArgument, HTTP: http.StatusBadRequest,
		Code: "invalid_argument", Business: true},
	// A *ProductsError carries one ResourceInfo per unknown product.
	errtable.Entry{Err: ErrNotFound, GRPC: codes.NotFound, HTTP: http.StatusNotFound,
		Code: "not_found", Business: true, Details: productDetails},
	errtable.Entry{Err: ErrOrderMismatch, GRPC: codes.AlreadyExists, HTTP: http.StatusConflict,
		Code: "already_exists", Business: true},
	// A *ProductsError carries a PreconditionFailure, one violation per
	// product short of stock.
	errtable.Entry{Err: ErrInsufficientStock, GRPC: codes.FailedPrecondition, HTTP: http.StatusConflict,
		Code: "insufficient_stock", Business: true, Details: productDetails},
	errtable.Entry{Err: ErrReservationReleased, GRPC: codes.FailedPrecondition, HTTP: http.StatusConflict,
		Code: "reservation_released", Outcome: "released", Business: true},
	errtable.Entry{Err: ErrReservationBusy, GRPC: codes.Aborted, HTTP: http.StatusConflict,
		Code: "aborted", Outcome: "busy", Business: true},
	// The admin check's (AdminOnly): a valid token without the admin role.
	errtable.Entry{Err: token.ErrForbidden, GRPC: codes.PermissionDenied, HTTP: http.StatusForbidden,
		Code: "permission_denied", Business: true,
		Headers: func(_ error, h http.Header) {
			h.Set("WWW-Authenticate", `Bearer realm="kitshop", error="insufficient_scope"`)
		}},
)

// ProductsError is a business error about particular products: Err is
// ErrNotFound or ErrInsufficientStock, ProductIDs the products concerned.
type ProductsError struct {
	Err        error
	ProductIDs []string
}

// maxNamedIDs bounds how many ids an error message lists.
const maxNamedIDs = 20

// Error names the products, at most maxNamedIDs of them.
func (e *ProductsError) Error() string {
	ids := e.ProductIDs
	more := ""
	if len(ids) > maxNamedIDs {
		more = fmt.Sprintf(" and %d more", len(ids)-maxNamedIDs)
		ids = ids[:maxNamedIDs]
	}
	return fmt.Sprintf("%v: %s%s", e.Err, strings.Join(ids, ", "), more)
}

// Unwrap returns Err.
func (e *ProductsError) Unwrap() error { return e.Err }

// ProductResourceType names products in ResourceInfo error details.
const ProductResourceType = "kitshop.product.v1.Product"

// ViolationInsufficientStock is the PreconditionFailure violation type of a
// product short of stock; its subject is the product id.
const ViolationInsufficientStock = "INSUFFICIENT_STOCK"

// productDetails returns the gRPC error details of a *ProductsError: one
// ResourceInfo per unknown product, or a PreconditionFailure with one
// violation per product short of stock; none for any other error.
func productDetails(err error) []protoadapt.MessageV1 {
	var pe *ProductsError
	if !errors.As(err, &pe) {
		return nil
	}
	if errors.Is(pe.Err, ErrNotFound) {
		details := make([]protoadapt.MessageV1, len(pe.ProductIDs))
		for i, id := range pe.ProductIDs {
			details[i] = &errdetails.ResourceInfo{ResourceType: ProductResourceType, ResourceName: id, Description: "no such product"}
		}
		return details
	}
	pf := &errdetails.PreconditionFailure{}
	for _, id := range pe.ProductIDs {
		pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{
			Type: ViolationInsufficientStock, Subject: id, Description: "not enough stock",
		})
	}
	return []protoadapt.MessageV1{pf}
}

// invalid returns an error wrapping ErrInvalidArgument with a message.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}
