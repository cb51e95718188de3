package order

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/grpcclient"
	notificationv1 "github.com/kitshop/kitshop/pb/kitshop/notification/v1"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
	productv1 "github.com/kitshop/kitshop/pb/kitshop/product/v1"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// The adapters of this file implement Users, Products, Payments and Notifier
// with the generated gRPC stubs, each method through its own client endpoint
// (internal/grpcclient: metrics → retry → breaker → deadline → go-kit
// client). Every method the order service calls is idempotent on the callee's
// side (by user, product or order id), so every one may be retried.
//
// Users and Products keep the answers of GetUser and GetProducts for a while
// (CacheOptions), so that most orders make no call to the user service and
// none to the product service for their prices.

// Conns are the connections to the order service's dependencies, e.g. from
// grpcclient.Dial.
type Conns struct {
	User         *grpc.ClientConn
	Product      *grpc.ClientConn
	Payment      *grpc.ClientConn
	Notification *grpc.ClientConn
}

// Names of the dependencies, the "dependency" label of the client metrics.
const (
	depUser         = "user"
	depProduct      = "product"
	depPayment      = "payment"
	depNotification = "notification"
)

// CacheOptions tune the caches of user and product information the clients
// keep (see DefaultCacheOptions).
//
// A cached answer may be stale by up to its TTL, like a read replica's lag:
// a user's new e-mail address or name reaches orders within UserTTL, and a
// product's new price or name applies to new orders within ProductTTL. Until
// then orders are priced at the old price, and a payment.amount computed at
// the new one is refused as not the order's total. Only successful answers
// are cached: an unknown user or product is asked again every time.
type CacheOptions struct {
	// UserTTL is how long a user's information is reused; zero or negative:
	// not cached.
	UserTTL time.Duration
	// ProductTTL is how long a product's name and price are reused; zero or
	// negative: not cached.
	ProductTTL time.Duration
	// Size bounds each cache, in entries (least recently used go first);
	// zero or negative: DefaultCacheSize.
	Size int
}

// Defaults of CacheOptions.
const (
	DefaultUserCacheTTL    = time.Minute
	DefaultProductCacheTTL = time.Second
	DefaultCacheSize       = 10000
)

// DefaultCacheOptions returns the default caches: users for
// DefaultUserCacheTTL, products for DefaultProductCacheTTL, DefaultCacheSize
// entries each.
func DefaultCacheOptions() CacheOptions {
	return CacheOptions{UserTTL: DefaultUserCacheTTL, ProductTTL: DefaultProductCacheTTL, Size: DefaultCacheSize}
}

// RegisterFlags registers -user-cache-ttl and -product-cache-ttl on fs, with
// the defaults of DefaultCacheOptions.
func (c *CacheOptions) RegisterFlags(fs *flag.FlagSet) {
	d := DefaultCacheOptions()
	c.Size = d.Size
	fs.DurationVar(&c.UserTTL, "user-cache-ttl", d.UserTTL, "how long the order service reuses a user's name and e-mail (0: ask the user service for every order)")
	fs.DurationVar(&c.ProductTTL, "product-cache-ttl", d.ProductTTL, "how long the order service reuses a product's name and price; a price change applies to new orders within it (0: ask the product service for every order)")
}

// newCache returns a cache of at most size entries (DefaultCacheSize when
// not positive) that expire after ttl, or nil when ttl is not positive.
//
// It is github.com/hashicorp/golang-lru/v2/expirable: a well-kept, generic
// LRU with a TTL per entry, safe for concurrent use, which bounds both the
// age and the number of entries without code of our own. Each cache runs a
// goroutine for the process's life that drops expired entries, waking every
// ttl/100 (the library offers no way to stop it), so make the clients once
// per process.
func newCache[V any](ttl time.Duration, size int) *expirable.LRU[string, V] {
	if ttl <= 0 {
		return nil
	}
	if size <= 0 {
		size = DefaultCacheSize
	}
	return expirable.NewLRU[string, V](size, nil, ttl)
}

