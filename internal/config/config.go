// Package config reads the settings of a kitshop process from command-line
// flags with an environment fallback, and validates them at start-up.
//
// Every flag has an environment variable: the flag name upper-cased, '-' and
// '.' replaced by '_', prefixed with KITSHOP_ (flag -grpc-addr is
// KITSHOP_GRPC_ADDR). The command line wins over the environment, and the
// environment over the flag's default. Parsing is done by
// github.com/peterbourgon/ff/v3, the flag+env parser written by go-kit's author.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3"
)

// EnvPrefix prefixes the environment variable of every flag.
const EnvPrefix = "KITSHOP"

// Names of the kitshop services, as used for flags, logs and the Ports lookup.
const (
	User         = "user"
	Product      = "product"
	Order        = "order"
	Payment      = "payment"
	Notification = "notification"
)

// Default listen ports of every service.
const (
	UserGRPCPort         = 50051
	UserHTTPPort         = 8081
	ProductGRPCPort      = 50052
	ProductHTTPPort      = 8082
	OrderGRPCPort        = 50053
	OrderHTTPPort        = 8083
	PaymentGRPCPort      = 50054
	PaymentHTTPPort      = 8084
	NotificationGRPCPort = 50055
	NotificationHTTPPort = 8085
)

// Ports is the pair of default listen ports of one service.
type Ports struct {
	GRPC int
	HTTP int
}

// ServiceNames returns the names of the five kitshop services, in the order
// their ports are numbered.
func ServiceNames() []string {
	return []string{User, Product, Order, Payment, Notification}
}

// DefaultPorts returns the default ports of the named service, and false for
// an unknown name.
func DefaultPorts(service string) (Ports, bool) {
	switch service {
	case User:
		return Ports{GRPC: UserGRPCPort, HTTP: UserHTTPPort}, true
	case Product:
		return Ports{GRPC: ProductGRPCPort, HTTP: ProductHTTPPort}, true
	case Order:
		return Ports{GRPC: OrderGRPCPort, HTTP: OrderHTTPPort}, true
	case Payment:
		return Ports{GRPC: PaymentGRPCPort, HTTP: PaymentHTTPPort}, true
	case Notification:
		return Ports{GRPC: NotificationGRPCPort, HTTP: NotificationHTTPPort}, true
	default:
		return Ports{}, false
	}
}

// Defaults of the shared service settings.
const (
	DefaultDataDir         = "./data"
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
	DefaultShutdownTimeout = 10 * time.Second
	DefaultMaxBodyBytes    = 1 << 20
)

// Service holds the settings every kitshop service shares.
type Service struct {
	// Name is the service name given to Register; it is not a flag.
	Name string
	// GRPCAddr is the gRPC listen address (-grpc-addr).
	GRPCAddr string
	// HTTPAddr is the HTTP listen address (-http-addr).
	HTTPAddr string
	// MongoURI is the MongoDB connection string (-mongo-uri); empty means the
	// embedded document store under DataDir.
	MongoURI string
	// DataDir is where the embedded store keeps its files (-data-dir).
	DataDir string
	// Process is the logs, the graceful stop and the body limit.
	Process
	// TLS is mutual TLS on internal gRPC (-tls-cert, -tls-key, -tls-ca);
	// none set: plaintext.
	TLS TLS
	// Auth is the service key and reflection (-service-key-file,
	// -grpc-reflection).
	Auth ServiceAuth
}

// DefaultHost is the host of every default listen address: loopback, so that
// a process started without settings is reachable from this machine only. A
// service is exposed by giving its address, e.g. -grpc-addr 0.0.0.0:50053
// (see SECURITY.md for what then protects it).
const DefaultHost = "127.0.0.1"

// LoopbackAddr returns the default listen address of port, on DefaultHost.
func LoopbackAddr(port int) string {
	return net.JoinHostPort(DefaultHost, strconv.Itoa(port))
}

// Register defines the shared service flags on fs, with listen addresses
// defaulting to LoopbackAddr(grpcPort) and LoopbackAddr(httpPort), and
// records name in c.Name.
func (c *Service) Register(fs *flag.FlagSet, name string, grpcPort, httpPort int) {
	c.Name = name
	fs.StringVar(&c.GRPCAddr, "grpc-addr", LoopbackAddr(grpcPort), "gRPC listen address (host:port) of the "+name+" service; 0.0.0.0:port exposes it to the network")
	fs.StringVar(&c.HTTPAddr, "http-addr", LoopbackAddr(httpPort), "HTTP listen address (host:port) of the "+name+" service; 0.0.0.0:port exposes it to the network")
	fs.StringVar(&c.MongoURI, "mongo-uri", "", "MongoDB connection string (mongodb:// or mongodb+srv://); empty runs the embedded store in -data-dir")
	fs.StringVar(&c.DataDir, "data-dir", DefaultDataDir, "directory of the embedded store, used when -mongo-uri is empty")
	c.Process.Register(fs, true)
	c.TLS.RegisterFlags(fs)
	c.Auth.RegisterFlags(fs, "the parent directory of -data-dir")
}

