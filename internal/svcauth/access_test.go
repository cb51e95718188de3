package svcauth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/grpcserver"
	"github.com/kitshop/kitshop/internal/svcauth"
	"github.com/kitshop/kitshop/internal/tlsconfig"
	"github.com/kitshop/kitshop/notification"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/payment"
	notificationv1 "github.com/kitshop/kitshop/pb/kitshop/notification/v1"
	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
	productv1 "github.com/kitshop/kitshop/pb/kitshop/product/v1"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
	"github.com/kitshop/kitshop/product"
	"github.com/kitshop/kitshop/user"
)

// service is one kitshop service's table and its generated gRPC services,
// registered unimplemented: a call the guard lets through answers
// Unimplemented, one it stops Unauthenticated or PermissionDenied.
type service struct {
	name     string
	policy   svcauth.Policy
	register func(grpc.ServiceRegistrar)
}

var services = []service{
	{config.User, user.GRPCAccess, func(r grpc.ServiceRegistrar) {
		userv1.RegisterAuthServiceServer(r, userv1.UnimplementedAuthServiceServer{})
		userv1.RegisterUserServiceServer(r, userv1.UnimplementedUserServiceServer{})
		userv1.RegisterCartServiceServer(r, userv1.UnimplementedCartServiceServer{})
	}},
	{config.Product, product.GRPCAccess, func(r grpc.ServiceRegistrar) {
		productv1.RegisterProductServiceServer(r, productv1.UnimplementedProductServiceServer{})
	}},
	{config.Order, order.GRPCAccess, func(r grpc.ServiceRegistrar) {
		orderv1.RegisterOrderServiceServer(r, orderv1.UnimplementedOrderServiceServer{})
	}},
	{config.Payment, payment.GRPCAccess, func(r grpc.ServiceRegistrar) {
		paymentv1.RegisterPaymentServiceServer(r, paymentv1.UnimplementedPaymentServiceServer{})
	}},
	{config.Notification, notification.GRPCAccess, func(r grpc.ServiceRegistrar) {
		notificationv1.RegisterNotificationServiceServer(r, notificationv1.UnimplementedNotificationServiceServer{})
	}},
}

// TestPoliciesNameEveryMethod checks that each table names every method of
// the service's gRPC services (one it forgot would be refused to all), and
// what the issue asks of the internal ones.
func TestPoliciesNameEveryMethod(t *testing.T) {
	for _, s := range services {
		srv := grpc.NewServer()
		s.register(srv)
		for svc, info := range srv.GetServiceInfo() {
			for _, m := range info.Methods {
				if _, ok := s.policy["/"+svc+"/"+m.Name]; !ok {
					t.Errorf("%s: the table does not name /%s/%s", s.name, svc, m.Name)
				}
			}
		}
	}
	for method, callers := range map[string][]string{
		productv1.ProductService_ReserveStock_FullMethodName:                      {config.Order},
		productv1.ProductService_ReleaseStock_FullMethodName:                      {config.Order},
		productv1.ProductService_GetProductsInfo_FullMethodName:                   {config.Order},
		paymentv1.PaymentService_MakePayment_FullMethodName:                       {config.Order},
		paymentv1.PaymentService_RefundPayment_FullMethodName:                     {config.Order},
		paymentv1.PaymentService_GetPayment_FullMethodName:                        {config.Order},
		userv1.UserService_GetUserInfo_FullMethodName:                             {config.Order},
		notificationv1.NotificationService_SendPaymentNotification_FullMethodName: {config.Order},
		orderv1.OrderService_DeliveryStarted_FullMethodName:                       {svcauth.Operator},
		orderv1.OrderService_ListOrdersByStatus_FullMethodName:                    {svcauth.Operator},
	} {
		var a svcauth.Access
		for _, s := range services {
			if got, ok := s.policy[method]; ok {
				a = got
			}
		}
		if a.EndUsers || !slices.Equal(a.Callers, callers) {
			t.Errorf("%s: %+v, want only %v", method, a, callers)
		}
	}
}

