package order

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
)

// FuzzCreateOrderHTTP posts any body (and Idempotency-Key) to POST /order
// with a valid token, through httpserver.New and the order handler on a
// service with fakes: the answer is never a 5xx, and it is JSON: the order
// (2xx) or the error envelope with a code and a message (4xx). The service is
// shared by the inputs (a fresh one per input is ten times slower), so stock
// runs out and keys repeat, which only adds client errors to reach. Seeds:
// the f.Add calls and testdata/fuzz/FuzzCreateOrderHTTP.
func FuzzCreateOrderHTTP(f *testing.F) {
	for _, seed := range []struct{ body, key string }{
		{orderBody, ""},
		{orderBody, "key-1"},
		{`{"productIds":["p1"],"address":{"name":"A","street":"S","city":"C","postalCode":"1","country":"KR"},` +
			`"payment":{"paymentMethod":"Kakao","paymentName":"A","amount":1000}}`, ""},
		{`{"items":[{"productId":"p3","quantity":2}],"address":{"name":"A","street":"S","city":"C","postalCode":"1","country":"KR"},` +
			`"payment":{"paymentMethod":"Kakao","paymentName":"A","amount":6000}}`, ""},
		{strings.Replace(orderBody, `"amount": 4000`, `"amount": 9223372036854775807`, 1), ""},
		{strings.Replace(orderBody, `"amount": 4000`, `"amount": -1`, 1), ""},
		{strings.Replace(orderBody, `"quantity": 1`, `"quantity": 1e3`, 1), ""},
		{strings.Replace(orderBody, `"p2"`, `"\u0000\ud800"`, 1), ""},
		{`{"productIds":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, ""},
		{`{"productIds":["p1"]}{"productIds":["p1"]}`, ""},
		{`{"productIds":null,"items":null,"address":null,"payment":null}`, ""},
		{`[]`, ""}, {`null`, ""}, {``, ""}, {`{`, ""}, {`"\xff"`, ""},
		{orderBody, "\x00"}, {orderBody, strings.Repeat("k", 300)},
	} {
		f.Add([]byte(seed.body), seed.key)
	}
	fx := newSecFixture(f)
	auth := "Bearer " + issuePair(f, fx.signer, alice).AccessToken
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		header := map[string]string{}
		if key != "" {
			header[IdempotencyKeyHeader] = key
		}
		w := fx.serve(http.MethodPost, "/order", auth, strings.NewReader(string(body)), header)
		if w.Code >= 500 {
			t.Fatalf("status %d %s for body %q", w.Code, w.Body, body)
		}
		if w.Code < 300 {
			var o orderJSON
			if err := json.Unmarshal(w.Body.Bytes(), &o); err != nil || o.ID == "" || o.Total <= 0 {
				t.Fatalf("status %d with body %s", w.Code, w.Body)
			}
			return
		}
		errorBody(t, w)
	})
}

// FuzzGRPCValidators calls CreateOrder of the gRPC server (decode, token,
// validation, the service on fakes, shared as in FuzzCreateOrderHTTP) with
// any request built from the arguments: productIDs split at ",", one item (itemID, quantity) unless
// itemID is empty, address fields split at "|", any payment method number,
// card fields split at "|"; then GetOrder, DeliveryStarted and DeliveryDone
// with itemID as the order id and ListOrders with quantity as page size and key as page
// token. No status is ever Internal or Unknown: every refusal is a client
// error code. Seeds: the f.Add calls and testdata/fuzz/FuzzGRPCValidators.
func FuzzGRPCValidators(f *testing.F) {
	f.Add("p1,p1", "p2", int64(1), "Alice|1 Main St|Seoul|04524|KR", int32(1), "4111111111111111|2030|12|900101|12", int64(4000), "")
	f.Add("p1", "", int64(0), "A|S|C|P|K", int32(2), "", int64(1000), "k1")
	f.Add("", "p3", int64(2), "A|S|C|P|K", int32(2), "", int64(6000), "")
	f.Add("", "p3", int64(-1), "A|S|C|P|K", int32(1), "4111", int64(-3000), "")
	f.Add("p1,,p2", "p9", int64(9223372036854775807), "||||", int32(99), "||||", int64(9223372036854775807), "\x7f")
	f.Add("p1", "p2", int64(1000), "A|S|C|P|K", int32(-1), "x|y|z|w|v", int64(-9223372036854775808), strings.Repeat("k", 256))
	f.Add("p1", "0123456789abcdef0123456789abcdef", int64(5), "A|S|C|P|K", int32(2), "", int64(1000), "eyJhIjoieCJ9") // {"a":"x"}: a page token
	f.Add("\xff", "\x00", int64(1), "\xff|\xff|\xff|\xff|\xff", int32(1), "\xff", int64(1), "")
	fx := newSecFixture(f)
	srv := NewGRPCServer(fx.set)
	auth := "Bearer " + issuePair(f, fx.signer, alice).AccessToken
	f.Fuzz(func(t *testing.T, productIDs, itemID string, quantity int64, address string, method int32, card string, amount int64, key string) {
		req := &orderv1.CreateOrderRequest{IdempotencyKey: key}
		if productIDs != "" {
			req.ProductIds = strings.Split(productIDs, ",")
		}
		if itemID != "" {
			req.Items = []*orderv1.LineItem{{ProductId: itemID, Quantity: quantity}}
		}
		a := fields(address)
		req.Address = &orderv1.Address{Name: a[0], Street: a[1], City: a[2], PostalCode: a[3], Country: a[4]}
		c := fields(card)
		req.Payment = &orderv1.PaymentDetails{
			PaymentMethod: paymentv1.PaymentMethod(method), PaymentName: a[0],
			CardNumber: c[0], ExpiryYear: c[1], ExpiryMonth: c[2], BirthOrRegistration: c[3], PasswordTwoDigits: c[4],
			Amount: amount,
		}
		ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", auth))
		_, err := srv.CreateOrder(ctx, req)
		clientCode(t, "CreateOrder", err)
		// The other validators, on the same strings: ids, page size and token.
		_, err = srv.GetOrder(ctx, &orderv1.GetOrderRequest{Id: itemID})
		clientCode(t, "GetOrder", err)
		_, err = srv.ListOrders(ctx, &orderv1.ListOrdersRequest{PageSize: int32(quantity), PageToken: key})
		clientCode(t, "ListOrders", err)
		_, err = srv.DeliveryStarted(ctx, &orderv1.DeliveryStartedRequest{Id: itemID})
		clientCode(t, "DeliveryStarted", err)
		_, err = srv.DeliveryDone(ctx, &orderv1.DeliveryDoneRequest{Id: itemID})
		clientCode(t, "DeliveryDone", err)
	})
}

// clientCode fails the test if err's gRPC status is Internal or Unknown.
func clientCode(t *testing.T, method string, err error) {
	t.Helper()
	if code := status.Code(err); code == codes.Internal || code == codes.Unknown {
		t.Fatalf("%s: %v", method, err)
	}
}

// fields splits s at "|" into five fields, the missing ones empty.
func fields(s string) [5]string {
	var out [5]string
	copy(out[:], strings.SplitN(s, "|", 5))
	return out
}