// Validate checks the settings and reports every problem found, each naming
// its flag and environment variable.
func (c *Service) Validate() error {
	var errs []error
	bad := FlagErrors(&errs)
	if err := checkListenAddr(c.GRPCAddr); err != nil {
		bad("grpc-addr", "%q: %v", c.GRPCAddr, err)
	}
	if err := checkListenAddr(c.HTTPAddr); err != nil {
		bad("http-addr", "%q: %v", c.HTTPAddr, err)
	}
	if sameFixedAddr(c.GRPCAddr, c.HTTPAddr) {
		bad("http-addr", "%q is also the gRPC address (-grpc-addr, %s)", c.HTTPAddr, EnvVar("grpc-addr"))
	}
	if c.MongoURI != "" {
		if err := checkMongoURI(c.MongoURI); err != nil {
			// The URI may carry a password: never echo it.
			bad("mongo-uri", "%v", err)
		}
	} else if strings.TrimSpace(c.DataDir) == "" {
		bad("data-dir", "must not be empty when -mongo-uri (%s) is empty", EnvVar("mongo-uri"))
	}
	c.Process.Check(bad)
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkListenAddr accepts "host:port" and ":port" with a numeric port in
// 0..65535 (0 picks a free port).
func checkListenAddr(addr string) error {
	if addr == "" {
		return errors.New("must not be empty")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port or :port")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	return nil
}

// sameFixedAddr reports whether a and b are the same valid address with a
// non-zero port, which two listeners cannot share.
func sameFixedAddr(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa == "0" {
		return false
	}
	return ha == hb && pa == pb
}

// checkMongoURI accepts a mongodb:// or mongodb+srv:// URI with a host,
// including the embedded store's Unix socket URI, whose host is an escaped
// path ("mongodb://%2Fdata%2Fdocstore.sock/?..."), which net/url refuses.
func checkMongoURI(uri string) error {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || (scheme != "mongodb" && scheme != "mongodb+srv") {
		return errors.New("scheme must be mongodb:// or mongodb+srv://")
	}
	hosts, _, _ := strings.Cut(rest, "/")
	hosts, _, _ = strings.Cut(hosts, "?")
	if i := strings.LastIndex(hosts, "@"); i >= 0 {
		hosts = hosts[i+1:]
	}
	if hosts == "" {
		return errors.New("missing host")
	}
	if strings.HasPrefix(hosts, "%2F") || strings.HasPrefix(hosts, "%2f") {
		return nil // a Unix socket path
	}
	if _, err := url.Parse(scheme + "://" + hosts + "/"); err != nil {
		return errors.New("not a valid URI")
	}
	return nil
}

// EnvVar returns the environment variable read for the named flag, e.g.
// "grpc-addr" → "KITSHOP_GRPC_ADDR" (the mapping ff.WithEnvVarPrefix uses).
func EnvVar(flagName string) string {
	return EnvPrefix + "_" + strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || r == '/' {
			return '_'
		}
		return r
	}, strings.ToUpper(flagName))
}

// Parse sets the flags of fs from args, then from KITSHOP_* environment
// variables for flags not given on the command line. An environment variable
// set to the empty string counts as unset. Positional arguments are refused.
//
// fs should use flag.ContinueOnError. Parse replaces fs.Usage so that -h
// prints every flag with its environment variable and default; Parse then
// returns flag.ErrHelp, on which main should exit 0.
func Parse(fs *flag.FlagSet, args []string) error {
	fs.Usage = func() { printUsage(fs) }
	err := ff.Parse(fs, args, ff.WithEnvVarPrefix(EnvPrefix))
	if errors.Is(err, flag.ErrHelp) {
		return flag.ErrHelp
	}
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: settings are flags (see -h)", fs.Args())
	}
	return nil
}

// printUsage writes the usage of fs, listing each flag with its environment
// variable and default.
func printUsage(fs *flag.FlagSet) {
	w := fs.Output()
	name := fs.Name()
	if name == "" {
		name = "command"
	}
	fmt.Fprintf(w, "Usage: %s [flags]\n\n", name)
	fmt.Fprintf(w, "Every flag can also be set by its environment variable; the command line wins.\n\n")
	fs.VisitAll(func(f *flag.Flag) { writeFlag(w, f) })
}

func writeFlag(w io.Writer, f *flag.Flag) {
	typ, usage := flag.UnquoteUsage(f)
	line := "  -" + f.Name
	if typ != "" {
		line += " " + typ
	}
	def := f.DefValue
	if typ == "string" {
		def = strconv.Quote(def)
	}
	fmt.Fprintf(w, "%s\n    \t%s\n    \t(env %s, default %s)\n", line, usage, EnvVar(f.Name), def)
}