// NewDependencies returns the gRPC clients of the order service's
// dependencies over conns, with cfg's retries, deadlines and breakers, the
// caches of cache, and the client metrics m (grpcclient.NewMetrics; nil:
// unregistered), which report the breakers (Dependencies.Breakers). logger
// nil discards the breakers' state changes.
func NewDependencies(conns Conns, cfg grpcclient.Config, cache CacheOptions, m *grpcclient.Metrics, logger *slog.Logger) (Dependencies, error) {
	if m == nil {
		m = grpcclient.NewMetrics(nil) // one for every client, which Breakers reads
	}
	client := func(conn *grpc.ClientConn, dep string) (*grpcclient.Client, error) {
		c, err := grpcclient.New(conn, dep, cfg, m, logger)
		if err != nil {
			return nil, fmt.Errorf("order: %s client: %w", dep, err)
		}
		return c, nil
	}
	uc, err := client(conns.User, depUser)
	if err != nil {
		return Dependencies{}, err
	}
	pc, err := client(conns.Product, depProduct)
	if err != nil {
		return Dependencies{}, err
	}
	payc, err := client(conns.Payment, depPayment)
	if err != nil {
		return Dependencies{}, err
	}
	nc, err := client(conns.Notification, depNotification)
	if err != nil {
		return Dependencies{}, err
	}
	user := userv1.UserService_ServiceDesc.ServiceName
	product := productv1.ProductService_ServiceDesc.ServiceName
	payment := paymentv1.PaymentService_ServiceDesc.ServiceName
	notification := notificationv1.NotificationService_ServiceDesc.ServiceName
	method := func(c *grpcclient.Client, service, name string, reply any) endpoint.Endpoint {
		return c.Endpoint(grpcclient.Method{Service: service, Name: name, Idempotent: true, Reply: reply})
	}
	return Dependencies{
		Users: usersClient{
			getUserInfo: method(uc, user, "GetUserInfo", &userv1.GetUserInfoResponse{}),
			cache:       newCache[User](cache.UserTTL, cache.Size),
		},
		Products: productsClient{
			getProductsInfo: method(pc, product, "GetProductsInfo", &productv1.GetProductsInfoResponse{}),
			cache:           newCache[Product](cache.ProductTTL, cache.Size),
			reserveStock:    method(pc, product, "ReserveStock", &productv1.ReserveStockResponse{}),
			releaseStock:    method(pc, product, "ReleaseStock", &productv1.ReleaseStockResponse{}),
		},
		Payments: paymentsClient{
			makePayment:   method(payc, payment, "MakePayment", &paymentv1.MakePaymentResponse{}),
			getPayment:    method(payc, payment, "GetPayment", &paymentv1.GetPaymentResponse{}),
			refundPayment: method(payc, payment, "RefundPayment", &paymentv1.RefundPaymentResponse{}),
		},
		Notifier: notifierClient{
			sendPaymentNotification: method(nc, notification, "SendPaymentNotification", &notificationv1.SendPaymentNotificationResponse{}),
		},
		Breakers: m,
	}, nil
}

// usersClient implements Users over kitshop.user.v1.UserService.
type usersClient struct {
	getUserInfo endpoint.Endpoint
	cache       *expirable.LRU[string, User] // by user id; nil: none
}

// GetUser implements Users, from the cache when it holds the user.
func (c usersClient) GetUser(ctx context.Context, userID string) (User, error) {
	if c.cache != nil {
		if u, ok := c.cache.Get(userID); ok {
			return u, nil
		}
	}
	resp, err := c.getUserInfo(ctx, &userv1.GetUserInfoRequest{UserId: userID})
	if err != nil {
		return User{}, depError(depUser, err, known{codes.NotFound, ErrUserNotFound})
	}
	r := resp.(*userv1.GetUserInfoResponse)
	u := User{ID: r.GetId(), Email: r.GetEmail(), Name: r.GetName()}
	if c.cache != nil {
		c.cache.Add(userID, u)
	}
	return u, nil
}

// productsClient implements Products over kitshop.product.v1.ProductService.
type productsClient struct {
	getProductsInfo endpoint.Endpoint
	reserveStock    endpoint.Endpoint
	releaseStock    endpoint.Endpoint
	cache           *expirable.LRU[string, Product] // by product id; nil: none
}

