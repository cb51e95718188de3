package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/audit"
	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/docstore"
	notificationv1 "github.com/kitshop/kitshop/pb/kitshop/notification/v1"
	orderv1 "github.com/kitshop/kitshop/pb/kitshop/order/v1"
	paymentv1 "github.com/kitshop/kitshop/pb/kitshop/payment/v1"
	productv1 "github.com/kitshop/kitshop/pb/kitshop/product/v1"
	userv1 "github.com/kitshop/kitshop/pb/kitshop/user/v1"
)

// TestDefaultAddressesAreLoopback checks the defaults of every listen
// address flag: loopback, and no TCP port for the store nor pprof.
func TestDefaultAddressesAreLoopback(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	var s settings
	if err := s.register(fs); err != nil {
		t.Fatal(err)
	}
	if err := config.Parse(fs, nil); err != nil {
		t.Fatal(err)
	}
	addrs := map[string]string{"edge-addr": s.edgeAddr}
	for name, a := range s.addrs {
		addrs[name+"-grpc-addr"], addrs[name+"-http-addr"] = a.grpc, a.http
	}
	if len(addrs) != 1+2*len(config.ServiceNames()) {
		t.Fatalf("addresses %v, want the edge's and two per service", addrs)
	}
	for name, addr := range addrs {
		if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
			t.Errorf("-%s defaults to %q, want 127.0.0.1:port", name, addr)
		}
	}
	if s.storeAddr != "" || s.debugAddr != "" {
		t.Errorf("-store-addr %q, -debug-addr %q: want both empty (off) by default", s.storeAddr, s.debugAddr)
	}
}

