// Command shop runs the whole of kitshop in one process: the five services on
// their usual gRPC and HTTP ports, talking real gRPC to each other over
// loopback, one document store (embedded FerretDB unless -mongo-uri is set),
// the sample products created on first start, and an edge on 127.0.0.1:8080 that
// serves every public HTTP route, /healthz, /readyz and /metrics.
//
// Run it with -h for every flag and its KITSHOP_* environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/grpcclient"
	"github.com/kitshop/kitshop/internal/httpserver"
	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/payment"
	"github.com/kitshop/kitshop/product"
	"github.com/kitshop/kitshop/user"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "shop:", err)
		os.Exit(1)
	}
}

// settings are everything cmd/shop can be told.
type settings struct {
	edgeAddr        string
	addrs           map[string]*serviceAddrs
	mongoURI        string
	storeAddr       string
	debugAddr       string
	dataDir         string
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	maxBodyBytes    int64

	adminEmails      string
	loginPerEmail    int
	loginPerIP       int
	sampleStock      int64
	processorLatency time.Duration
	sendLatency      time.Duration
	orderOpts        order.Options // the recovery bound's parts, admission, -notify-within
	paymentRecovery  payment.Recovery
	client           grpcclient.Config
	cache            order.CacheOptions
	// tls is mutual TLS on every service's gRPC and every client of it.
	tls config.TLS
	// auth is the service key (default: in -data-dir) and reflection.
	auth config.ServiceAuth
}

// serviceAddrs are the listen addresses of one service.
type serviceAddrs struct{ grpc, http string }

func (s *settings) register(fs *flag.FlagSet) {
	fs.StringVar(&s.edgeAddr, "edge-addr", config.LoopbackAddr(8080), "listen address of the edge serving every public HTTP route; 0.0.0.0:8080 exposes it to the network")
	s.addrs = make(map[string]*serviceAddrs)
	for _, name := range config.ServiceNames() {
		p, _ := config.DefaultPorts(name)
		a := &serviceAddrs{}
		s.addrs[name] = a
		fs.StringVar(&a.grpc, name+"-grpc-addr", config.LoopbackAddr(p.GRPC), "gRPC listen address of the "+name+" service")
		fs.StringVar(&a.http, name+"-http-addr", config.LoopbackAddr(p.HTTP), "HTTP listen address of the "+name+" service")
	}
	fs.StringVar(&s.mongoURI, "mongo-uri", "", "MongoDB URI shared by the services (each keeps its own database); empty: an embedded store in -data-dir")
	fs.StringVar(&s.storeAddr, "store-addr", "", "loopback TCP address (e.g. 127.0.0.1:27017) where the embedded store also listens, unauthenticated: any local user can connect; empty: only its Unix socket in -data-dir (owner only), whose URI is printed; unused with -mongo-uri")
	fs.StringVar(&s.debugAddr, "debug-addr", "", "listen address of net/http/pprof (e.g. 127.0.0.1:6060); empty: off")
	fs.StringVar(&s.dataDir, "data-dir", config.DefaultDataDir, "directory of the embedded store and the generated keys")
	fs.StringVar(&s.logLevel, "log-level", config.DefaultLogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&s.logFormat, "log-format", config.DefaultLogFormat, "log format: text or json")
	fs.DurationVar(&s.shutdownTimeout, "shutdown-timeout", config.DefaultShutdownTimeout, "longest graceful stop")
	fs.Int64Var(&s.maxBodyBytes, "max-body-bytes", httpserver.DefaultMaxBodyBytes, "largest HTTP request body (413 past it)")
	fs.StringVar(&s.adminEmails, "admin-emails", "", "comma-separated e-mail addresses whose users get the admin role")
	fs.IntVar(&s.loginPerEmail, "login-rate-per-email", user.DefaultLoginRatePerEmail, "failed logins allowed per minute for one e-mail address from one client address; other addresses are not slowed (negative: no limit)")
	fs.IntVar(&s.loginPerIP, "login-rate-per-ip", user.DefaultLoginRatePerIP, "logins allowed per minute from one client address (negative: no limit; raise it for load tests with many users)")
	fs.Int64Var(&s.sampleStock, "sample-stock", product.DefaultSampleStock, "stock of each sample product created on first start")
	fs.DurationVar(&s.processorLatency, "processor-latency", 0, "simulated card network latency (1s reproduces the original)")
	fs.DurationVar(&s.sendLatency, "send-latency", 0, "simulated e-mail latency (1s reproduces the original)")
	s.orderOpts.RegisterFlags(fs)
	s.paymentRecovery.RegisterFlags(fs)
	s.client.RegisterFlags(fs)
	s.cache.RegisterFlags(fs)
	s.tls.RegisterFlags(fs)
	s.auth.RegisterFlags(fs, "-data-dir")
}

func (s *settings) validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("invalid -%s (%s): %s", name, config.EnvVar(name), fmt.Sprintf(format, args...)))
	}
	if s.dataDir == "" && s.mongoURI == "" {
		bad("data-dir", "must not be empty without -mongo-uri")
	}
	if s.dataDir == "" {
		bad("data-dir", "must not be empty: the signing and card keys live there")
	}
	if s.shutdownTimeout <= 0 {
		bad("shutdown-timeout", "must be positive")
	}
	if s.maxBodyBytes <= 0 {
		bad("max-body-bytes", "must be positive")
	}
	if s.sampleStock < 0 {
		bad("sample-stock", "must not be negative")
	}
	if s.processorLatency < 0 || s.sendLatency < 0 {
		bad("processor-latency", "latencies must not be negative")
	}
	s.orderOpts.CheckFlags(bad)
	s.paymentRecovery.CheckFlags(bad)
	if _, err := logging.ParseLevel(s.logLevel); err != nil {
		bad("log-level", "%v", err)
	}
	if _, err := logging.ParseFormat(s.logFormat); err != nil {
		bad("log-format", "%v", err)
	}
	errs = append(errs, s.client.Validate(), s.tls.Validate())
	return errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s settings
	s.register(fs)
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := s.validate(); err != nil {
		return err
	}
	logger, err := logging.New(stderr, s.logLevel, s.logFormat)
	if err != nil {
		return err
	}
	sh, err := start(ctx, s, logger)
	if err != nil {
		return err
	}
	sh.printAddrs(stdout)
	return sh.group.Run(ctx)
}