// GetProducts implements Products: the products of ids, in that order, or
// ErrProductNotFound naming those that do not exist. It asks the product
// service once, for the distinct ids the cache does not hold.
func (c productsClient) GetProducts(ctx context.Context, ids []string) ([]Product, error) {
	out := make([]Product, len(ids))
	var (
		missing []string // distinct, in first-seen order
		at      []int    // the places of out they fill
		seen    = make(map[string]bool)
	)
	for i, id := range ids {
		if c.cache != nil {
			if p, ok := c.cache.Get(id); ok {
				out[i] = p
				continue
			}
		}
		at = append(at, i)
		if !seen[id] {
			seen[id] = true
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	fetched, err := c.fetch(ctx, missing)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Product, len(fetched))
	for _, p := range fetched {
		byID[p.ID] = p
		if c.cache != nil {
			c.cache.Add(p.ID, p)
		}
	}
	var unknown []string
	for _, id := range missing {
		if _, ok := byID[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrProductNotFound, strings.Join(unknown, ", "))
	}
	for _, i := range at {
		out[i] = byID[ids[i]]
	}
	return out, nil
}

// fetch asks the product service for the products of ids.
func (c productsClient) fetch(ctx context.Context, ids []string) ([]Product, error) {
	resp, err := c.getProductsInfo(ctx, &productv1.GetProductsInfoRequest{ProductIds: ids})
	if err != nil {
		return nil, depError(depProduct, err,
			known{codes.NotFound, ErrProductNotFound}, known{codes.InvalidArgument, ErrInvalidArgument})
	}
	ps := resp.(*productv1.GetProductsInfoResponse).GetProducts()
	out := make([]Product, len(ps))
	for i, p := range ps {
		out[i] = Product{ID: p.GetId(), Name: p.GetName(), Price: p.GetPrice()}
	}
	return out, nil
}

// ReserveStock implements Products.
func (c productsClient) ReserveStock(ctx context.Context, orderID string, items []Item) error {
	req := &productv1.ReserveStockRequest{OrderId: orderID, Items: make([]*productv1.StockItem, len(items))}
	for i, it := range items {
		req.Items[i] = &productv1.StockItem{ProductId: it.ProductID, Quantity: it.Quantity}
	}
	if _, err := c.reserveStock(ctx, req); err != nil {
		return depError(depProduct, err, known{codes.FailedPrecondition, ErrOutOfStock},
			known{codes.NotFound, ErrProductNotFound}, known{codes.InvalidArgument, ErrInvalidArgument})
	}
	return nil
}

// ReleaseStock implements Products.
func (c productsClient) ReleaseStock(ctx context.Context, orderID string) error {
	if _, err := c.releaseStock(ctx, &productv1.ReleaseStockRequest{OrderId: orderID}); err != nil {
		return depError(depProduct, err, known{codes.InvalidArgument, ErrInvalidArgument})
	}
	return nil
}

// paymentsClient implements Payments over kitshop.payment.v1.PaymentService.
type paymentsClient struct {
	makePayment   endpoint.Endpoint
	getPayment    endpoint.Endpoint
	refundPayment endpoint.Endpoint
}

// MakePayment implements Payments.
func (c paymentsClient) MakePayment(ctx context.Context, req PaymentRequest) (Payment, error) {
	d := req.Details
	resp, err := c.makePayment(ctx, &paymentv1.MakePaymentRequest{
		OrderId:             req.OrderID,
		PaymentMethod:       methodToProto(d.Method),
		PaymentName:         d.Name,
		CardNumber:          d.CardNumber,
		ExpiryYear:          d.ExpiryYear,
		ExpiryMonth:         d.ExpiryMonth,
		BirthOrRegistration: d.BirthOrRegistration,
		Amount:              d.Amount,
		UserEmail:           req.UserEmail,
		PasswordTwoDigits:   d.PasswordTwoDigits,
	})
	if err != nil {
		return Payment{}, depError(depPayment, err, known{codes.InvalidArgument, ErrInvalidArgument})
	}
	r := resp.(*paymentv1.MakePaymentResponse)
	return Payment{
		ID:               r.GetId(),
		Status:           paymentStatusFromProto(r.GetPaymentStatus()),
		Method:           methodFromProto(r.GetPaymentMethod()),
		Amount:           r.GetAmount(),
		MaskedCardNumber: r.GetMaskedCardNumber(),
		Reason:           r.GetReason(),
	}, nil
}

// GetPayment implements Payments.
func (c paymentsClient) GetPayment(ctx context.Context, orderID string) (Payment, error) {
	resp, err := c.getPayment(ctx, &paymentv1.GetPaymentRequest{OrderId: orderID})
	if err != nil {
		return Payment{}, depError(depPayment, err, known{codes.NotFound, ErrPaymentNotFound})
	}
	p := resp.(*paymentv1.GetPaymentResponse).GetPayment()
	return Payment{
		ID:               p.GetId(),
		Status:           paymentStatusFromProto(p.GetStatus()),
		Method:           methodFromProto(p.GetMethod()),
		Amount:           p.GetAmount(),
		MaskedCardNumber: p.GetMaskedCardNumber(),
		Reason:           p.GetReason(),
	}, nil
}

// RefundPayment implements Payments. A payment the payment service does not
// have needs no refund.
func (c paymentsClient) RefundPayment(ctx context.Context, orderID string) error {
	_, err := c.refundPayment(ctx, &paymentv1.RefundPaymentRequest{OrderId: orderID})
	if err != nil && grpcclient.Code(err) != codes.NotFound {
		return depError(depPayment, err, known{codes.InvalidArgument, ErrInvalidArgument})
	}
	return nil
}

// notifierClient implements Notifier over
// kitshop.notification.v1.NotificationService.
type notifierClient struct {
	sendPaymentNotification endpoint.Endpoint
}

// SendPaymentNotification implements Notifier.
func (c notifierClient) SendPaymentNotification(ctx context.Context, to, orderID, userID string) error {
	_, err := c.sendPaymentNotification(ctx, &notificationv1.SendPaymentNotificationRequest{To: to, OrderId: orderID, UserId: userID})
	if err != nil {
		return depError(depNotification, err, known{codes.InvalidArgument, ErrInvalidArgument})
	}
	return nil
}

// known maps a gRPC code of a dependency's answer to a business error.
type known struct {
	code codes.Code
	err  error
}

// depError turns a failed call into the errors the service understands: a
// breaker's refusal, an unreachable, slow, overloaded or broken dependency
// into *UnavailableError; the listed codes into their business errors, with
// the dependency's message; the caller's cancellation into its context
// error; anything else into a plain error (an internal failure).
func depError(dep string, err error, businessCodes ...known) error {
	var open *grpcclient.OpenError
	if errors.As(err, &open) {
		return &UnavailableError{Dependency: dep, Refused: true, RetryAfter: open.RetryAfter, Err: err}
	}
	code := grpcclient.Code(err)
	for _, k := range businessCodes {
		if code == k.code {
			return withMessage(k.err, status.Convert(err).Message())
		}
	}
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal:
		return &UnavailableError{Dependency: dep, Err: err}
	case codes.Canceled:
		return fmt.Errorf("%s service: %w", dep, context.Canceled)
	}
	return fmt.Errorf("%s service: %w", dep, err)
}