// TestListensOnLoopbackOnly starts cmd/shop as its tests do and checks every
// address it reports is loopback, that the store is reached through its Unix
// socket with no TCP port, and, on Linux, that the process's listening TCP
// sockets (/proc/net/tcp, tcp6) are exactly the reported ones. It is not
// parallel, so that no other test's listeners are open meanwhile.
func TestListensOnLoopbackOnly(t *testing.T) {
	sys := startSystem(t)
	sh := sys.shop
	reported := map[string]bool{sh.edgeAddr: true}
	for _, name := range config.ServiceNames() {
		reported[sh.grpcAddrs[name]], reported[sh.httpAddrs[name]] = true, true
	}
	for addr := range reported {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !ap.Addr().IsLoopback() {
			t.Errorf("listens on %q (%v), want a loopback address", addr, err)
		}
	}
	if sh.storeTCPURI != "" {
		t.Errorf("the store has a TCP URI %s without -store-addr", sh.storeTCPURI)
	}
	if want, err := docstore.SocketURI(sys.dataDir); err != nil || sh.storeURI != want {
		t.Errorf("store URI %s, want the socket's %s (%v)", sh.storeURI, want, err)
	}
	var out strings.Builder
	sh.printAddrs(&out)
	if !strings.Contains(out.String(), sh.storeURI) || !strings.Contains(out.String(), "-audit-data-dir "+sys.dataDir) {
		t.Errorf("printed addresses lack the store's URI or the audit's flag:\n%s", out.String())
	}
	fi, err := os.Lstat(filepath.Join(sys.dataDir, docstore.SocketName))
	if err != nil {
		t.Fatalf("no store socket: %v", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("store socket mode %v, want 0600", fi.Mode().Perm())
	}

	if runtime.GOOS != "linux" {
		return
	}
	listening := listeningTCP(t)
	for _, addr := range listening {
		if !reported[addr.String()] {
			t.Errorf("the process listens on %s, which cmd/shop does not report", addr)
		}
		if !addr.Addr().IsLoopback() {
			t.Errorf("the process listens on %s, not a loopback address", addr)
		}
	}
	if len(listening) != len(reported) {
		t.Errorf("the process listens on %v, want the %d reported addresses", listening, len(reported))
	}
}

// listeningTCP returns the local addresses of this process's listening TCP
// sockets: the sockets among its file descriptors, found in /proc/net/tcp
// and /proc/net/tcp6 in state LISTEN.
func listeningTCP(t *testing.T) []netip.AddrPort {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	inodes := make(map[string]bool)
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	var out []netip.AddrPort
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			f := strings.Fields(sc.Text())
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			out = append(out, procNetAddr(t, f[1]))
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return out
}

// procNetAddr decodes an address of /proc/net/tcp{,6}: the IP as 32-bit words
// in host byte order (little-endian here), in hex, a colon, the port in hex.
func procNetAddr(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ipHex, portHex, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(ipHex)
	port, perr := strconv.ParseUint(portHex, 16, 16)
	if err != nil || perr != nil || (len(raw) != 4 && len(raw) != 16) {
		t.Fatalf("cannot read the address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	ip, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port))
}

// TestInternalRPCsRefuseCallersWithoutCredentials replays, over real gRPC
// and with no credential at all, what anyone who can reach the services'
// gRPC ports could try: refund a victim's order, reserve a million units,
// release a victim's stock, test a card on a made-up order, send mail to any
// address, read another user's details and a victim's payment, and mark a
// victim's order delivered. Each must be refused as Unauthenticated, the
// audit of the store must stay clean, and a normal purchase must still work.
func TestInternalRPCsRefuseCallersWithoutCredentials(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	ctx := t.Context()
	dbs := storeDatabases(t, sys.shop.storeURI)
	initial, err := audit.Baseline(ctx, dbs)
	if err != nil {
		t.Fatal(err)
	}

	victim := sys.signUp(t, "victim@example.com")
	var o orderJSON
	if code, raw := sys.call(t, "POST", "/order", bearer(victim), orderBody([]string{"sample-1"}, approvedCard, 1000), &o); code != http.StatusCreated {
		t.Fatalf("the victim's order: %d %s", code, raw)
	}
	sys.waitStatus(t, victim, o.ID, "DeliveryStarted")

	conn := func(service string) *grpc.ClientConn {
		c, err := grpc.NewClient(sys.shop.grpcAddrs[service], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	payments := paymentv1.NewPaymentServiceClient(conn(config.Payment))
	products := productv1.NewProductServiceClient(conn(config.Product))
	notifications := notificationv1.NewNotificationServiceClient(conn(config.Notification))
	users := userv1.NewUserServiceClient(conn(config.User))
	orders := orderv1.NewOrderServiceClient(conn(config.Order))

	attacks := []struct {
		name string
		call func(context.Context) error
	}{
		{"RefundPayment of the victim's order", func(ctx context.Context) error {
			_, err := payments.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{OrderId: o.ID})
			return err
		}},
		{"ReserveStock of 1,000,000 units", func(ctx context.Context) error {
			_, err := products.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "attack-reserve",
				Items: []*productv1.StockItem{{ProductId: "sample-2", Quantity: 1_000_000}}})
			return err
		}},
		{"ReleaseStock of the victim's order", func(ctx context.Context) error {
			_, err := products.ReleaseStock(ctx, &productv1.ReleaseStockRequest{OrderId: o.ID})
			return err
		}},
		{"MakePayment on a made-up order (card testing)", func(ctx context.Context) error {
			_, err := payments.MakePayment(ctx, &paymentv1.MakePaymentRequest{OrderId: "attack-made-up-order",
				PaymentMethod: paymentv1.PaymentMethod_PAYMENT_METHOD_CREDIT_CARD, PaymentName: "Mallory",
				CardNumber: approvedCard, ExpiryYear: fmt.Sprint(time.Now().Year() + 2), ExpiryMonth: "12",
				BirthOrRegistration: birthOrRegistration, PasswordTwoDigits: "12", Amount: 100, UserEmail: "mallory@example.net"})
			return err
		}},
		{"SendPaymentNotification to any address", func(ctx context.Context) error {
			_, err := notifications.SendPaymentNotification(ctx, &notificationv1.SendPaymentNotificationRequest{
				To: "anyone@example.net", OrderId: "attack-notification", UserId: o.Customer.UserID})
			return err
		}},
		{"GetUserInfo of another user", func(ctx context.Context) error {
			_, err := users.GetUserInfo(ctx, &userv1.GetUserInfoRequest{UserId: o.Customer.UserID})
			return err
		}},
		{"GetPayment of the victim's order", func(ctx context.Context) error {
			_, err := payments.GetPayment(ctx, &paymentv1.GetPaymentRequest{OrderId: o.ID})
			return err
		}},
		{"DeliveryStarted of the victim's order", func(ctx context.Context) error {
			_, err := orders.DeliveryStarted(ctx, &orderv1.DeliveryStartedRequest{Id: o.ID})
			return err
		}},
	}
	for _, a := range attacks {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := a.call(cctx)
		cancel()
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s without credentials: %v, want Unauthenticated", a.name, err)
		}
	}

	// A normal purchase still works, and the store holds nothing the attacks did.
	var again orderJSON
	if code, raw := sys.call(t, "POST", "/order", bearer(victim), orderBody([]string{"sample-3"}, approvedCard, 3000), &again); code != http.StatusCreated {
		t.Fatalf("a purchase after the attacks: %d %s", code, raw)
	}
	sys.waitStatus(t, victim, again.ID, "DeliveryStarted")
	report, err := audit.Check(ctx, dbs, audit.Options{InitialStock: initial, Delivered: []string{o.ID, again.ID}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range report.Violations {
		t.Errorf("audit after the attacks: %s", v)
	}
}

// storeDatabases connects to the store at uri for the audit, until the test ends.
func storeDatabases(t *testing.T, uri string) audit.Databases {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return audit.FromClient(c)
}