// internalMethods are the methods of s a service identity is needed for, sorted.
func internalMethods(s service) []string {
	var out []string
	for m, a := range s.policy {
		if !a.EndUsers {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// notAllowed is a known caller a of the table does not list.
func notAllowed(a svcauth.Access) string {
	for _, n := range svcauth.Names() {
		if !slices.Contains(a.Callers, n) {
			return n
		}
	}
	panic("every caller allowed")
}

// pki is a test CA and the certificate files of each identity.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  ed25519.PrivateKey
	caFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	pub, key, _ := ed25519.GenerateKey(nil)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kitshop test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", der)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// creds returns the mTLS credentials of a certificate with the given CN and
// URI SAN (none when empty), for 127.0.0.1, served and presented.
func (p *pki) creds(t *testing.T, cn, uri string) tlsconfig.Credentials {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if uri != "" {
		u, _ := url.Parse(uri)
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, pub, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	name := filepath.Join(p.dir, serial.String())
	writePEM(t, name+".crt", "CERTIFICATE", der)
	writePEM(t, name+".key", "PRIVATE KEY", keyDER)
	c, err := tlsconfig.Load(config.TLS{CertFile: name + ".crt", KeyFile: name + ".key", CAFile: p.caFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serve starts s behind its guard on 127.0.0.1:0 and returns its address.
func serve(t *testing.T, s service, key ed25519.PrivateKey, opts ...grpc.ServerOption) string {
	t.Helper()
	guard, err := svcauth.NewGuard(s.name, key.Public().(ed25519.PublicKey), s.policy, svcauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcserver.New(grpcserver.Options{Guard: guard, ServerOptions: opts})
	s.register(srv)
	srv.Ready()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// call invokes method with an empty request and returns the code.
func call(ctx context.Context, conn *grpc.ClientConn, method, tok string) codes.Code {
	if tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, svcauth.MetadataKey, tok)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return status.Code(conn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{}))
}

// passed is the code of a call the guard let through to the unimplemented
// service.
const passed = codes.Unimplemented

// tokenCase is a way of presenting a service token for method, and the code
// it gets.
type tokenCase struct {
	name  string
	token func(method string, a svcauth.Access) string
	want  codes.Code
}

func tokenCases(key ed25519.PrivateKey) []tokenCase {
	now := time.Now()
	other := func() ed25519.PrivateKey { _, k, _ := ed25519.GenerateKey(nil); return k }()
	sign := func(k ed25519.PrivateKey, caller, aud string, at time.Time) string {
		tok, err := svcauth.Sign(k, caller, aud, at, svcauth.TokenLifetime)
		if err != nil {
			panic(err)
		}
		return tok
	}
	aud := svcauth.Audience
	wrongAud := func(m string) string {
		if aud(m) == config.User {
			return config.Product
		}
		return config.User
	}
	return []tokenCase{
		{"no credential", func(string, svcauth.Access) string { return "" }, codes.Unauthenticated},
		{"bad signature", func(m string, a svcauth.Access) string { return sign(other, a.Callers[0], aud(m), now) }, codes.Unauthenticated},
		{"expired", func(m string, a svcauth.Access) string {
			return sign(key, a.Callers[0], aud(m), now.Add(-svcauth.TokenLifetime-svcauth.Leeway-time.Minute))
		}, codes.Unauthenticated},
		{"wrong audience", func(m string, a svcauth.Access) string { return sign(key, a.Callers[0], wrongAud(m), now) }, codes.Unauthenticated},
		{"unknown service", func(m string, _ svcauth.Access) string { return sign(key, "mallory", aud(m), now) }, codes.Unauthenticated},
		{"caller not allowed", func(m string, a svcauth.Access) string { return sign(key, notAllowed(a), aud(m), now) }, codes.PermissionDenied},
		{"allowed caller", func(m string, a svcauth.Access) string { return sign(key, a.Callers[0], aud(m), now) }, passed},
	}
}

// TestServiceTokens runs every internal method of every service against
// each token case, on plaintext, and again over mutual TLS with a
// certificate that names no service (so the token decides).
func TestServiceTokens(t *testing.T) {
	t.Parallel()
	_, key, _ := ed25519.GenerateKey(nil)
	p := newPKI(t)
	anonymous := p.creds(t, "kitshop", "")
	for _, mode := range []struct {
		name   string
		server []grpc.ServerOption
		client []grpc.DialOption
	}{
		{"plaintext", nil, nil},
		{"mtls without identity", anonymous.ServerOptions(), anonymous.DialOptions()},
	} {
		for _, s := range services {
			conn := dial(t, serve(t, s, key, mode.server...), mode.client...)
			for _, m := range internalMethods(s) {
				for _, c := range tokenCases(key) {
					if got := call(t.Context(), conn, m, c.token(m, s.policy[m])); got != c.want {
						t.Errorf("%s %s %s: %v, want %v", mode.name, m, c.name, got, c.want)
					}
				}
			}
		}
	}
}

// TestCertificateIdentities runs every internal method of every service
// with certificates naming callers.
func TestCertificateIdentities(t *testing.T) {
	t.Parallel()
	_, key, _ := ed25519.GenerateKey(nil)
	p := newPKI(t)
	server := p.creds(t, "kitshop", "")
	certConn := func(addr, cn, uri string) *grpc.ClientConn {
		return dial(t, addr, p.creds(t, cn, uri).DialOptions()...)
	}
	for _, s := range services {
		addr := serve(t, s, key, server.ServerOptions()...)
		conns := map[string]*grpc.ClientConn{"": certConn(addr, "kitshop", ""), "mallory": certConn(addr, "order", "spiffe://kitshop/mallory")}
		byURI, byCN := map[string]*grpc.ClientConn{}, map[string]*grpc.ClientConn{}
		for _, n := range svcauth.Names() {
			byURI[n] = certConn(addr, "", "spiffe://kitshop/"+n)
			byCN[n] = certConn(addr, n, "")
		}
		for _, m := range internalMethods(s) {
			a := s.policy[m]
			for _, c := range []struct {
				name string
				conn *grpc.ClientConn
				want codes.Code
			}{
				{"certificate without identity", conns[""], codes.Unauthenticated},
				{"URI SAN of an unknown service", conns["mallory"], codes.Unauthenticated},
				{"URI SAN not allowed", byURI[notAllowed(a)], codes.PermissionDenied},
				{"CN not allowed", byCN[notAllowed(a)], codes.PermissionDenied},
				{"URI SAN allowed", byURI[a.Callers[0]], passed},
				{"CN allowed", byCN[a.Callers[0]], passed},
			} {
				if got := call(t.Context(), c.conn, m, ""); got != c.want {
					t.Errorf("%s %s: %v, want %v", m, c.name, got, c.want)
				}
			}
			// The certificate's identity wins over a token's.
			tok, _ := svcauth.Sign(key, a.Callers[0], svcauth.Audience(m), time.Now(), time.Minute)
			if got := call(t.Context(), byURI[notAllowed(a)], m, tok); got != codes.PermissionDenied {
				t.Errorf("%s: a not allowed certificate with an allowed token: %v", m, got)
			}
		}
	}
	// A certificate of another CA does not get a connection at all.
	stranger := newPKI(t).creds(t, "order", "spiffe://kitshop/order")
	addr := serve(t, services[1], key, server.ServerOptions()...)
	if got := call(t.Context(), dial(t, addr, stranger.DialOptions()...), productv1.ProductService_ReserveStock_FullMethodName, ""); got != codes.Unavailable {
		t.Errorf("certificate of another CA: %v, want Unavailable", got)
	}
}

// TestOpenMethods: end users' methods and health need no service identity;
// a method missing from the table is refused to everyone; Credentials carry
// a token the callee accepts.
func TestOpenMethods(t *testing.T) {
	t.Parallel()
	_, key, _ := ed25519.GenerateKey(nil)
	for _, s := range services {
		conn := dial(t, serve(t, s, key))
		for m, a := range s.policy {
			if a.EndUsers {
				if got := call(t.Context(), conn, m, ""); got != passed {
					t.Errorf("%s without credential: %v, want %v", m, got, passed)
				}
			}
		}
		if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Errorf("%s health: %v", s.name, err)
		}
	}

	policy := svcauth.Policy{} // ProductService, with no method named
	s := service{config.Product, policy, services[1].register}
	creds, err := svcauth.NewCredentials(key, config.Order, svcauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t, serve(t, s, key), creds.DialOption())
	if got := call(t.Context(), conn, productv1.ProductService_ReserveStock_FullMethodName, ""); got != codes.PermissionDenied {
		t.Errorf("method missing from the table: %v, want PermissionDenied", got)
	}
	if got := call(t.Context(), dial(t, serve(t, services[1], key), creds.DialOption()), productv1.ProductService_ReserveStock_FullMethodName, ""); got != passed {
		t.Errorf("order's Credentials: %v, want %v", got, passed)
	}
}

var _ credentials.PerRPCCredentials = (*svcauth.Credentials)(nil)