// withMessage is the business error sentinel with a dependency's message,
// the sentinel's text said once: the product service's "product not found:
// nope-9" is ErrProductNotFound with the message "product not found:
// nope-9", not "product not found: product not found: nope-9".
func withMessage(sentinel error, msg string) error {
	prefix := sentinel.Error()
	switch {
	case msg == "" || msg == prefix:
		return fmt.Errorf("%w", sentinel)
	case strings.HasPrefix(msg, prefix+": "):
		return fmt.Errorf("%w%s", sentinel, msg[len(prefix):])
	}
	return fmt.Errorf("%w: %s", sentinel, msg)
}

func methodToProto(m PaymentMethod) paymentv1.PaymentMethod {
	switch m {
	case MethodCreditCard:
		return paymentv1.PaymentMethod_PAYMENT_METHOD_CREDIT_CARD
	case MethodKakao:
		return paymentv1.PaymentMethod_PAYMENT_METHOD_KAKAO
	}
	return paymentv1.PaymentMethod_PAYMENT_METHOD_UNSPECIFIED
}

func methodFromProto(m paymentv1.PaymentMethod) PaymentMethod {
	switch m {
	case paymentv1.PaymentMethod_PAYMENT_METHOD_CREDIT_CARD:
		return MethodCreditCard
	case paymentv1.PaymentMethod_PAYMENT_METHOD_KAKAO:
		return MethodKakao
	}
	return ""
}

func paymentStatusToProto(s PaymentStatus) paymentv1.PaymentStatus {
	switch s {
	case PaymentPending:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_PENDING
	case PaymentRejected:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_REJECTED
	case PaymentApproved:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_APPROVED
	case PaymentRefunded:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED
	case PaymentVoided:
		return paymentv1.PaymentStatus_PAYMENT_STATUS_VOIDED
	}
	return paymentv1.PaymentStatus_PAYMENT_STATUS_UNSPECIFIED
}

func paymentStatusFromProto(s paymentv1.PaymentStatus) PaymentStatus {
	switch s {
	case paymentv1.PaymentStatus_PAYMENT_STATUS_PENDING:
		return PaymentPending
	case paymentv1.PaymentStatus_PAYMENT_STATUS_REJECTED:
		return PaymentRejected
	case paymentv1.PaymentStatus_PAYMENT_STATUS_APPROVED:
		return PaymentApproved
	case paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED:
		return PaymentRefunded
	case paymentv1.PaymentStatus_PAYMENT_STATUS_VOIDED:
		return PaymentVoided
	}
	return ""
}
